import type { Agent } from '../../core/agents/agent-types.js';
import type { Artifact, ArtifactVersion } from '../../core/artifacts/artifact-types.js';
import { mediaTypeOf } from '../../core/artifacts/media-types.js';
import type { LoggedEvent } from '../../core/events/event-types.js';
import type { StreamItem } from '../../core/events/task-stream.js';
import type { TaskDetail } from '../../core/tasks/task-service.js';
import type { Message, Task } from '../../core/tasks/task-types.js';
import type { WidgetApp } from '../../core/widgets/widget-types.js';
import type { ApiKeyRecord } from '../../ports/storage.js';
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
    agentId: task.agentId,
    workflowId: task.workflowId,
    phaseId: task.phaseId,
  };
}

/** A task as a list shows it: the task's fields, then its latest activity and message count. */
export function listItemView(task: Task): ReturnType<typeof taskView> & { lastActivityAt: string; messageCount: number } {
  // Added to the task's view rather than spread into a copy: a page builds fifty of them.
  return Object.assign(taskView(task), { lastActivityAt: task.lastActivityAt, messageCount: task.messageCount });
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

/** One SSE message per logged event, shared by every stream that sends it (so it is formatted once). */
const eventMessages = new WeakMap<LoggedEvent, SseMessage>();

export function sseOf(item: StreamItem): SseMessage {
  switch (item.kind) {
    case 'history':
      return { event: 'history_message', data: messageView(item.message) };
    case 'history_done':
      return { event: 'history_done', data: { messageCount: item.messageCount, isStreaming: item.isStreaming } };
    case 'event': {
      let message = eventMessages.get(item.event);
      if (!message) {
        message = { event: item.event.type, data: eventPayload(item.event), id: item.event.seq };
        eventMessages.set(item.event, message);
      }
      return message;
    }
  }
}

/** A workspace file as the artifacts listing shows it, with a signed link to its latest version. */
export function fileView(artifact: Artifact, downloadUrl: string) {
  const latest = artifact.latest;
  return {
    name: artifact.name,
    path: artifact.path,
    size: latest.size,
    mimeType: latest.mediaType,
    category: categoryOf(artifact.name, latest.mediaType),
    modifiedAt: latest.createdAt,
    artifactId: artifact.id,
    version: latest.number,
    versionId: latest.id,
    sha256: latest.sha256,
    downloadUrl,
  };
}

export function versionView(version: ArtifactVersion) {
  return {
    version: version.number,
    versionId: version.id,
    size: version.size,
    mimeType: version.mediaType,
    sha256: version.sha256,
    createdAt: version.createdAt,
    source: version.source,
    taskId: version.taskId,
    turn: version.turn,
    userId: version.userId,
    agentId: version.agentId,
    derivedFrom: version.derivedFrom,
  };
}

export function agentView(agent: Agent) {
  return {
    id: agent.id,
    name: agent.name,
    systemPrompt: agent.systemPrompt,
    model: agent.model,
    toolPolicy: agent.toolPolicy,
    autoExecute: agent.autoExecute,
    mcpServers: agent.mcpServers,
    isDefault: agent.isDefault,
    maxTokens: agent.maxTokens ?? null,
    maxDurationSeconds: agent.maxDurationSeconds ?? null,
    retentionDays: agent.retentionDays ?? null,
    createdAt: agent.createdAt,
    updatedAt: agent.updatedAt,
  };
}

function categoryOf(name: string, mediaType: string): string {
  const byName = mediaTypeOf(name).category;
  if (byName !== 'other') return byName;
  return mediaType.startsWith('text/') ? 'text' : 'other';
}

/** An API key as listed: never the key or its hash. */
export function keyView(key: ApiKeyRecord) {
  return { id: key.id, name: key.name, userId: key.userId, admin: key.admin, createdAt: key.createdAt, lastUsedAt: key.lastUsedAt };
}

/** A widget app as its owner sees it: the names of its env and secrets, never their values. */
export function widgetAppView(app: WidgetApp) {
  return {
    id: app.id,
    name: app.name,
    allowedOrigins: app.allowedOrigins,
    agentId: app.agentId,
    autoExecute: app.autoExecute,
    envNames: app.envNames,
    secretNames: app.secretNames,
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
  };
}
