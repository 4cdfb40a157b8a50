import type { KeyOwner, Storage } from '../../ports/storage.js';
import type { TaskSignals } from '../../ports/task-signals.js';
import { Conflict, NotFound } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import type { LoggedEvent, TaskEventBody } from '../events/event-types.js';
import type { ApprovalOutcome } from './task-types.js';
import { foldTurn } from './turn-view.js';

type Decision = { kind: 'decided' } | { kind: 'repeat' } | { kind: 'unknown' };

/**
 * Decisions on tool calls that wait for a person. A decision is logged as a `tool_approval`
 * event; when the last pending call of the turn is decided, the turn goes back in the queue and
 * any worker picks it up. The first decision on a call stands.
 */
export class Approvals {
  constructor(private readonly deps: { storage: Storage; hub: EventHub; signals: TaskSignals }) {}

  async decide(caller: KeyOwner, taskId: string, callId: string, outcome: ApprovalOutcome): Promise<{ approved: boolean }> {
    const { tasks } = this.deps.storage;
    const task = await tasks.get(taskId, caller.userId, caller.endUser);
    if (!task) throw new NotFound('Task not found');
    const approved = outcome !== 'cancel';

    const amended = await tasks.amendTurn<Decision>(
      { taskId: task.id, turn: task.turn },
      (events) => {
        const previous = decisionOn(events, callId);
        if (previous) {
          if (previous === outcome) return { events: [], result: { kind: 'repeat' } };
          throw new Conflict(`Tool call ${callId} was already decided (${previous}); the first decision stands.`);
        }
        const calls = foldTurn(events).toolCalls;
        const call = calls.find((c) => c.callId === callId);
        if (!call) return { events: [], result: { kind: 'unknown' } };
        if (call.status !== 'awaiting_approval') {
          throw new Conflict(`Tool call ${callId} is not awaiting approval (its status is ${call.status}).`);
        }
        // "Always" covers the other calls of the same tool that wait in this turn too.
        const decided = calls.filter(
          (c) => c.status === 'awaiting_approval' && (c.callId === callId || (outcome === 'proceed_always' && c.toolName === call.toolName)),
        );
        const stillPending = calls.filter((c) => c.status === 'awaiting_approval' && !decided.includes(c));
        const logged: TaskEventBody[] = decided.map((c) => ({
          type: 'tool_approval',
          data: { callId: c.callId, toolName: c.toolName, outcome, approved },
        }));
        if (stillPending.length > 0) return { events: logged, result: { kind: 'decided' } };
        return { events: [...logged, { type: 'status', data: { status: 'processing' } }], status: 'running', result: { kind: 'decided' } };
      },
      new Date().toISOString(),
    );

    if (amended?.result.kind === 'decided' || amended?.result.kind === 'repeat') {
      this.deps.hub.publish(task.id, amended.events);
      if (amended.events.some((e) => e.type === 'status')) this.deps.signals.queued();
      return { approved };
    }
    // Not pending in the current turn: a call of an earlier turn, or of a turn that has ended.
    const logged = await tasks.eventsOfType(task.id, ['tool_call', 'tool_approval']);
    if (!logged.some((e) => e.type === 'tool_call' && e.data.callId === callId)) throw new NotFound(`Tool call ${callId} not found in this task`);
    // The first decision stands also once its turn has moved on or ended.
    const previous = decisionOn(logged, callId);
    if (previous === outcome) return { approved };
    if (previous) throw new Conflict(`Tool call ${callId} was already decided (${previous}); the first decision stands.`);
    const latest = await tasks.get(task.id);
    throw new Conflict(`Tool call ${callId} is no longer awaiting approval (the task is ${latest?.status ?? task.status}).`);
  }
}

function decisionOn(events: readonly LoggedEvent[], callId: string): ApprovalOutcome | undefined {
  for (const event of events) if (event.type === 'tool_approval' && event.data.callId === callId) return event.data.outcome;
  return undefined;
}
