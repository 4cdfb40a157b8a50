import { z } from 'zod';
import { PLACEHOLDER, SERVER_NAME, type McpServerConfig, type McpServers } from '../../core/mcp/mcp-servers.js';

const MAX_SERVERS = 20;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 token characters: what a header name may hold. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const stringList = () => z.array(z.string({ error: 'must be a list of strings' }).max(200), { error: 'must be a list of strings' }).max(500);

const toolFilter = z
  .object({ allow: stringList().optional(), deny: stringList().optional() }, { error: 'must be an object {allow?: [...], deny?: [...]}' })
  .strict();

const common = {
  enabled: z.boolean({ error: 'must be true or false' }).optional(),
  timeout: z.number({ error: 'must be a number of milliseconds' }).int('must be a whole number of milliseconds').min(100, 'must be at least 100 ms').max(3_600_000, 'may be at most 3600000 ms (one hour)').optional(),
  tools: toolFilter.optional(),
};

const stringMap = (key: RegExp, rule: string) =>
  z.record(z.string(), z.string({ error: 'values must be strings' }).max(32 * 1024), { error: 'must be an object of strings' }).superRefine((map, ctx) => {
    for (const name of Object.keys(map)) if (!key.test(name)) ctx.addIssue(`"${name}" is not allowed: keys must be ${rule}`);
  });

const remote = z
  .object({
    type: z.enum(['http', 'sse']),
    url: z.string({ error: 'is required for an http or sse server' }).max(4096).refine(isTemplatedHttpUrl, 'must be an http:// or https:// URL ({{mcp.KEY}} placeholders allowed)'),
    headers: stringMap(HEADER_NAME, 'HTTP header names').optional(),
    ...common,
  })
  .strict();

const stdio = z
  .object({
    type: z.literal('stdio').optional(),
    command: z.string({ error: 'is required for a stdio server (or set type to "http" or "sse" with a url)' }).trim().min(1, 'must not be empty').max(4096),
    args: z.array(z.string({ error: 'must be a list of strings' }).max(32 * 1024), { error: 'must be a list of strings' }).max(200).optional(),
    env: stringMap(ENV_KEY, 'variable names (letters, digits and _, not starting with a digit)').optional(),
    cwd: z.string({ error: 'must be a string' }).max(1024).refine(isInsideWorkspace, 'must be a path relative to the workspace, without ".."').optional(),
    ...common,
  })
  .strict();

/**
 * `mcpServers` of an agent: server name → settings. Validated here once; what is stored is the
 * settings as given (placeholders unresolved), with `type` and `enabled` made explicit.
 */
export const mcpServers = z
  .record(z.string(), z.unknown(), { error: 'must be an object of server name → settings' })
  .transform((servers, ctx): McpServers => {
    const out: McpServers = {};
    const entries = Object.entries(servers);
    if (entries.length > MAX_SERVERS) {
      ctx.addIssue(`mcpServers may name at most ${MAX_SERVERS} servers`);
      return z.NEVER;
    }
    for (const [name, value] of entries) {
      if (!SERVER_NAME.test(name)) {
        ctx.addIssue(
          `mcpServers.${name}: "${name}" is not a valid server name (1-32 letters, digits, _ or -, without "__" and not ending in "_": tools are named <server>__<tool>)`,
        );
        return z.NEVER;
      }
      const parsed = serverSettings(value);
      if ('problem' in parsed) {
        ctx.addIssue(`mcpServers.${[name, ...parsed.path].join('.')}: ${parsed.problem}`);
        return z.NEVER;
      }
      out[name] = parsed;
    }
    return out;
  });

function serverSettings(value: unknown): McpServerConfig | { path: string[]; problem: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { path: [], problem: 'must be an object of settings' };
  const type = (value as { type?: unknown }).type;
  if (type !== undefined && type !== 'http' && type !== 'sse' && type !== 'stdio') return { path: ['type'], problem: 'must be "http" (Streamable HTTP), "sse" or "stdio"' };
  const parsed = type === 'http' || type === 'sse' ? remote.safeParse(value) : stdio.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { path: issue.path.map(String), problem: issue.message };
  }
  return { ...parsed.data, type: parsed.data.type ?? 'stdio', enabled: parsed.data.enabled ?? true } as McpServerConfig;
}

function isTemplatedHttpUrl(value: string): boolean {
  try {
    const url = new URL(value.replace(PLACEHOLDER, 'placeholder'));
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function isInsideWorkspace(value: string): boolean {
  return !value.includes('\0') && !value.startsWith('/') && !value.split(/[\\/]/).includes('..');
}
