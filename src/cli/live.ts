import { KilnError, type Kiln, type TaskEvent } from '@kiln/sdk';
import type { CliContext } from './context.js';
import { oneLine, type Output } from './output.js';
import { Prompter } from './terminal.js';

/** Exit codes of commands that follow a task: how its turn ended. */
export const EXIT = { completed: 0, failed: 1, cancelled: 3, detached: 0 } as const;

interface Call {
  toolName: string;
  args: Record<string, unknown>;
}

/** A tool call in a few words: the command, or the path it touches. */
export function describeCall(toolName: string, args: Record<string, unknown>): string {
  if (toolName === 'run_command') return `$ ${oneLine(String(args.command ?? ''), 90)}`;
  if (toolName === 'write_file') return `${String(args.path ?? '')} (${String(args.content ?? '').length} characters)`;
  return String(args.path ?? '.');
}

/**
 * Prints a task's work as it happens until its turn ends: text as it streams, tool calls and
 * results in a line or two, thoughts dimmed. Asks for each approval when a person is at the
 * terminal; Ctrl-C asks whether to cancel the task or detach (a second Ctrl-C detaches).
 * Resolves with the exit code.
 */
export async function follow(ctx: CliContext, out: Output, kiln: Kiln, taskId: string): Promise<number> {
  const prompter = ctx.interactive && !out.json ? new Prompter(ctx.stdin, ctx.stderr) : null;
  const stop = new AbortController();
  let detached = false;
  let atLineStart = true;
  const pending = new Map<string, Call>();
  const history: TaskEvent[] = [];

  const note = (text: string) => {
    if (out.json) return;
    if (!atLineStart) ctx.stdout.write('\n');
    atLineStart = true;
    out.note(text);
  };
  const detach = () => {
    if (detached) return;
    detached = true;
    note(out.dim(`Detached: task ${taskId} keeps running. Re-attach with \`kiln watch ${taskId}\`.`));
    stop.abort();
  };

  let interrupting: Promise<void> | null = null;
  const interrupt = (): Promise<void> => {
    if (!prompter || interrupting) {
      detach();
      return interrupting ?? Promise.resolve();
    }
    interrupting = (async () => {
      note('');
      const answer = await prompter.ask(out.yellow('Cancel the task (c), detach and leave it running (d), or keep watching (Enter)? '));
      if (answer === null || /^\s*d/i.test(answer)) detach();
      else if (/^\s*c/i.test(answer)) {
        note(out.dim('Cancelling...'));
        await kiln.tasks.cancel(taskId).catch((error: unknown) => {
          if (!(error instanceof KilnError && error.code === 'CONFLICT')) throw error;
        });
      }
    })().finally(() => {
      interrupting = null;
    });
    return interrupting;
  };
  const onSigint = () => void interrupt().catch((error: unknown) => note(out.red(String(error))));
  process.on('SIGINT', onSigint);

  const decide = async (callId: string, call: Call) => {
    for (;;) {
      if (detached || !pending.has(callId)) return;
      const answer = await prompter!.ask(
        `${out.yellow('?')} Allow ${out.bold(call.toolName)} ${describeCall(call.toolName, call.args)}? ${out.dim('[o]nce, [a]lways, [n]o')} `,
      );
      if (answer === null) {
        await interrupt();
        continue;
      }
      const outcome = /^\s*o/i.test(answer) ? 'once' : /^\s*a/i.test(answer) ? 'always' : /^\s*n/i.test(answer) ? 'cancel' : null;
      if (!outcome) continue;
      try {
        await kiln.tasks.approve(taskId, callId, outcome);
      } catch (error) {
        // Decided meanwhile (elsewhere, or by an "always" for the same tool): nothing to do.
        if (!(error instanceof KilnError && (error.code === 'CONFLICT' || error.code === 'NOT_FOUND'))) throw error;
      }
      pending.delete(callId);
      return;
    }
  };

  try {
    for await (const event of kiln.tasks.stream(taskId, {
      signal: stop.signal,
      onReconnect: ({ attempt }) => {
        if (attempt === 1) note(out.dim('Connection lost; reconnecting...'));
      },
    })) {
      if (out.json) out.data(event);
      else atLineStart = render(event, out, ctx, atLineStart, note, history);
      if (event.event === 'tool_call' && event.data.status === 'awaiting_approval') {
        pending.set(event.data.callId, { toolName: event.data.toolName, args: event.data.args });
      } else if (event.event === 'tool_approval' || event.event === 'tool_result') {
        pending.delete(event.data.callId);
      } else if (event.event === 'status' && event.data.status === 'awaiting_approval') {
        if (prompter) {
          for (const [callId, call] of [...pending]) await decide(callId, call);
        } else {
          for (const [callId] of pending) note(`Waiting for a decision: kiln approve ${taskId} ${callId} once|always|cancel`);
        }
      } else if (event.event === 'done') return EXIT.completed;
      else if (event.event === 'error') return EXIT.failed;
      else if (event.event === 'cancelled') return EXIT.cancelled;
    }
    return EXIT.failed;
  } catch (error) {
    if (detached) return EXIT.detached;
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Prints one event for a person; returns whether the cursor is at the start of a line. */
function render(event: TaskEvent, out: Output, ctx: CliContext, atLineStart: boolean, note: (text: string) => void, history: TaskEvent[]): boolean {
  switch (event.event) {
    case 'history_message':
      history.push(event);
      return atLineStart;
    case 'history_done': {
      if (event.data.messageCount > 2) note(out.dim(`(${event.data.messageCount} messages so far; \`kiln show\` prints them)`));
      // A turn that ended before the stream opened: its answer is the latest message.
      const last = history.at(-1);
      if (!event.data.isStreaming && last?.event === 'history_message' && last.data.role === 'assistant') {
        ctx.stdout.write(last.data.content);
        return last.data.content.endsWith('\n');
      }
      return true;
    }
    case 'content':
      ctx.stdout.write(event.data.text);
      return event.data.text.endsWith('\n');
    case 'thought':
      note(out.dim(`thinking: ${oneLine([event.data.subject, event.data.description].filter(Boolean).join(': '), 200)}`));
      return true;
    case 'status':
      if (event.data.status === 'retrying') note(out.yellow(`retrying: ${event.data.message ?? ''}`));
      return atLineStart;
    case 'tool_call': {
      const waiting = event.data.status === 'awaiting_approval';
      note(`${out.cyan(waiting ? '?' : '▸')} ${out.bold(event.data.toolName)} ${describeCall(event.data.toolName, event.data.args)}${waiting ? out.yellow(' (waiting for approval)') : ''}`);
      return true;
    }
    case 'tool_approval':
      note(out.dim(`  ${event.data.approved ? `approved (${event.data.outcome === 'proceed_always' ? 'always' : 'once'})` : 'rejected'}`));
      return true;
    case 'tool_result': {
      const lines = event.data.output.split('\n').filter((l) => l.trim());
      const ok = event.data.status === 'success';
      const summary = `${ok ? out.green('✓') : out.red('✗')} ${event.data.toolName}: ${event.data.status}${lines.length > 1 ? ` (${lines.length} lines)` : ''}`;
      note(lines[0] ? `${summary}\n  ${out.dim(oneLine(lines[0], 160))}` : summary);
      return true;
    }
    case 'usage':
      return atLineStart;
    case 'done':
      note(out.green('✓ completed') + out.dim(`  (${event.data.usage.totalTokens} tokens)`));
      return true;
    case 'error':
      note(out.red(`✗ failed: ${event.data.message} (${event.data.code})`));
      return true;
    case 'cancelled':
      note(out.yellow('cancelled'));
      return true;
  }
}
