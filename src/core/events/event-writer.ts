import type { TaskStore, TurnFence } from '../../ports/storage.js';
import type { EventHub } from './event-hub.js';
import type { TaskEventBody } from './event-types.js';

/**
 * Writes one turn's events to the log in batches: everything emitted in the same tick goes
 * into one transaction. Events reach the hub only after they are committed, so a client never
 * holds an event id that a crash could take back.
 */
export class TurnEventWriter {
  private pending: TaskEventBody[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(
    private readonly store: TaskStore,
    private readonly hub: EventHub,
    private readonly fence: TurnFence,
    /** The task's last event when the turn was claimed; then the last one this writer logged. */
    private last: number,
  ) {}

  emit(event: TaskEventBody): void {
    if (this.failure) throw this.failure;
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writePending());
    }
  }

  /** The task's last event as this writer's own writes left it. */
  get lastSeq(): number {
    return this.last;
  }

  /** Resolves when every event emitted so far is committed; rejects if the turn was lost. */
  async flush(): Promise<void> {
    this.writePending();
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /**
   * Waits for the writes under way and hands over the events not written yet, for the caller to
   * write with the end of the turn. Nothing may be emitted after.
   */
  async takeUnwritten(): Promise<TaskEventBody[]> {
    const unwritten = this.pending;
    this.pending = [];
    await this.chain;
    if (this.failure) throw this.failure;
    return unwritten;
  }

  private writePending(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        const logged = await this.store.appendEvents(this.fence, batch, new Date().toISOString(), this.last);
        this.last = logged.at(-1)?.seq ?? this.last;
        this.hub.publish(this.fence.taskId, logged);
      } catch (error) {
        this.failure = error;
      }
    });
  }
}
