import { filesFromPaths } from '@kiln/sdk/node';
import { parse, str, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { follow } from './live.js';

export const RUN_HELP = `Usage: kiln run "MESSAGE" [options]

Creates a task and prints the agent's work as it happens: text as it streams, tool calls and
results in a line or two, thoughts dimmed. When a tool call waits for approval it asks: once,
always or no. Ctrl-C asks whether to cancel the task or detach (a second Ctrl-C detaches).
Exit code: 0 completed, 1 failed, 3 cancelled (0 when detached).

Options:
  --file PATH        a file for the task's uploads/ folder (repeatable)
  --agent ID         run as this agent
  --system TEXT      a system prompt for the task
  --model PROVIDER:MODEL
  --no-auto          ask before each tool call
  --json             print the events as JSON lines (approvals are then left to \`kiln approve\`)
`;

export const WATCH_HELP = `Usage: kiln watch ID [--json]

Re-attaches to a task: prints its current turn from its start, then live, until it ends
(asking for approvals as \`kiln run\` does). Exit code as for \`kiln run\`.
`;

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse(
    'run',
    args,
    {
      file: { type: 'string', multiple: true },
      agent: { type: 'string' },
      system: { type: 'string' },
      model: { type: 'string' },
      'no-auto': { type: 'boolean' },
    },
    true,
  );
  if (values.help) return help(ctx, RUN_HELP);
  const message = positionals.join(' ');
  if (!message.trim()) throw new UsageError('a message is required: kiln run "what to do"');
  const out = ctx.output(Boolean(values.json));
  const kiln = ctx.client();
  const files = await filesFromPaths((values.file as string[] | undefined) ?? []).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${error.path ?? 'a --file'}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const agentId = str(values.agent);
  const systemPrompt = str(values.system);
  const model = str(values.model);
  const task = await kiln.tasks.create({
    message,
    files,
    ...(agentId ? { agentId } : {}),
    ...(systemPrompt ? { systemPrompt } : {}),
    ...(model ? { model } : {}),
    ...(values['no-auto'] ? { autoExecute: false } : {}),
  });
  if (out.json) out.data({ event: 'created', data: task });
  else out.note(out.dim(`task ${task.id}`));
  return follow(ctx, out, kiln, task.id);
}

export async function watch(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('watch', args, {}, true);
  if (values.help) return help(ctx, WATCH_HELP);
  const [id] = positionals;
  if (!id || positionals.length > 1) throw new UsageError('usage: kiln watch ID');
  return follow(ctx, ctx.output(Boolean(values.json)), ctx.client(), id);
}

export function help(ctx: CliContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}
