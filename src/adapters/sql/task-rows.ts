import type { LoggedEvent, TaskEventType } from '../../core/events/event-types.js';
import type { Message, Task, TaskStatus, ToolPolicy } from '../../core/tasks/task-types.js';
import type { SqlValue } from '../../ports/database.js';

/** Columns read for a {@link Task}; `t` is tasks, `u` is users. */
export const TASK_COLUMNS = `t.id, t.user_id, u.name AS username, t.api_key_id, t.session_id, t.conversation_id, t.status,
  t.message, t.system_prompt, t.show_in_history, t.auto_execute, t.env, t.tool_policy, t.model, t.agent_id, t.workflow_id, t.phase_id, t.widget_app_id, t.end_user_id, t.secrets_holder, t.error, t.created_at, t.started_at,
  t.completed_at, t.last_activity_at, t.message_count, t.turn, t.turn_start_seq, t.last_event_seq, t.trace_parent, t.max_tokens, t.max_duration_seconds`;

export interface TaskRow {
  id: string;
  user_id: string;
  username: string;
  api_key_id: string | null;
  session_id: string;
  conversation_id: string;
  status: string;
  message: string;
  system_prompt: string | null;
  show_in_history: number;
  auto_execute: number;
  env: string | null;
  tool_policy: string | null;
  model: string | null;
  agent_id: string;
  workflow_id: string | null;
  phase_id: string | null;
  widget_app_id: string | null;
  end_user_id: string | null;
  secrets_holder: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  last_activity_at: string;
  message_count: number;
  turn: number;
  turn_start_seq: number | string;
  last_event_seq: number | string;
  trace_parent: string | null;
  max_tokens: number | null;
  max_duration_seconds: number | null;
}

export function taskFromRow(row: TaskRow): Task {
  return {
    id: row.id,
    userId: row.user_id,
    username: row.username,
    apiKeyId: row.api_key_id,
    sessionId: row.session_id,
    conversationId: row.conversation_id,
    status: row.status as TaskStatus,
    message: row.message,
    systemPrompt: row.system_prompt,
    showInHistory: Boolean(Number(row.show_in_history)),
    autoExecute: Boolean(Number(row.auto_execute)),
    env: row.env === null ? null : (JSON.parse(row.env) as Record<string, string>),
    toolPolicy: row.tool_policy === null ? null : (JSON.parse(row.tool_policy) as ToolPolicy),
    model: row.model,
    agentId: row.agent_id,
    workflowId: row.workflow_id,
    phaseId: row.phase_id,
    endUser: row.widget_app_id === null ? null : { appId: row.widget_app_id, endUserId: row.end_user_id ?? '' },
    secretsHolder: row.secrets_holder,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    lastActivityAt: row.last_activity_at,
    messageCount: Number(row.message_count),
    turn: Number(row.turn),
    turnStartSeq: Number(row.turn_start_seq),
    lastEventSeq: Number(row.last_event_seq),
    traceParent: row.trace_parent,
    maxTokens: row.max_tokens === null ? null : Number(row.max_tokens),
    maxDurationSeconds: row.max_duration_seconds === null ? null : Number(row.max_duration_seconds),
  };
}

export interface MessageRow {
  seq: number;
  turn: number;
  role: string;
  content: string;
  created_at: string;
  attached_files: string | null;
  thoughts: string | null;
  tool_calls: string | null;
}

export const MESSAGE_COLUMNS = 'seq, turn, role, content, created_at, attached_files, thoughts, tool_calls';

export function messageFromRow(row: MessageRow): Message {
  const message: Message = {
    seq: Number(row.seq),
    turn: Number(row.turn),
    role: row.role as Message['role'],
    content: row.content,
    createdAt: row.created_at,
  };
  if (row.attached_files) message.attachedFiles = JSON.parse(row.attached_files);
  if (row.thoughts) message.thoughts = JSON.parse(row.thoughts);
  if (row.tool_calls) message.toolCalls = JSON.parse(row.tool_calls);
  return message;
}

export function messageParams(taskId: string, message: Message): SqlValue[] {
  const json = (list: unknown[] | undefined) => (list && list.length > 0 ? JSON.stringify(list) : null);
  return [
    taskId,
    message.seq,
    message.turn,
    message.role,
    message.content,
    message.createdAt,
    json(message.attachedFiles),
    json(message.thoughts),
    json(message.toolCalls),
  ];
}

export const INSERT_MESSAGE = `INSERT INTO messages (task_id, seq, turn, role, content, created_at, attached_files, thoughts, tool_calls)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export interface EventRow {
  task_id: string;
  seq: number | string;
  turn: number;
  type: string;
  data: string;
  created_at: string;
}

export const EVENT_COLUMNS = 'task_id, seq, turn, type, data, created_at';

export function eventFromRow(row: EventRow): LoggedEvent {
  return {
    taskId: row.task_id,
    seq: Number(row.seq),
    turn: Number(row.turn),
    type: row.type as TaskEventType,
    data: JSON.parse(row.data),
    createdAt: row.created_at,
  } as LoggedEvent;
}
