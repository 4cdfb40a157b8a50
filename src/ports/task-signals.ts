/**
 * Signals between the parts of Kiln that take requests and the workers that run turns.
 * They carry no data that matters for correctness: the database holds the truth, a signal only
 * says "look now" so that nobody has to poll.
 */
/** How many turns a queued signal announces: one, or an amount the sender does not know. */
export type QueuedAmount = 'one' | 'unknown';

export interface TaskSignals {
  /** Work was queued (one turn unless said otherwise): idle workers should try to claim it. */
  queued(amount?: QueuedAmount): void;
  /**
   * One turn was queued by a write that already told the other processes (the task store's
   * create and follow-up do, where the database carries notifications): wakes this process's
   * workers only.
   */
  queuedHere(): void;
  /** A task's turn was ended from outside its worker (cancelled): the worker stops at once. */
  stop(taskId: string): void;
  /**
   * A task's turn ended (completed, failed or cancelled), wherever that happened: a process that
   * holds the turn's secrets lets go of them. A turn without secrets need not send it.
   */
  turnEnded(taskId: string, turn: number): void;
  onQueued(listener: (amount: QueuedAmount) => void): () => void;
  onStop(listener: (taskId: string) => void): () => void;
  onTurnEnded(listener: (taskId: string, turn: number) => void): () => void;
}
