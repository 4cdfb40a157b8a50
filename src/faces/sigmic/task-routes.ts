import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidInput } from '../../core/errors.js';
import type { StagedFile } from '../../core/workspace/workspaces.js';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { discardStaged, readMultipart } from '../http/multipart.js';
import { writeSse } from '../http/sse.js';
import type { CreateTaskInput } from '../../core/tasks/task-service.js';
import type { ToolPolicy } from '../../core/tasks/task-types.js';
import {
  approveBody,
  createTaskForm,
  createTaskJson,
  envMap,
  followUpForm,
  followUpJson,
  formBoolean,
  listQuery,
  parseInput,
  purgeBody,
  queryInteger,
  streamQuery,
  usageQuery,
} from './schemas.js';
import { detailView, listItemView, messageView, sseOf } from './views.js';

const MAX_PAGE = 100;
const MAX_USAGE_DAYS = 366;

/** `/tasks` routes of the native face. */
export async function taskRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.post('/tasks', { config: { idempotent: true } }, async function createTask(request) {
    if (request.isMultipart()) {
      const form = await readMultipart(request, deps.workspaces.staging, deps.uploadLimits);
      return withStaged(form.files, async () => {
        if (hasEnvFields(form.fields)) {
          throw new InvalidInput('env and secrets must be sent in an application/json request (which cannot carry files).');
        }
        return { success: true, data: await deps.tasks.create(caller(request), fromForm(form.fields, form.files)) };
      });
    }
    if (isForm(request)) {
      if (hasEnvFields(request.body)) throw new InvalidInput('env and secrets must be sent in an application/json request.');
      refuseTextFiles(request.body);
      return { success: true, data: await deps.tasks.create(caller(request), fromForm(request.body, [])) };
    }
    const body = parseInput(createTaskJson, request.body);
    const created = await deps.tasks.create(caller(request), {
      message: body.message,
      systemPrompt: body.systemPrompt ?? null,
      showInHistory: body.showInHistory ?? true,
      autoExecute: body.autoExecute ?? null,
      toolPolicy: (body.toolPolicy as ToolPolicy | null | undefined) ?? null,
      model: body.model ?? null,
      agentId: body.agentId ?? null,
      workflowId: body.workflowId ?? null,
      phaseId: body.phaseId ?? null,
      env: envMap(body.env, 'env'),
      secrets: envMap(body.secrets, 'secrets'),
      files: [],
      maxTokens: body.maxTokens ?? null,
      maxDurationSeconds: body.maxDurationSeconds ?? null,
    });
    return { success: true, data: created };
  });

  app.get('/tasks', async function listTasks(request) {
    const query = parseInput(listQuery, request.query);
    const limit = Math.min(queryInteger(query.limit, 'limit', 50, 1), MAX_PAGE);
    const offset = queryInteger(query.offset, 'offset', 0, 0);
    const text = query.q?.trim();
    const { tasks, total } = await deps.tasks.list(caller(request), limit, offset, { ...(query.status ? { status: query.status } : {}), ...(text ? { text } : {}) });
    return {
      success: true,
      data: tasks.map(listItemView),
      pagination: { total, limit, offset, hasMore: offset + tasks.length < total },
    };
  });

  app.get('/usage', async function usage(request) {
    const days = Math.min(queryInteger(parseInput(usageQuery, request.query).days, 'days', 30, 1), MAX_USAGE_DAYS);
    return { success: true, data: await deps.tasks.usage(caller(request), days) };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id', async function getTask(request) {
    return { success: true, data: detailView(await deps.tasks.get(caller(request), request.params.id)) };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id/history', async function taskHistory(request) {
    const { task, messages } = await deps.tasks.history(caller(request), request.params.id);
    return {
      success: true,
      data: { taskId: task.id, conversationId: task.conversationId, status: task.status, messages: messages.map(messageView) },
    };
  });

  app.post<{ Params: { id: string } }>('/tasks/:id/messages', { config: { idempotent: true } }, async function sendFollowUp(request) {
    if (request.isMultipart()) {
      const form = await readMultipart(request, deps.workspaces.staging, deps.uploadLimits);
      return withStaged(form.files, async () => {
        if (hasEnvFields(form.fields)) {
          throw new InvalidInput('secrets must be sent in an application/json request (which cannot carry files); env cannot be changed by a follow-up.');
        }
        const fields = parseInput(followUpForm, form.fields);
        const result = await deps.tasks.followUp(caller(request), request.params.id, { message: fields.message, files: form.files, secrets: null });
        return { success: true, data: result };
      });
    }
    refuseTextFiles(request.body);
    const body = parseInput(followUpJson, request.body);
    const result = await deps.tasks.followUp(caller(request), request.params.id, {
      message: body.message,
      files: [],
      secrets: envMap(body.secrets, 'secrets'),
    });
    return { success: true, data: result };
  });

  app.post<{ Params: { id: string; callId: string } }>('/tasks/:id/tools/:callId/approve', { config: { idempotent: true } }, async function approveToolCall(request) {
    const body = parseInput(approveBody, request.body);
    const result = await deps.approvals.decide(caller(request), request.params.id, request.params.callId, body.outcome);
    return { success: true, data: result };
  });

  app.post<{ Params: { id: string } }>('/tasks/:id/purge', { config: { idempotent: true } }, async function purgeTask(request) {
    parseInput(purgeBody, request.body);
    await deps.purger.purge(caller(request), request.params.id);
    return { success: true, data: { id: request.params.id, purged: true } };
  });

  app.delete<{ Params: { id: string } }>('/tasks/:id', async function cancelTask(request) {
    await deps.tasks.cancel(caller(request), request.params.id);
    return { success: true, data: { message: 'Task cancelled' } };
  });

  app.get<{ Params: { id: string }; Querystring: { lastEventId?: string } }>('/tasks/:id/stream', async function streamTask(request, reply) {
    const header = request.headers['last-event-id'];
    const raw = (Array.isArray(header) ? header[0] : header) ?? parseInput(streamQuery, request.query).lastEventId;
    const lastEventId = raw === undefined || raw === '' ? undefined : queryInteger(raw, 'Last-Event-ID', 0, 0);
    const controller = new AbortController();
    const items = await deps.tasks.stream(caller(request), request.params.id, lastEventId, controller.signal);
    // The client has seen the end of a finished task: 204 is what makes an EventSource stop reconnecting.
    if (items === null) return reply.status(204).send();
    await writeSse(reply, items, sseOf, controller, {
      heartbeatMs: deps.heartbeatMs,
      streams: deps.streams,
      onError: (error) => {
        deps.logger.error('stream failed', { task: request.params.id, error: String(error) });
        return { event: 'error', data: { message: 'The stream failed on the server; reconnect with Last-Event-ID to resume.', code: 'STREAM_ERROR' } };
      },
    });
    return reply;
  });
}

/** A task from form fields (multipart or URL-encoded): booleans are read as text, never guessed. */
function fromForm(raw: unknown, files: StagedFile[]): CreateTaskInput {
  const fields = parseInput(createTaskForm, raw);
  return {
    message: fields.message,
    systemPrompt: fields.systemPrompt ?? null,
    showInHistory: formBoolean(fields.showInHistory, 'showInHistory', true),
    autoExecute: fields.autoExecute === undefined || fields.autoExecute === '' ? null : formBoolean(fields.autoExecute, 'autoExecute', true),
    toolPolicy: null,
    model: fields.model ?? null,
    agentId: fields.agentId ?? null,
    workflowId: fields.workflowId ?? null,
    phaseId: fields.phaseId ?? null,
    env: null,
    secrets: null,
    files,
    maxTokens: fields.maxTokens === undefined || fields.maxTokens === '' ? null : queryInteger(fields.maxTokens, 'maxTokens', 0, 1),
    maxDurationSeconds: fields.maxDurationSeconds === undefined || fields.maxDurationSeconds === '' ? null : queryInteger(fields.maxDurationSeconds, 'maxDurationSeconds', 0, 1),
  };
}

/** Runs `fn`; files staged for the request that `fn` did not adopt are removed afterwards. */
async function withStaged<T>(files: StagedFile[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await discardStaged(files);
  }
}

function hasEnvFields(fields: unknown): boolean {
  return typeof fields === 'object' && fields !== null && ('env' in fields || 'secrets' in fields);
}

/** Files come as file parts of a multipart request; a text field of that name would be silently lost. */
function refuseTextFiles(fields: unknown): void {
  if (typeof fields === 'object' && fields !== null && 'files' in fields) {
    throw new InvalidInput('files must be sent as file parts of a multipart/form-data request (curl: -F "files=@report.pdf"), not as a text field.', 'files');
  }
}

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}
