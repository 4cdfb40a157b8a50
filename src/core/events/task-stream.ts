import type { TaskStore, TaskWithHistory } from '../../ports/storage.js';
import { isExecuting, type Message, type Task } from '../tasks/task-types.js';
import type { EventHub } from './event-hub.js';
import { isTerminal, type LoggedEvent } from './event-types.js';

export type StreamItem =
  | { kind: 'history'; message: Message }
  | { kind: 'history_done'; messageCount: number; isStreaming: boolean }
  | { kind: 'event'; event: LoggedEvent };

const PAGE = 500;

/**
 * A task's stream: history, then the current turn's logged events, then live ones, ending after
 * the first terminal event. Resumed after `lastEventId`, it skips the history.
 *
 * `from.task` is the task as the caller's access check read it: where its current turn starts. The
 * subscription is opened before the log is read, and events are passed on strictly by sequence
 * number, so an event committed during the read is neither lost nor sent twice.
 */
export async function* streamTask(
  deps: { tasks: TaskStore; hub: EventHub },
  from: TaskWithHistory | { task: Task; lastEventId: number },
  signal: AbortSignal,
): AsyncGenerator<StreamItem> {
  const { task } = from;
  const taskId = task.id;
  const inbox = new Inbox();
  const unsubscribe = deps.hub.subscribe(taskId, (events) => inbox.push(events));
  const onAbort = () => inbox.wake();
  signal.addEventListener('abort', onAbort);
  try {
    let sent: number;
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
    } else {
      sent = from.lastEventId;
    }

    // Catch up from the log.
    for (;;) {
      const page = await deps.tasks.eventsAfter(taskId, sent, PAGE);
      for (const event of page) {
        yield { kind: 'event', event };
        sent = event.seq;
        if (isTerminal(event)) return;
      }
      if (page.length < PAGE) break;
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
