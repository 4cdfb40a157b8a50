import type { ApprovalOutcome, Thought, ToolCallStatus } from '../tasks/task-types.js';

/**
 * Events of a task's durable log, as streamed to clients.
 * Each turn ends with exactly one terminal event: `done`, `error` or `cancelled`.
 */
export type TaskEventBody =
  | { type: 'status'; data: { status: 'processing' | 'awaiting_approval' | 'retrying'; message?: string } }
  | { type: 'thought'; data: Thought }
  | { type: 'content'; data: { text: string; isPartial: boolean } }
  | { type: 'tool_call'; data: ToolCallEventData }
  | { type: 'tool_result'; data: { callId: string; toolName: string; server?: string; status: ToolCallStatus; output: string } }
  | { type: 'tool_approval'; data: { callId: string; toolName: string; outcome: ApprovalOutcome; approved: boolean } }
  | { type: 'usage'; data: TokenUsage }
  | { type: 'done'; data: { finalResponse: string; status: 'completed'; usage: TokenUsage } }
  | { type: 'error'; data: { message: string; code: string; status: 'failed' } }
  | { type: 'cancelled'; data: { message: string; status: 'cancelled' } };

/** Tokens a model step (or, summed, a turn) used, as the provider reported them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  reasoningTokens: number;
  cachedInputTokens: number;
}

export interface ToolCallEventData {
  callId: string;
  toolName: string;
  /** The MCP server of the tool, for MCP tools. */
  server?: string;
  status: ToolCallStatus;
  args: Record<string, unknown>;
}

export type TaskEventType = TaskEventBody['type'];

/** An event as written to the log: numbered per task, in the order it happened. */
export type LoggedEvent = TaskEventBody & {
  taskId: string;
  seq: number;
  turn: number;
  createdAt: string;
};

export const TERMINAL_EVENT_TYPES: ReadonlySet<TaskEventType> = new Set(['done', 'error', 'cancelled']);

export function isTerminal(event: { type: TaskEventType }): boolean {
  return TERMINAL_EVENT_TYPES.has(event.type);
}
