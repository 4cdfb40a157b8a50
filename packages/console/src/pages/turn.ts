import type { Message, TaskEvent, TokenUsage } from '@kiln/sdk';

export interface ToolCallState {
  callId: string;
  toolName: string;
  status: string;
  args: Record<string, unknown> | undefined;
  output: string | undefined;
  /** When this page saw the call start and end (ms); a duration only for what it watched live. */
  startedAt: number | undefined;
  endedAt: number | undefined;
}

/** A turn as the stream shows it: built event by event. */
export interface TurnState {
  content: string;
  thoughts: { subject: string; description: string }[];
  calls: ToolCallState[];
  usage: TokenUsage | null;
  ending: { kind: 'done' | 'error' | 'cancelled'; message: string | null } | null;
  status: string | null;
}

export type Entry =
  | { kind: 'message'; message: Message }
  | { kind: 'sent'; text: string; files: string[] }
  | { kind: 'turn'; turn: TurnState };

export function newTurn(): TurnState {
  return { content: '', thoughts: [], calls: [], usage: null, ending: null, status: null };
}

function addUsage(a: TokenUsage | null, b: TokenUsage): TokenUsage {
  if (!a) return { ...b };
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    reasoningTokens: (a.reasoningTokens ?? 0) + (b.reasoningTokens ?? 0),
    cachedInputTokens: (a.cachedInputTokens ?? 0) + (b.cachedInputTokens ?? 0),
  };
}

function updateCall(turn: TurnState, callId: string, change: (call: ToolCallState | undefined) => ToolCallState): TurnState {
  const index = turn.calls.findIndex((c) => c.callId === callId);
  const calls = [...turn.calls];
  if (index === -1) calls.push(change(undefined));
  else calls[index] = change(calls[index]);
  return { ...turn, calls };
}

/** The turn after one more event (a new object: the page re-renders what changed). */
export function applyEvent(turn: TurnState, event: TaskEvent, now = Date.now()): TurnState {
  switch (event.event) {
    case 'content':
      return { ...turn, content: turn.content + event.data.text };
    case 'thought':
      return { ...turn, thoughts: [...turn.thoughts, { subject: event.data.subject, description: event.data.description }] };
    case 'status':
      return { ...turn, status: event.data.status };
    case 'usage':
      return { ...turn, usage: addUsage(turn.usage, event.data) };
    case 'tool_call': {
      const data = event.data as { callId: string; toolName: string; status: string; args?: Record<string, unknown> };
      return updateCall(turn, data.callId, (call) => ({
        callId: data.callId,
        toolName: data.toolName,
        status: data.status,
        args: data.args ?? call?.args,
        output: call?.output,
        startedAt: data.status === 'executing' ? now : call?.startedAt,
        endedAt: call?.endedAt,
      }));
    }
    case 'tool_result':
      return updateCall(turn, event.data.callId, (call) => ({
        callId: event.data.callId,
        toolName: event.data.toolName,
        status: event.data.status,
        args: call?.args,
        output: event.data.output,
        startedAt: call?.startedAt,
        endedAt: now,
      }));
    case 'tool_approval':
      return updateCall(turn, event.data.callId, (call) => ({
        callId: event.data.callId,
        toolName: event.data.toolName,
        status: event.data.approved ? 'approved' : 'cancelled',
        args: call?.args,
        output: call?.output,
        startedAt: call?.startedAt,
        endedAt: call?.endedAt,
      }));
    case 'done':
      return { ...turn, usage: event.data.usage ?? turn.usage, ending: { kind: 'done', message: null } };
    case 'error':
      return { ...turn, ending: { kind: 'error', message: (event.data as { message?: string }).message ?? 'The turn failed.' }, calls: closeCalls(turn.calls, 'error') };
    case 'cancelled':
      return { ...turn, ending: { kind: 'cancelled', message: event.data.message }, calls: closeCalls(turn.calls, 'cancelled') };
    default:
      return turn;
  }
}

function closeCalls(calls: ToolCallState[], status: string): ToolCallState[] {
  return calls.map((call) => (['awaiting_approval', 'approved', 'executing'].includes(call.status) ? { ...call, status } : call));
}
