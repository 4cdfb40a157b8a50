import { appendFiles, type FileInput } from './files.js';
import { streamTask, type StreamOptions } from './task-stream.js';
import { seg, type Transport, type UploadProgress } from './transport.js';
import type {
  ApprovalOutcome,
  ApprovalResult,
  EnvMap,
  FollowUpAccepted,
  Pagination,
  TaskCreated,
  TaskDetail,
  TaskEvent,
  TaskHistory,
  TaskListItem,
  TaskStatus,
  TerminalEvent,
  ToolPolicy,
  UsageReport,
} from './types.js';

export interface CreateTaskInput {
  message: string;
  /** Files for the task's `uploads/` folder (sent as multipart; ZIP archives are unpacked). */
  files?: readonly FileInput[];
  systemPrompt?: string;
  /** `provider:model`; the agent's or the server's model when absent. */
  model?: string;
  agentId?: string;
  /** When false, each tool call waits for a decision (`tasks.approve`). */
  autoExecute?: boolean;
  showInHistory?: boolean;
  /** A rule per tool (JSON only: not with `files`). */
  toolPolicy?: ToolPolicy;
  /** Environment of the task's commands (JSON only: not with `files`). */
  env?: EnvMap;
  /** Secret environment variables, never stored (JSON only: not with `files`). */
  secrets?: EnvMap;
  workflowId?: string;
  phaseId?: string;
  signal?: AbortSignal;
  /** Progress of sending the request (its files), in browsers. */
  onUploadProgress?: (progress: UploadProgress) => void;
}

export interface SendInput {
  message: string;
  files?: readonly FileInput[];
  /** Secrets for this and later turns (JSON only: not with `files`). */
  secrets?: EnvMap;
  signal?: AbortSignal;
  onUploadProgress?: (progress: UploadProgress) => void;
}

export interface TaskPage {
  tasks: TaskListItem[];
  pagination: Pagination;
}

/** Accepted spellings of a decision: the API's, or the short `once` / `always`. */
export type Outcome = ApprovalOutcome | 'once' | 'always';

const OUTCOMES: Record<Outcome, ApprovalOutcome> = {
  once: 'proceed_once',
  always: 'proceed_always',
  proceed_once: 'proceed_once',
  proceed_always: 'proceed_always',
  cancel: 'cancel',
};

// The API takes env, secrets and toolPolicy only as JSON, and files only as multipart.
const JSON_ONLY = ['env', 'secrets', 'toolPolicy'] as const;

/** Tasks: create, list, read, stream, follow up, decide tool calls, cancel. */
export class Tasks {
  constructor(private readonly transport: Transport) {}

  /**
   * Creates a task and queues its first turn.
   *
   * @example
   * const { id } = await kiln.tasks.create({ message: 'Summarise uploads/report.pdf', files: [file] });
   */
  async create(input: CreateTaskInput): Promise<TaskCreated> {
    const { files, signal, onUploadProgress, ...fields } = input;
    const extra = { ...(signal ? { signal } : {}), ...(onUploadProgress ? { onUploadProgress } : {}) };
    if (files && files.length > 0) {
      const jsonOnly = JSON_ONLY.filter((name) => fields[name] !== undefined);
      if (jsonOnly.length > 0) {
        throw new TypeError(
          `${jsonOnly.join(' and ')} cannot be sent with files: Kiln takes files as multipart and ${jsonOnly.join(', ')} only as JSON. ` +
            'Create the task without files, or pass the files another way (e.g. a follow-up).',
        );
      }
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) {
        if (value !== undefined && value !== null) form.append(name, String(value));
      }
      await appendFiles(form, files);
      return this.transport.data('POST', '/api/v1/tasks', { body: form, ...extra });
    }
    return this.transport.data('POST', '/api/v1/tasks', { json: fields, ...extra });
  }

  /** One page of the caller's tasks, newest activity first; `status` and `q` (text in the message, or an id's start) filter. */
  list(options: { limit?: number; offset?: number; status?: TaskStatus; q?: string; signal?: AbortSignal } = {}): Promise<TaskPage> {
    const { signal, ...query } = options;
    return this.transport
      .json<{ data: TaskListItem[]; pagination: Pagination }>('GET', '/api/v1/tasks', { query, ...(signal ? { signal } : {}) })
      .then((body) => ({ tasks: body.data, pagination: body.pagination }));
  }

  /**
   * Every task of the caller, page after page.
   *
   * @example
   * for await (const task of kiln.tasks.iterate()) console.log(task.id, task.status);
   */
  async *iterate(options: { pageSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<TaskListItem, void, undefined> {
    const limit = options.pageSize ?? 100;
    // The order is by latest activity, which moves while we page: a task that moves up reappears
    // on a later page; yield each once.
    const seen = new Set<string>();
    for (let offset = 0; ; offset += limit) {
      const page = await this.list({ limit, offset, ...(options.signal ? { signal: options.signal } : {}) });
      for (const task of page.tasks) {
        if (seen.has(task.id)) continue;
        seen.add(task.id);
        yield task;
      }
      if (!page.pagination.hasMore || page.tasks.length === 0) return;
    }
  }

  /** A task, with `output` once started and `pendingApprovals` while calls wait. */
  get(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskDetail> {
    return this.transport.data('GET', `/api/v1/tasks/${seg(id)}`, options);
  }

  /** Tokens and new tasks per day (UTC) and per agent over the last `days` days (30 by default). */
  usage(options: { days?: number; signal?: AbortSignal } = {}): Promise<UsageReport> {
    const { signal, days } = options;
    return this.transport.data('GET', '/api/v1/usage', { query: { days }, ...(signal ? { signal } : {}) });
  }

  /** The task's conversation. */
  history(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskHistory> {
    return this.transport.data('GET', `/api/v1/tasks/${seg(id)}/history`, options);
  }

  /**
   * Sends a follow-up message, which starts a new turn (the current one must have ended).
   *
   * @example
   * await kiln.tasks.send(id, { message: 'Now as a table' });
   */
  async send(id: string, input: SendInput | string): Promise<FollowUpAccepted> {
    const { message, files, secrets, signal, onUploadProgress } = typeof input === 'string' ? ({ message: input } as SendInput) : input;
    const path = `/api/v1/tasks/${seg(id)}/messages`;
    const options = { ...(signal ? { signal } : {}), ...(onUploadProgress ? { onUploadProgress } : {}) };
    if (files && files.length > 0) {
      if (secrets) throw new TypeError('secrets cannot be sent with files: Kiln takes files as multipart and secrets only as JSON.');
      const form = new FormData();
      form.append('message', message);
      await appendFiles(form, files);
      return this.transport.data('POST', path, { body: form, ...options });
    }
    return this.transport.data('POST', path, { json: secrets ? { message, secrets } : { message }, ...options });
  }

  /**
   * Decides a tool call that waits for approval.
   *
   * @example
   * await kiln.tasks.approve(taskId, callId, 'once');
   */
  approve(id: string, callId: string, outcome: Outcome, options: { signal?: AbortSignal } = {}): Promise<ApprovalResult> {
    const decided = OUTCOMES[outcome];
    if (!decided) throw new TypeError(`outcome must be one of ${Object.keys(OUTCOMES).join(', ')}`);
    return this.transport.data('POST', `/api/v1/tasks/${seg(id)}/tools/${seg(callId)}/approve`, { json: { outcome: decided }, ...options });
  }

  /** Cancels the task's current turn (the task is kept, with status `cancelled`). */
  cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<{ message: string }> {
    return this.transport.data('DELETE', `/api/v1/tasks/${seg(id)}`, options);
  }

  /**
   * The task's events as they happen, until its turn ends. Reconnects by itself after a dropped
   * connection or a server restart (resuming after the last event seen: none lost or repeated).
   *
   * @example
   * for await (const e of kiln.tasks.stream(id)) {
   *   if (e.event === 'content') process.stdout.write(e.data.text);
   * }
   */
  stream(id: string, options: StreamOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    return streamTask(this.transport, id, options);
  }

  /** Waits for the task's current turn to end; resolves with its terminal event. */
  async wait(id: string, options: StreamOptions = {}): Promise<TerminalEvent> {
    let last: TaskEvent | undefined;
    for await (const event of this.stream(id, options)) last = event;
    return last as TerminalEvent;
  }
}
