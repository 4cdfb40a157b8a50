import type { Artifact } from '../artifacts/artifact-types.js';
import type { TaskEventBody } from '../events/event-types.js';
import type { Task } from '../tasks/task-types.js';

/** What an endpoint can subscribe to. */
export const WEBHOOK_EVENT_TYPES = ['task.created', 'task.awaiting_approval', 'task.completed', 'task.failed', 'task.cancelled', 'artifact.created'] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * A change to report, as the body every subscribed endpoint receives (the Standard Webhooks
 * shape: `type`, `timestamp`, `data`). Built in the transaction that makes the change.
 */
export interface WebhookEvent {
  userId: string;
  /** The task it concerns, when there is one (its deliveries go when the task is purged). */
  taskId: string | null;
  type: WebhookEventType;
  timestamp: string;
  data: Record<string, unknown>;
}

/** A place a user's events are sent to. */
export interface WebhookEndpoint {
  id: string;
  userId: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
  /** Why Kiln disabled the endpoint (it failed for too long), or null. */
  disabledReason: string | null;
  /** Since when every delivery to it failed, or null when the last one succeeded. */
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** One event for one endpoint, with the outcome of its latest attempt. */
export interface WebhookDelivery {
  /** Also the `webhook-id` header: the same on every attempt, so receivers can drop duplicates. */
  id: string;
  endpointId: string;
  eventType: WebhookEventType;
  status: DeliveryStatus;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  deliveredAt: string | null;
}

/** A delivery claimed for an attempt, with what sending it needs. */
export interface DueDelivery {
  id: string;
  endpointId: string;
  url: string;
  secret: string;
  payload: string;
  attempts: number;
  giveUpAfter: string;
}

/** The outcome of one attempt. */
export interface AttemptOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** `task.created`, with the task as it was created. */
export function taskCreatedEvent(task: Task): WebhookEvent {
  // As the create call answered: pending, even when its first turn started at once.
  return taskEvent('task.created', { ...task, status: 'pending' }, task.createdAt, {});
}

/** The event a turn's terminal event stands for (`task.completed`, `task.failed`, `task.cancelled`). */
export function turnEndedEvent(task: Task, terminal: TaskEventBody, now: string): WebhookEvent | null {
  switch (terminal.type) {
    case 'done':
      return taskEvent('task.completed', { ...task, status: 'completed' }, now, { turn: task.turn, finalResponse: terminal.data.finalResponse, usage: terminal.data.usage });
    case 'error':
      return taskEvent('task.failed', { ...task, status: 'failed' }, now, { turn: task.turn, error: { message: terminal.data.message, code: terminal.data.code } });
    case 'cancelled':
      return taskEvent('task.cancelled', { ...task, status: 'cancelled' }, now, { turn: task.turn });
    default:
      return null;
  }
}

/** `task.awaiting_approval`, with the calls that wait for a decision. */
export function awaitingApprovalEvent(task: Task, events: readonly TaskEventBody[], now: string): WebhookEvent {
  const pendingApprovals = events.flatMap((e) =>
    e.type === 'tool_call' && e.data.status === 'awaiting_approval' ? [{ callId: e.data.callId, toolName: e.data.toolName }] : [],
  );
  return taskEvent('task.awaiting_approval', { ...task, status: 'awaiting_approval' }, now, { turn: task.turn, pendingApprovals });
}

/** `artifact.created`: a new artifact (its first version). */
export function artifactCreatedEvent(artifact: Artifact): WebhookEvent {
  const v = artifact.latest;
  return {
    userId: artifact.userId,
    taskId: artifact.taskId,
    type: 'artifact.created',
    timestamp: v.createdAt,
    data: {
      artifactId: artifact.id,
      versionId: v.id,
      version: v.number,
      taskId: artifact.taskId,
      path: artifact.path,
      name: artifact.name,
      title: artifact.title,
      artifactType: artifact.artifactType,
      mediaType: v.mediaType,
      size: v.size,
      sha256: v.sha256,
      source: v.source,
      createdAt: v.createdAt,
    },
  };
}

function taskEvent(type: WebhookEventType, task: Task, timestamp: string, extra: Record<string, unknown>): WebhookEvent {
  return {
    userId: task.userId,
    taskId: task.id,
    type,
    timestamp,
    data: { taskId: task.id, status: task.status, agentId: task.agentId, workflowId: task.workflowId, phaseId: task.phaseId, ...extra },
  };
}
