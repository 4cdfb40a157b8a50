import type { TurnEnding } from '../../ports/storage.js';
import type { LoggedEvent } from '../events/event-types.js';
import { assistantMessage, foldTurn, settleOpenCalls } from './turn-view.js';

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
      terminal: { type: 'done', data: { finalResponse: view.content, status: 'completed', usage: view.usage } },
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
