import type { Logger } from '../../logger.js';
import type { TaskStore } from '../../ports/storage.js';
import type { TaskSignals } from '../../ports/task-signals.js';
import type { EventHub } from '../events/event-hub.js';
import { turnEndings } from '../tasks/turn-endings.js';

export const INTERRUPTED_MESSAGE =
  'This turn was interrupted: the Kiln worker running it stopped (crash, kill or restart) before it finished. ' +
  'Files it wrote are kept. Send a follow-up message to continue.';

/**
 * Ends turns whose worker died, as failed with an error that says so. With `now` null every held
 * turn counts as abandoned (start-up of the only process); otherwise only leases that ran out,
 * except turns the calling process still runs (`runningHere`).
 */
export async function recoverAbandonedTurns(
  deps: { tasks: TaskStore; hub: EventHub; signals: TaskSignals; logger: Logger },
  now: string | null,
  runningHere: (taskId: string, leaseOwner: string) => boolean = () => false,
): Promise<number> {
  let recovered = 0;
  for (const { task, leaseOwner } of await deps.tasks.abandonedTurns(now)) {
    if (runningHere(task.id, leaseOwner)) continue;
    const fence = { taskId: task.id, turn: task.turn, leaseOwner, ...(now === null ? {} : { leaseExpiredBefore: now }) };
    const logged = await deps.tasks.endTurn(fence, turnEndings.failed(INTERRUPTED_MESSAGE, 'INTERRUPTED'), new Date().toISOString());
    if (!logged) continue;
    deps.hub.publish(task.id, logged);
    deps.signals.turnEnded(task.id, task.turn);
    deps.logger.warn('interrupted turn marked failed', { task: task.id, turn: task.turn });
    recovered++;
  }
  return recovered;
}
