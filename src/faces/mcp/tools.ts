import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { LoggedEvent } from '../../core/events/event-types.js';
import type { TaskDetail } from '../../core/tasks/task-service.js';
import { waitForTurn } from '../../core/tasks/turn-wait.js';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { MAX_MESSAGE_LENGTH } from '../sigmic/schemas.js';
import { readArtifact } from './artifact-reading.js';
import { toolError } from './tool-errors.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The longest a tool waits for a turn to settle. MCP clients have request timeouts of their own (often 60 s). */
const MAX_WAIT_SECONDS = 300;
const MAX_LIST = 100;

const taskId = z.string().min(1).max(200).describe('The id of a task, as create_task or list_tasks returned it.');
const message = z.string().min(1).max(MAX_MESSAGE_LENGTH).refine((m) => m.trim() !== '', 'message must not be empty');
const waitSeconds = z
  .number()
  .int()
  .min(0)
  .max(MAX_WAIT_SECONDS)
  .optional()
  .describe(
    `Wait up to this many seconds (at most ${MAX_WAIT_SECONDS}) for the task to finish or to stop for an approval, then answer with its state. ` +
      'Without it the tool answers at once. Keep it below your client\'s request timeout.',
  );

/**
 * The tools Kiln offers over MCP, acting for one caller. They call the same core services as
 * the native API, with the same tenant rules: another user's task is "not found".
 */
export function registerTools(server: McpServer, deps: FaceDeps, context: { caller: KeyOwner; baseUrl: string }): void {
  const { caller } = context;

  /** The task's state, after waiting (when asked) for its current turn to settle. */
  async function settled(id: string, seconds: number | undefined, extra: Extra): Promise<CallToolResult> {
    let detail = await deps.tasks.get(caller, id);
    const executing = detail.task.status === 'pending' || detail.task.status === 'running';
    if (seconds && executing) {
      await waitForTurn(deps.tasks, caller, id, detail.task.lastEventSeq, {
        timeoutMs: seconds * 1000,
        signal: extra.signal,
        onEvent: progressReporter(extra),
      });
      detail = await deps.tasks.get(caller, id);
    }
    return json(taskSummary(detail, seconds));
  }

  server.registerTool(
    'create_task',
    {
      title: 'Create a task',
      description:
        'Starts an AI-agent task in a fresh private workspace. The agent can run shell commands and read and write files there. ' +
        'Returns the task id and status; with waitSeconds, waits for the final answer (or for a tool call that needs approval).',
      inputSchema: {
        message: message.describe('What the agent should do.'),
        systemPrompt: z.string().max(100_000).optional().describe('Extra instructions for the agent, after Kiln\'s own.'),
        agentId: z.string().min(1).max(200).optional().describe('Run as this agent (its prompt, model and tool policy). Default: your default agent.'),
        autoExecute: z
          .boolean()
          .optional()
          .describe('false: every tool call waits for decide_approval before it runs. Default: the agent\'s setting (true unless changed).'),
        waitSeconds,
      },
      annotations: { openWorldHint: true },
    },
    guarded(async (args, extra) => {
      const created = await deps.tasks.create(caller, {
        message: args.message,
        systemPrompt: args.systemPrompt ?? null,
        showInHistory: true,
        autoExecute: args.autoExecute ?? null,
        toolPolicy: null,
        model: null,
        agentId: args.agentId ?? null,
        workflowId: null,
        phaseId: null,
        env: null,
        secrets: null,
        files: [],
      });
      return settled(created.id, args.waitSeconds, extra);
    }),
  );

  server.registerTool(
    'get_task',
    {
      title: 'Get a task',
      description:
        'The state of a task: status (pending, running, awaiting_approval, completed, failed, cancelled), the final answer once completed, ' +
        'the error once failed, the tool calls waiting for a decision, and token usage. With waitSeconds, waits for the current turn to settle first.',
      inputSchema: { taskId, waitSeconds },
      annotations: { readOnlyHint: true },
    },
    guarded(async (args, extra) => settled(args.taskId, args.waitSeconds, extra)),
  );

  server.registerTool(
    'send_message',
    {
      title: 'Send a follow-up message',
      description:
        'Continues a task whose last turn has ended (completed, failed or cancelled) with a new message; the agent keeps the conversation and the workspace. ' +
        'Refused while the task is still working or waiting for approvals.',
      inputSchema: { taskId, message: message.describe('The follow-up message.'), waitSeconds },
      annotations: { openWorldHint: true },
    },
    guarded(async (args, extra) => {
      await deps.tasks.followUp(caller, args.taskId, { message: args.message, files: [], secrets: null });
      return settled(args.taskId, args.waitSeconds, extra);
    }),
  );

  server.registerTool(
    'decide_approval',
    {
      title: 'Decide a tool call',
      description:
        'Decides a tool call that waits for approval (see pendingApprovals of get_task). proceed_once runs it; proceed_always runs it and every later call ' +
        'of the same tool in this task; cancel refuses it (the agent is told and goes on). With waitSeconds, waits for what the task does next.',
      inputSchema: {
        taskId,
        callId: z.string().min(1).max(200).describe('The callId of a pending approval.'),
        outcome: z.enum(['proceed_once', 'proceed_always', 'cancel']),
        waitSeconds,
      },
      annotations: { destructiveHint: false },
    },
    guarded(async (args, extra) => {
      const { approved } = await deps.approvals.decide(caller, args.taskId, args.callId, args.outcome);
      const result = await settled(args.taskId, args.waitSeconds, extra);
      return json({ approved, ...(result.structuredContent ?? {}) });
    }),
  );

  server.registerTool(
    'cancel_task',
    {
      title: 'Cancel a task',
      description: 'Ends the task\'s current turn at once (a running command is killed). The task and its files are kept.',
      inputSchema: { taskId },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    guarded(async (args) => {
      await deps.tasks.cancel(caller, args.taskId);
      return json(taskSummary(await deps.tasks.get(caller, args.taskId), undefined));
    }),
  );

  server.registerTool(
    'list_tasks',
    {
      title: 'List tasks',
      description: 'Your tasks, most recently active first, with their status.',
      inputSchema: {
        limit: z.number().int().min(1).max(MAX_LIST).optional().describe(`How many (1-${MAX_LIST}, default 20).`),
        offset: z.number().int().min(0).optional().describe('How many to skip, for the next page.'),
      },
      annotations: { readOnlyHint: true },
    },
    guarded(async (args) => {
      const limit = args.limit ?? 20;
      const offset = args.offset ?? 0;
      const { tasks, total } = await deps.tasks.list(caller, limit, offset);
      return json({
        tasks: tasks.map((t) => ({ taskId: t.id, status: t.status, message: preview(t.message), createdAt: t.createdAt, lastActivityAt: t.lastActivityAt })),
        total,
        hasMore: offset + tasks.length < total,
      });
    }),
  );

  server.registerTool(
    'list_artifacts',
    {
      title: 'List a task\'s files',
      description: 'The files in a task\'s workspace (uploads, and what the agent wrote), each with its size, media type and latest version.',
      inputSchema: { taskId },
      annotations: { readOnlyHint: true },
    },
    guarded(async (args) => {
      const files = await deps.artifacts.taskFiles(caller, args.taskId);
      return json({
        files: files.map((f) => ({ path: f.path, size: f.latest.size, mediaType: f.latest.mediaType, version: f.latest.number, modifiedAt: f.latest.createdAt })),
      });
    }),
  );

  server.registerTool(
    'read_artifact',
    {
      title: 'Read a task\'s file',
      description:
        'The content of a file of a task\'s workspace (latest version, or the version given). Text comes back as text (the first 256 KiB of a longer file); ' +
        'a binary file is described, with a download link that works without a key for a limited time.',
      inputSchema: {
        taskId,
        path: z.string().min(1).max(4096).describe('A path from list_artifacts, e.g. "downloads/report.md".'),
        version: z.number().int().min(1).optional().describe('A version number (1 is the first); default the latest.'),
      },
      annotations: { readOnlyHint: true },
    },
    guarded(async (args) => {
      const { artifact, version } = await deps.artifacts.taskFile(caller, args.taskId, args.path, args.version);
      return readArtifact(deps, artifact, version, context.baseUrl);
    }),
  );

  /** Runs a tool body; a domain error becomes a tool error the model can read, anything else is logged. */
  function guarded<A>(body: (args: A, extra: Extra) => Promise<CallToolResult>) {
    return async (args: A, extra: Extra): Promise<CallToolResult> => {
      try {
        return await body(args, extra);
      } catch (error) {
        return toolError(error, deps.logger);
      }
    };
  }
}

/** What a tool tells about a task. */
function taskSummary(detail: TaskDetail, waited: number | undefined) {
  const { task, output, pendingApprovals } = detail;
  const stillWorking = task.status === 'pending' || task.status === 'running';
  return {
    taskId: task.id,
    status: task.status,
    ...(task.status === 'completed' ? { finalAnswer: output?.content ?? '' } : {}),
    ...(task.status === 'failed' ? { error: task.error } : {}),
    ...(pendingApprovals.length > 0
      ? { pendingApprovals, next: 'Each call waits for decide_approval (proceed_once, proceed_always or cancel).' }
      : {}),
    ...(stillWorking
      ? { next: waited ? `Still working after ${waited} s: call get_task with waitSeconds to wait longer.` : 'Call get_task with waitSeconds to wait for the answer.' }
      : {}),
    ...(output ? { usage: output.usage } : {}),
    turn: task.turn,
    createdAt: task.createdAt,
    lastActivityAt: task.lastActivityAt,
  };
}

function json(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Sends MCP progress notifications while a tool waits, when the client asked for them (a progress token). */
function progressReporter(extra: Extra): ((event: LoggedEvent) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  let progress = 0;
  return (event) => {
    if (event.type === 'content' || event.type === 'usage' || event.type === 'thought') return;
    const what = event.type === 'tool_call' || event.type === 'tool_result' ? `${event.type} ${event.data.toolName}` : event.type;
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: ++progress, message: what } }).catch(() => {
      // The client went away; the wait ends through its abort signal.
    });
  };
}
