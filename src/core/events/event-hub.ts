import type { LoggedEvent } from './event-types.js';

type Listener = (events: readonly LoggedEvent[]) => void;

/**
 * In-memory fan-out of committed events to the streams open in this process.
 * Publishing costs one call per subscriber; no subscriber reads the database for an event
 * it received here.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  publish(taskId: string, events: readonly LoggedEvent[]): void {
    if (events.length === 0) return;
    const set = this.listeners.get(taskId);
    if (!set) return;
    for (const listener of set) listener(events);
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
      if (set.size === 0 && this.listeners.get(taskId) === set) this.listeners.delete(taskId);
    };
  }

  /** Tasks with at least one open stream in this process. */
  watchedTasks(): string[] {
    return [...this.listeners.keys()];
  }
}
