import type { TaskStore, TaskWithHistory } from '../../ports/storage.js';
import { isExecuting, type Message, type Task } from '../tasks/task-types.js';
import type { EventHub } from './event-hub.js';
import { isTerminal, type LoggedEvent } from './event-types.js';

export type StreamItem =
  | { kind: 'history'; message: Message }
  | { kind: 'history_done'; messageCount: number; isStreaming: boolean }
  | { kind: 'event'; event: LoggedEvent };

/** Events read from the log at a time; a stream opening on an executing turn reads its first page with the task. */
export const STREAM_PAGE = 500;

type StreamStart = TaskWithHistory | { task: Task; lastEventId: number };

/**
 * Opens a task's stream: history, then the current turn's logged events, then live ones, ending
 * after the first terminal event. Resumed after `lastEventId`, it skips the history.
 *
 * `read` is the caller's access check: it reads the task (with its history and the executing
 * turn's first events, or where to resume), or returns null for nothing to stream. The
 * subscription is opened before that read, and events are passed on strictly by sequence number,
 * so an event committed during the read is neither lost nor sent twice. The subscription closes
 * when the returned stream ends, or when `signal` aborts.
 */
export async function openTaskStream(
  deps: { tasks: TaskStore; hub: EventHub },
  taskId: string,
  read: () => Promise<StreamStart | null>,
  signal: AbortSignal,
): Promise<AsyncGenerator<StreamItem> | null> {
  const inbox = new Inbox();
  const unsubscribe = deps.hub.subscribe(taskId, (events) => inbox.push(events));
  let from: StreamStart | null;
  try {
    from = await read();
  } catch (error) {
    unsubscribe();
    throw error;
  }
  if (from === null) {
    unsubscribe();
    return null;
  }
  // A stream that never starts never reaches its own `finally`: an abort before then releases it.
  const released = () => unsubscribe();
  signal.addEventListener('abort', released, { once: true });
  return stream(deps, from, inbox, () => {
    signal.removeEventListener('abort', released);
    unsubscribe();
  }, signal);
}

async function* stream(
  deps: { tasks: TaskStore; hub: EventHub },
  from: StreamStart,
  inbox: Inbox,
  unsubscribe: () => void,
  signal: AbortSignal,
): AsyncGenerator<StreamItem> {
  const { task } = from;
  const taskId = task.id;
  const onAbort = () => inbox.wake();
  signal.addEventListener('abort', onAbort);
  try {
    let sent: number;
    // The log's first page, when it came with the task.
    let page: LoggedEvent[] | undefined;
    if ('messages' in from) {
      for (const message of from.messages) yield { kind: 'history', message };
      const executing = isExecuting(task.status);
      yield { kind: 'history_done', messageCount: from.messages.length, isStreaming: executing };
      if (!executing) {
        // Read with the task: a finished task logs nothing more until a follow-up, which is a new turn.
        if (from.lastEvent && isTerminal(from.lastEvent)) yield { kind: 'event', event: from.lastEvent };
        return;
      }
      sent = task.turnStartSeq;
      page = from.turnEvents;
    } else {
      sent = from.lastEventId;
    }

    // Catch up from the log.
    for (;;) {
      page ??= await deps.tasks.eventsAfter(taskId, sent, STREAM_PAGE);
      for (const event of page) {
        yield { kind: 'event', event };
        sent = event.seq;
        if (isTerminal(event)) return;
      }
      if (page.length < STREAM_PAGE) break;
      page = undefined;
    }
    if (!isExecuting(task.status)) return;
    deps.hub.caughtUp(taskId, sent);

    // Live: events arrive from the hub; a gap (an event this process did not see) is read from the log.
    while (!signal.aborted) {
      const pending = inbox.drain();
      if (pending.length === 0) {
        await inbox.wait();
        continue;
      }
      for (const event of pending) {
        if (event.seq <= sent) continue;
        if (event.seq > sent + 1) {
          for (const missed of await deps.tasks.eventsAfter(taskId, sent, event.seq - sent - 1)) {
            yield { kind: 'event', event: missed };
            sent = missed.seq;
            if (isTerminal(missed)) return;
          }
        }
        yield { kind: 'event', event };
        sent = event.seq;
        if (isTerminal(event)) return;
      }
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

/** Events received from the hub and not yet sent, with a way to wait for more. */
class Inbox {
  private events: LoggedEvent[] = [];
  private waiter: (() => void) | null = null;

  push(events: readonly LoggedEvent[]): void {
    for (const event of events) this.events.push(event);
    this.wake();
  }

  drain(): LoggedEvent[] {
    const events = this.events;
    this.events = [];
    return events;
  }

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
