import type { LoggedEvent } from '../../core/events/event-types.js';
import type { StreamItem } from '../../core/events/task-stream.js';
import type { TaskDetail } from '../../core/tasks/task-service.js';
import type { Message, Task } from '../../core/tasks/task-types.js';
import type { SseMessage } from '../http/sse.js';

/** The documented task fields, in the documented order. */
export function taskView(task: Task) {
  return {
    id: task.id,
    apiKeyId: task.apiKeyId,
    username: task.username,
    sessionId: task.sessionId,
    conversationId: task.conversationId,
    status: task.status,
    message: task.message,
    systemPrompt: task.systemPrompt,
    showInHistory: task.showInHistory,
    autoExecute: task.autoExecute,
    env: task.env,
    error: task.error,
    createdAt: task.createdAt,
    startedAt: task.startedAt,
    completedAt: task.completedAt,
    toolPolicy: task.toolPolicy,
    model: task.model,
  };
}

export function listItemView(task: Task) {
  return { ...taskView(task), lastActivityAt: task.lastActivityAt, messageCount: task.messageCount };
}

export function detailView(detail: TaskDetail) {
  return {
    ...taskView(detail.task),
    ...(detail.output ? { output: detail.output } : {}),
    ...(detail.pendingApprovals.length > 0 ? { pendingApprovals: detail.pendingApprovals } : {}),
  };
}

export function messageView(message: Message) {
  return {
    id: `msg-${message.seq}`,
    role: message.role,
    content: message.content,
    createdAt: message.createdAt,
    ...(message.attachedFiles ? { attachedFiles: message.attachedFiles } : {}),
    ...(message.thoughts ? { thoughts: message.thoughts } : {}),
    ...(message.toolCalls ? { toolCalls: message.toolCalls } : {}),
  };
}

/** A logged event as the wire shows it. `tool_call` also carries `type`/`data`, for clients of either documented form. */
export function eventPayload(event: LoggedEvent): unknown {
  if (event.type === 'tool_call') return { ...event.data, type: 'tool_call', data: { ...event.data } };
  return event.data;
}

export function sseOf(item: StreamItem): SseMessage {
  switch (item.kind) {
    case 'history':
      return { event: 'history_message', data: messageView(item.message) };
    case 'history_done':
      return { event: 'history_done', data: { messageCount: item.messageCount, isStreaming: item.isStreaming } };
    case 'event':
      return { event: item.event.type, data: eventPayload(item.event), id: item.event.seq };
  }
}
