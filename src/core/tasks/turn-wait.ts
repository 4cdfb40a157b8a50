import type { KeyOwner } from '../../ports/storage.js';
import { isTerminal, type LoggedEvent } from '../events/event-types.js';
import type { TaskService } from './task-service.js';

/**
 * Waits until a task's turn settles: it ends (`done`, `error`, `cancelled`) or stops for a
 * tool-call decision. Only events after `afterSeq` count, so a caller that acted at `afterSeq`
 * (created the task, sent a follow-up, decided a call) does not mistake an earlier stop for the
 * outcome of its action. Resolves when the turn settles, when `timeoutMs` has passed or when
 * `signal` aborts, whichever comes first; read the task afterwards to see which.
 *
 * It follows the task's stream, so it needs no polling and works across processes.
 *
 * @example
 * await waitForTurn(tasks, caller, id, 0, { timeoutMs: 30_000 });
 * const detail = await tasks.get(caller, id);
 */
export async function waitForTurn(
  tasks: TaskService,
  caller: KeyOwner,
  taskId: string,
  afterSeq: number,
  options: { timeoutMs: number; signal?: AbortSignal; onEvent?: (event: LoggedEvent) => void },
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort);
  try {
    if (options.signal?.aborted) return;
    // null: the task ended at or before afterSeq, so there is nothing left to wait for.
    const items = await tasks.stream(caller, taskId, afterSeq, controller.signal);
    if (items === null) return;
    for await (const item of items) {
      if (item.kind !== 'event') continue;
      options.onEvent?.(item.event);
      if (isTerminal(item.event) || (item.event.type === 'status' && item.event.data.status === 'awaiting_approval')) return;
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', abort);
  }
}
