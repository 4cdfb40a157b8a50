import type { LoggedEvent, TokenUsage } from '../events/event-types.js';
import type { Message, Thought, ToolCallStatus, ToolCallView } from './task-types.js';

/** What a turn has produced so far, folded from its events. */
export interface TurnView {
  content: string;
  usage: TokenUsage;
  thoughts: Thought[];
  toolCalls: ToolCallView[];
  updatedAt: string | null;
}

export interface PendingApproval {
  callId: string;
  toolName: string;
  args: Record<string, unknown>;
}

/**
 * Folds a turn's events into its output. Content events are deltas and are joined; a tool call's
 * later events update it in place.
 */
export function foldTurn(events: readonly LoggedEvent[]): TurnView {
  let content = '';
  const usage: TokenUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0, reasoningTokens: 0, cachedInputTokens: 0 };
  const thoughts: Thought[] = [];
  const calls = new Map<string, ToolCallView>();
  let updatedAt: string | null = null;
  for (const event of events) {
    updatedAt = event.createdAt;
    switch (event.type) {
      case 'content':
        content += event.data.text;
        break;
      case 'usage':
        for (const key of Object.keys(usage) as (keyof TokenUsage)[]) usage[key] += event.data[key] ?? 0;
        break;
      case 'thought':
        thoughts.push({ subject: event.data.subject, description: event.data.description });
        break;
      case 'tool_call': {
        const { callId, toolName, status, args } = event.data;
        calls.set(callId, { ...calls.get(callId), callId, toolName, status, args });
        break;
      }
      case 'tool_result': {
        const call = calls.get(event.data.callId);
        const merged: ToolCallView = { ...call, callId: event.data.callId, toolName: event.data.toolName, status: event.data.status, output: event.data.output };
        calls.set(event.data.callId, merged);
        break;
      }
      case 'tool_approval': {
        const call = calls.get(event.data.callId);
        if (call) calls.set(call.callId, { ...call, status: event.data.approved ? 'approved' : 'cancelled' });
        break;
      }
      case 'cancelled':
      case 'error':
        for (const [id, call] of calls) if (isOpen(call)) calls.set(id, { ...call, status: event.type === 'cancelled' ? 'cancelled' : 'error' });
        break;
      default:
        break;
    }
  }
  return { content, usage, thoughts, toolCalls: [...calls.values()], updatedAt };
}

/** Marks tool calls that were still running or waiting when their turn ended. */
export function settleOpenCalls(view: TurnView, status: ToolCallStatus): TurnView {
  return { ...view, toolCalls: view.toolCalls.map((call) => (isOpen(call) ? { ...call, status } : call)) };
}

function isOpen(call: ToolCallView): boolean {
  return call.status === 'executing' || call.status === 'awaiting_approval' || call.status === 'approved';
}

export function pendingApprovals(view: TurnView): PendingApproval[] {
  return view.toolCalls
    .filter((call) => call.status === 'awaiting_approval')
    .map((call) => ({ callId: call.callId, toolName: call.toolName, args: call.args ?? {} }));
}

/** The assistant message a finished turn leaves in the conversation, or null when it produced nothing. */
export function assistantMessage(view: TurnView): Omit<Message, 'seq' | 'turn' | 'createdAt'> | null {
  if (view.content === '' && view.thoughts.length === 0 && view.toolCalls.length === 0) return null;
  const message: Omit<Message, 'seq' | 'turn' | 'createdAt'> = { role: 'assistant', content: view.content };
  if (view.thoughts.length > 0) message.thoughts = view.thoughts;
  if (view.toolCalls.length > 0) message.toolCalls = view.toolCalls;
  return message;
}
