import type { TurnEnding } from '../../ports/storage.js';
import type { LoggedEvent } from '../events/event-types.js';
import type { ToolCallStatus } from './task-types.js';
import { assistantMessage, foldTurn, type TurnView } from './turn-view.js';

/**
 * The three ways a turn ends. Each takes the turn's events (read in the same transaction that
 * ends it) and returns the task's new state, its terminal event and the assistant message kept.
 */
export const turnEndings = {
  completed(events: readonly LoggedEvent[]): TurnEnding {
    const view = foldTurn(events);
    return {
      status: 'completed',
      error: null,
      terminal: { type: 'done', data: { finalResponse: view.content, status: 'completed' } },
      assistant: assistantMessage(view),
    };
  },

  failed(message: string, code: string) {
    return (events: readonly LoggedEvent[]): TurnEnding => {
      const view = settleOpenCalls(foldTurn(events), 'error');
      return {
        status: 'failed',
        error: message,
        terminal: { type: 'error', data: { message, code, status: 'failed' } },
        assistant: assistantMessage(view),
      };
    };
  },

  cancelled(events: readonly LoggedEvent[]): TurnEnding {
    const view = settleOpenCalls(foldTurn(events), 'cancelled');
    return {
      status: 'cancelled',
      error: null,
      terminal: { type: 'cancelled', data: { message: 'Task cancelled', status: 'cancelled' } },
      assistant: assistantMessage(view),
    };
  },
};

/** Tool calls still executing or awaiting approval when a turn ends did not finish. */
function settleOpenCalls(view: TurnView, status: ToolCallStatus): TurnView {
  return {
    ...view,
    toolCalls: view.toolCalls.map((call) =>
      call.status === 'executing' || call.status === 'awaiting_approval' ? { ...call, status } : call,
    ),
  };
}
