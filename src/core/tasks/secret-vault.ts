import type { TaskStore } from '../../ports/storage.js';
import { InvalidInput } from '../errors.js';
import type { TaskStatus } from './task-types.js';

const ENDED: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

/**
 * Task secrets, held in this process's memory only: never written to the database, the event
 * log or the logs.
 *
 * Secrets belong to the turn they were sent with (the task's first turn, or a follow-up's) and
 * are held while that turn can still run: from the request that brought them until the turn
 * ends completed, failed or cancelled. A turn waiting for approval has not ended: its secrets are
 * kept until the last decision lets it finish, or until it is cancelled. A later turn has only
 * the secrets its own follow-up sends; a restart forgets them all.
 *
 * @example
 * const release = vault.hold(taskId, 1, { TOKEN: 'x' });
 * vault.get(taskId, 1);       // { TOKEN: 'x' }
 * vault.turnEnded(taskId, 1); // gone
 */
export class SecretVault {
  private readonly held = new Map<string, { turn: number; secrets: Record<string, string> }>();

  /** @param maxBytes the largest total size of a request's secrets (names and values, UTF-8). */
  constructor(private readonly maxBytes: number) {}

  /** Refuses secrets over the size limit, before anything of the request is stored. */
  check(secrets: Record<string, string> | null): void {
    let bytes = 0;
    for (const [name, value] of Object.entries(secrets ?? {})) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    if (bytes > this.maxBytes) {
      throw new InvalidInput(`secrets: ${bytes} bytes of names and values; at most ${this.maxBytes} bytes are accepted per request.`, 'secrets');
    }
  }

  /**
   * Holds the secrets of the task's turn `turn`, in place of any held before. Returns a function
   * that lets go of them again (when the request that brought them fails); it does nothing once
   * other secrets took their place.
   */
  hold(taskId: string, turn: number, secrets: Record<string, string>): () => void {
    const entry = { turn, secrets };
    this.held.set(taskId, entry);
    return () => {
      if (this.held.get(taskId) === entry) this.held.delete(taskId);
    };
  }

  /** The secrets held for the task's turn `turn` (any turn when omitted), or undefined. */
  get(taskId: string, turn?: number): Record<string, string> | undefined {
    const entry = this.held.get(taskId);
    return entry && (turn === undefined || entry.turn === turn) ? entry.secrets : undefined;
  }

  /** The task's turn `turn` ended: secrets held for it (or an earlier turn) are dropped. */
  turnEnded(taskId: string, turn: number): void {
    const entry = this.held.get(taskId);
    if (entry && entry.turn <= turn) this.held.delete(taskId);
  }

  /**
   * Drops the secrets of turns that have ended according to the database: for when a process
   * may have missed the signal that said so (a dropped connection to PostgreSQL).
   */
  async dropEnded(tasks: Pick<TaskStore, 'get'>): Promise<void> {
    for (const [taskId, entry] of [...this.held]) {
      const task = await tasks.get(taskId);
      // No task yet: its creation is still under way.
      if (!task) continue;
      if (task.turn > entry.turn || (task.turn === entry.turn && ENDED.includes(task.status))) this.turnEnded(taskId, entry.turn);
    }
  }
}
