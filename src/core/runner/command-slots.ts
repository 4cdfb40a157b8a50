import type { CommandRequest, CommandResult, CommandRunner } from '../../ports/command-runner.js';

/**
 * A command runner that runs at most `slots` commands at once, for all turns of this process:
 * turns mostly wait on their model and can be many, while commands use the machine's CPU and
 * memory. A command beyond the limit waits, in the order asked, for one to end; its time limit
 * starts when it starts, and a cancelled turn stops waiting. Long-lived processes (stdio MCP
 * servers) are not counted: a turn holds them while it waits for its own commands.
 */
export function commandSlots(runner: CommandRunner, slots: number): CommandRunner {
  let free = slots;
  const waiting: (() => void)[] = [];

  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };

  /** Resolves true with a slot held, or false when the signal aborted first. */
  const acquire = (signal: AbortSignal): Promise<boolean> => {
    if (signal.aborted) return Promise.resolve(false);
    if (free > 0) {
      free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', abandon);
        resolve(true);
      };
      const abandon = () => {
        waiting.splice(waiting.indexOf(grant), 1);
        resolve(false);
      };
      waiting.push(grant);
      signal.addEventListener('abort', abandon, { once: true });
    });
  };

  return {
    async run(request: CommandRequest): Promise<CommandResult> {
      if (!(await acquire(request.signal))) return { exitCode: null, stopped: { reason: 'cancelled' }, output: '', droppedBytes: 0 };
      try {
        return await runner.run(request);
      } finally {
        release();
      }
    },
    spawn: (request) => runner.spawn(request),
  };
}
