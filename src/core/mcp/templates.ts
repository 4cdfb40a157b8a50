import { PLACEHOLDER } from './mcp-servers.js';

/** A `{{mcp.KEY}}` placeholder of a server's settings has no value in the task's env or secrets. */
export class MissingTemplateValue extends Error {
  constructor(
    readonly server: string,
    readonly key: string,
    where: string,
  ) {
    super(`MCP server "${server}" was not connected: {{mcp.${key}}} in its ${where} has no value (set ${key} in the task's env or secrets)`);
  }
}

/**
 * Fills `{{mcp.KEY}}` placeholders from the task's env and secrets (a secret wins over an env
 * entry of the same name). Resolved values live only as long as the connection that uses them.
 *
 * @example
 * const t = new TemplateValues('docs', { TEAM: 'a' }, { TOKEN: 's3cret' });
 * t.fill('Bearer {{mcp.TOKEN}}', 'headers.Authorization'); // { value: 'Bearer s3cret', usedSecret: true }
 */
export class TemplateValues {
  constructor(
    private readonly server: string,
    private readonly env: Record<string, string>,
    private readonly secrets: Record<string, string>,
  ) {}

  fill(template: string, where: string): { value: string; usedSecret: boolean } {
    let usedSecret = false;
    const value = template.replace(PLACEHOLDER, (_whole, key: string) => {
      if (Object.hasOwn(this.secrets, key)) {
        usedSecret = true;
        return this.secrets[key]!;
      }
      if (Object.hasOwn(this.env, key)) return this.env[key]!;
      throw new MissingTemplateValue(this.server, key, where);
    });
    return { value, usedSecret };
  }

  fillMap(map: Record<string, string> | undefined, where: string): Record<string, string> {
    return Object.fromEntries(Object.entries(map ?? {}).map(([name, template]) => [name, this.fill(template, `${where}.${name}`).value]));
  }
}
