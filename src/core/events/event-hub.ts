import type { LoggedEvent } from './event-types.js';

type Listener = (events: readonly LoggedEvent[]) => void;

/**
 * Streams served per turn of the event loop when one batch fans out to many: the streams' writes
 * happen as they are served, and a batch for hundreds of streams at once would hold the loop (and
 * every other request) for tens of milliseconds.
 */
const FANOUT_SLICE = 64;

/**
 * In-memory fan-out of committed events to the streams open in this process.
 * Publishing costs one call per subscriber; no subscriber reads the database for an event
 * it received here.
 *
 * For each watched task the hub also keeps the sequence number it has delivered up to, so that
 * events written by other processes can be relayed into it once per process (see
 * {@link EventHub.behind}).
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly delivered = new Map<string, number>();
  /** Batches still being handed out, in the order published (so each stream gets them in order). */
  private readonly backlog: { listeners: Listener[]; events: readonly LoggedEvent[]; next: number }[] = [];

  /** `delivered` hears how long after being written each batch of events reached its last open stream. */
  constructor(private readonly observe: { delivered(lagSeconds: number): void } = { delivered: () => {} }) {}

  publish(taskId: string, events: readonly LoggedEvent[]): void {
    if (events.length === 0) return;
    const set = this.listeners.get(taskId);
    if (!set) return;
    const last = events[events.length - 1]!.seq;
    this.delivered.set(taskId, Math.max(this.delivered.get(taskId) ?? 0, last));
    if (set.size <= FANOUT_SLICE && this.backlog.length === 0) {
      for (const listener of set) listener(events);
      this.handedOut(events);
      return;
    }
    this.backlog.push({ listeners: [...set], events, next: 0 });
    if (this.backlog.length === 1) this.serve();
  }

  /** Hands out up to FANOUT_SLICE deliveries of the backlog, then lets the loop run before the next. */
  private readonly serve = (): void => {
    let budget = FANOUT_SLICE;
    while (budget > 0 && this.backlog.length > 0) {
      const batch = this.backlog[0]!;
      const end = Math.min(batch.listeners.length, batch.next + budget);
      for (let i = batch.next; i < end; i++) batch.listeners[i]!(batch.events);
      budget -= end - batch.next;
      batch.next = end;
      if (batch.next === batch.listeners.length) {
        this.backlog.shift();
        this.handedOut(batch.events);
      }
    }
    if (this.backlog.length > 0) setImmediate(this.serve);
  };

  /** A batch reached its last stream: how long after being written. */
  private handedOut(events: readonly LoggedEvent[]): void {
    this.observe.delivered((Date.now() - Date.parse(events[0]!.createdAt)) / 1000);
  }

  subscribe(taskId: string, listener: Listener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) {
      set = new Set();
      this.listeners.set(taskId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(taskId) === set) {
        this.listeners.delete(taskId);
        this.delivered.delete(taskId);
      }
    };
  }

  /**
   * A stream read the log up to `seq` and now waits on the hub. Relaying resumes from the lowest
   * such point, so no waiting stream misses an event (a stream skips what it already has).
   */
  caughtUp(taskId: string, seq: number): void {
    if (!this.listeners.has(taskId)) return;
    const current = this.delivered.get(taskId);
    this.delivered.set(taskId, current === undefined ? seq : Math.min(current, seq));
  }

  /** For a watched task, the sequence number delivered so far when the log is ahead of it at `logSeq`. */
  behind(taskId: string, logSeq: number): number | undefined {
    const delivered = this.delivered.get(taskId);
    if (delivered === undefined || logSeq <= delivered) return undefined;
    return delivered;
  }

  /** Tasks with at least one open stream in this process. */
  watchedTasks(): string[] {
    return [...this.listeners.keys()];
  }
}
