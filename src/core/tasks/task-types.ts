import type { EndUserScope } from '../widgets/widget-types.js';

/** The task lifecycle as the API shows it. */
export type TaskStatus = 'pending' | 'running' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled';

const EXECUTING_STATUSES: readonly TaskStatus[] = ['pending', 'running', 'awaiting_approval'];

export function isExecuting(status: TaskStatus): boolean {
  return EXECUTING_STATUSES.includes(status);
}

export type ToolPolicy = Record<string, 'allow' | 'ask' | 'deny'>;

/** A task as stored. Secrets are never part of it. */
export interface Task {
  id: string;
  userId: string;
  username: string;
  apiKeyId: string | null;
  sessionId: string;
  conversationId: string;
  status: TaskStatus;
  message: string;
  systemPrompt: string | null;
  showInHistory: boolean;
  autoExecute: boolean;
  env: Record<string, string> | null;
  /** Per-tool approval rule; tools not named follow `autoExecute`. */
  toolPolicy: ToolPolicy | null;
  /** The task's own model (`provider:model`), or null for its agent's (or the server's) default. */
  model: string | null;
  /** The agent the task runs as (the user's default agent unless another was named). */
  agentId: string;
  /** Tags for grouping tasks and their artifacts into workflows and phases. */
  workflowId: string | null;
  phaseId: string | null;
  /** The widget end user whose conversation this is (a task made with a widget token); null otherwise. */
  endUser: EndUserScope | null;
  /** Address of the Kiln process holding the task's secrets in memory (when several processes share the work). */
  secretsHolder: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  lastActivityAt: string;
  messageCount: number;
  /** Turn counter: 1 for the first message, +1 per follow-up. */
  turn: number;
  /** Sequence number of the last event before the current turn began. */
  turnStartSeq: number;
  lastEventSeq: number;
  /** W3C traceparent of the request that queued the current turn (null when it was not traced). */
  traceParent: string | null;
  /** Tokens (input and output) one turn may use; null or absent: the agent's, or no limit. */
  maxTokens?: number | null;
  /** Wall-clock seconds one turn may run; null or absent: the agent's, or no limit. */
  maxDurationSeconds?: number | null;
}

export interface AttachedFile {
  name: string;
  path: string;
}

export interface Thought {
  subject: string;
  description: string;
}

export type ToolCallStatus = 'awaiting_approval' | 'approved' | 'executing' | 'success' | 'error' | 'cancelled';

export type ApprovalOutcome = 'proceed_once' | 'proceed_always' | 'cancel';

export interface ToolCallView {
  callId: string;
  toolName: string;
  status: ToolCallStatus;
  args?: Record<string, unknown>;
  output?: string;
}

/** A saved conversation message. */
export interface Message {
  seq: number;
  turn: number;
  role: 'user' | 'assistant';
  content: string;
  createdAt: string;
  attachedFiles?: AttachedFile[];
  thoughts?: Thought[];
  toolCalls?: ToolCallView[];
}
