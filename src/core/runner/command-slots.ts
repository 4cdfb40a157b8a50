import type { CommandRequest, CommandResult, CommandRunner } from '../../ports/command-runner.js';

/**
 * At most `slots` commands at once, for all turns of this process: turns mostly wait on their
 * model and can be many, while commands use the machine's CPU and memory. A command beyond the
 * limit waits, in the order asked, for one to end; its time limit starts when it starts, and a
 * cancelled turn stops waiting. Long-lived processes (stdio MCP servers) are not counted: a turn
 * holds them while it waits for its own commands.
 */
export class CommandSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number) {
    this.free = slots;
  }

  /** Commands running and waiting for a slot now. */
  usage(): { running: number; waiting: number } {
    return { running: this.slots - this.free, waiting: this.waiting.length };
  }

  /** `runner`, with its commands run within these slots. */
  limit(runner: CommandRunner): CommandRunner {
    return {
      run: async (request: CommandRequest): Promise<CommandResult> => {
        if (!(await this.acquire(request.signal))) return { exitCode: null, stopped: { reason: 'cancelled' }, output: '', droppedBytes: 0 };
        try {
          return await runner.run(request);
        } finally {
          this.release();
        }
      },
      spawn: (request) => runner.spawn(request),
    };
  }

  /** Resolves true with a slot held, or false when the signal aborted first. */
  private acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', abandon);
        resolve(true);
      };
      const abandon = () => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        resolve(false);
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', abandon, { once: true });
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
