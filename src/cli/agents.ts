import { parse } from './args.js';
import type { CliContext } from './context.js';
import { help } from './run.js';

export const AGENTS_HELP = `Usage: kiln agents [--json]

Lists your agents (named defaults for tasks; \`kiln run --agent ID\` runs as one).
`;

export async function agents(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('agents', args, {});
  if (values.help) return help(ctx, AGENTS_HELP);
  const out = ctx.output(Boolean(values.json));
  const list = await ctx.client().agents.list();
  if (out.json) {
    out.data(list);
    return 0;
  }
  out.table(
    ['ID', 'NAME', 'MODEL', 'TOOLS'],
    list.map((a) => [a.id, `${a.name}${a.isDefault ? ' (default)' : ''}`, a.model ?? '(server default)', a.autoExecute ? 'run' : 'ask first']),
  );
  return 0;
}
