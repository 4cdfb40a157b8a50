import type { Outcome, TaskListItem } from '@kiln/sdk';
import { filesFromPaths } from '@kiln/sdk/node';
import { int, parse, str, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { describeCall, follow } from './live.js';
import { oneLine } from './output.js';
import { help } from './run.js';

const STATUSES = ['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'];

export const TASKS_HELP = `Usage: kiln tasks [--status STATUS] [--limit N] [--json]

Lists your tasks, newest activity first (20 unless --limit; --status: ${STATUSES.join(', ')}).
`;
export const SHOW_HELP = `Usage: kiln show ID [--json]

Prints a task: its status, answer, waiting tool calls and conversation.
`;
export const SEND_HELP = `Usage: kiln send ID "MESSAGE" [--file PATH...] [--detach] [--json]

Sends a follow-up message (the task's turn must have ended), then follows the new turn as
\`kiln watch\` does, unless --detach.
`;
export const APPROVE_HELP = `Usage: kiln approve ID CALL once|always|cancel [--json]

Decides a tool call that waits for approval (\`kiln show ID\` lists them).
`;
export const CANCEL_HELP = `Usage: kiln cancel ID [--json]

Cancels the task's current turn (the task is kept, with status cancelled).
`;

export async function tasks(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('tasks', args, { status: { type: 'string' }, limit: { type: 'string' } });
  if (values.help) return help(ctx, TASKS_HELP);
  const status = str(values.status);
  if (status && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}.`);
  const limit = int('limit', values.limit, 1, 10_000) ?? 20;
  const out = ctx.output(Boolean(values.json));
  const found: TaskListItem[] = [];
  for await (const task of ctx.client().tasks.iterate({ pageSize: status ? 100 : Math.min(limit, 100) })) {
    if (status && task.status !== status) continue;
    found.push(task);
    if (found.length >= limit) break;
  }
  if (out.json) {
    out.data(found);
    return 0;
  }
  if (found.length === 0) {
    out.note(status ? `No ${status} tasks.` : 'No tasks yet: start one with `kiln run "..."`.');
    return 0;
  }
  out.table(
    ['ID', 'STATUS', 'LAST ACTIVITY', 'MESSAGE'],
    found.map((t) => [t.id, statusText(out, t.status), t.lastActivityAt.replace('T', ' ').slice(0, 19), oneLine(t.message, 60)]),
  );
  return 0;
}

function statusText(out: ReturnType<CliContext['output']>, status: string): string {
  const padded = status.padEnd(17);
  if (status === 'completed') return out.green(padded);
  if (status === 'failed') return out.red(padded);
  if (status === 'awaiting_approval' || status === 'cancelled') return out.yellow(padded);
  return padded;
}

export async function show(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('show', args, {}, true);
  if (values.help) return help(ctx, SHOW_HELP);
  const id = single(positionals, 'kiln show ID');
  const out = ctx.output(Boolean(values.json));
  const kiln = ctx.client();
  const task = await kiln.tasks.get(id);
  if (out.json) {
    out.data(task);
    return 0;
  }
  const history = await kiln.tasks.history(id);
  out.line(`${out.bold('Task')}     ${task.id}`);
  out.line(`${out.bold('Status')}   ${statusText(out, task.status).trim()}${task.error ? `: ${task.error}` : ''}`);
  out.line(`${out.bold('Created')}  ${task.createdAt}`);
  if (task.agentId) out.line(`${out.bold('Agent')}    ${task.agentId}`);
  out.line('');
  for (const message of history.messages) {
    out.line(out.bold(message.role === 'user' ? '> you' : '< agent'));
    for (const call of message.toolCalls ?? []) out.line(out.dim(`  ${call.toolName} ${describeCall(call.toolName, call.args ?? {})}: ${call.status}`));
    for (const file of message.attachedFiles ?? []) out.line(out.dim(`  attached ${file.path}`));
    out.line(message.content);
    out.line('');
  }
  for (const call of task.pendingApprovals ?? []) {
    out.line(out.yellow(`Waiting: ${call.toolName} ${describeCall(call.toolName, call.args)}`));
    out.line(`  kiln approve ${task.id} ${call.callId} once|always|cancel`);
  }
  return 0;
}

export async function send(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('send', args, { file: { type: 'string', multiple: true }, detach: { type: 'boolean' } }, true);
  if (values.help) return help(ctx, SEND_HELP);
  const [id, ...words] = positionals;
  const message = words.join(' ');
  if (!id || !message.trim()) throw new UsageError('usage: kiln send ID "MESSAGE"');
  const out = ctx.output(Boolean(values.json));
  const kiln = ctx.client();
  const files = await filesFromPaths((values.file as string[] | undefined) ?? []);
  const accepted = await kiln.tasks.send(id, { message, files });
  if (values.detach) {
    if (out.json) out.data(accepted);
    else out.note(`Sent; the task is ${accepted.status}. Follow it with \`kiln watch ${id}\`.`);
    return 0;
  }
  return follow(ctx, out, kiln, id);
}

const OUTCOMES: Record<string, Outcome> = { once: 'once', always: 'always', cancel: 'cancel', no: 'cancel' };

export async function approve(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('approve', args, {}, true);
  if (values.help) return help(ctx, APPROVE_HELP);
  const [id, callId, decision] = positionals;
  const outcome = OUTCOMES[decision ?? ''];
  if (!id || !callId || !outcome || positionals.length > 3) throw new UsageError('usage: kiln approve ID CALL once|always|cancel');
  const out = ctx.output(Boolean(values.json));
  const result = await ctx.client().tasks.approve(id, callId, outcome);
  if (out.json) out.data(result);
  else out.note(result.approved ? `Approved (${outcome}).` : 'Rejected: the call does not run.');
  return 0;
}

export async function cancel(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('cancel', args, {}, true);
  if (values.help) return help(ctx, CANCEL_HELP);
  const id = single(positionals, 'kiln cancel ID');
  const out = ctx.output(Boolean(values.json));
  const result = await ctx.client().tasks.cancel(id);
  if (out.json) out.data(result);
  else out.note(`Task ${id} cancelled.`);
  return 0;
}

function single(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: ${usage}`);
  return positionals[0]!;
}
