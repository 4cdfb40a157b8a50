import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { KeyOwner, Storage, TaskFilter, TaskWithHistory } from '../../ports/storage.js';
import { usageReport, type UsageReport } from './usage-report.js';
import type { ModelResolver } from '../../ports/model-resolver.js';
import type { AgentForTask, AgentService } from '../agents/agent-service.js';
import type { TurnSlot } from '../runner/worker-pool.js';
import { userModelMessage } from '../agent/user-message.js';
import type { ArtifactRecorder } from '../artifacts/artifact-recorder.js';
import type { TaskSignals } from '../../ports/task-signals.js';
import { Conflict, Forbidden, InvalidInput, NotFound } from '../errors.js';
import { currentTraceParent } from '../tracing.js';
import type { EventHub } from '../events/event-hub.js';
import type { TokenUsage } from '../events/event-types.js';
import { openTaskStream, STREAM_PAGE, type StreamItem } from '../events/task-stream.js';
import type { EndUserCaller } from '../widgets/widget-types.js';
import type { StagedFile, Workspaces } from '../workspace/workspaces.js';
import { newConversationId } from './ids.js';
import type { SecretVault } from './secret-vault.js';
import { isExecuting, type Message, type Task, type TaskStatus, type Thought, type ToolCallView, type ToolPolicy } from './task-types.js';
import { turnEndings } from './turn-endings.js';
import { foldTurn, pendingApprovals, type PendingApproval } from './turn-view.js';

export interface CreateTaskInput {
  message: string;
  systemPrompt: string | null;
  showInHistory: boolean;
  /** Null: the agent's default. */
  autoExecute: boolean | null;
  /** Entries override the agent's policy for the tools they name. */
  toolPolicy: ToolPolicy | null;
  model: string | null;
  agentId: string | null;
  workflowId: string | null;
  phaseId: string | null;
  env: Record<string, string> | null;
  secrets: Record<string, string> | null;
  files: StagedFile[];
  /** Limits of each turn; null: the agent's (or none). */
  maxTokens?: number | null;
  maxDurationSeconds?: number | null;
}

export interface FollowUpInput {
  message: string;
  files: StagedFile[];
  secrets: Record<string, string> | null;
}

export interface TaskOutput {
  content: string;
  updatedAt: string;
  usage: TokenUsage;
  thoughts?: Thought[];
  toolCalls?: ToolCallView[];
}

export interface TaskDetail {
  task: Task;
  output: TaskOutput | null;
  pendingApprovals: PendingApproval[];
}

const TURN_EVENTS_LIMIT = 1_000_000;

/** What a widget end user's tasks run with: decided by the widget app, with the token's env and secrets. */
export interface EndUserSettings {
  variables(endUser: EndUserCaller): Promise<{
    env: Record<string, string>;
    secrets: Record<string, string>;
    app: { agentId: string | null; autoExecute: boolean | null };
  }>;
}

/** Task fields the widget app decides; a widget token may not set them. */
// The turn budgets too: a task's own would replace those of the app's agent.
const APP_DECIDED = ['systemPrompt', 'autoExecute', 'toolPolicy', 'model', 'agentId', 'workflowId', 'phaseId', 'env', 'secrets', 'maxTokens', 'maxDurationSeconds'] as const;

/**
 * The task use cases: create, read, follow up, cancel, stream. Every call is made on behalf of
 * an authenticated caller and sees only that caller's tasks.
 */
export class TaskService {
  constructor(
    private readonly deps: {
      storage: Storage;
      hub: EventHub;
      signals: TaskSignals;
      workspaces: Workspaces;
      secrets: SecretVault;
      models: ModelResolver;
      agents: AgentService;
      recorder: ArtifactRecorder;
      /** This process's address for other Kiln processes, when several share the work (else null). */
      secretsHolder: () => string | null;
      endUsers: EndUserSettings;
      /** This process's worker pool, when it runs turns: a new task's first turn may start in it at once. */
      turns: { reserve(userId: string): TurnSlot | null } | null;
    },
  ) {}

  async create(caller: KeyOwner, requested: CreateTaskInput): Promise<{ id: string; status: TaskStatus }> {
    const { storage, workspaces } = this.deps;
    const input = caller.endUser ? await this.endUserInput(caller.endUser, requested) : requested;
    this.deps.secrets.check(input.secrets);
    const agent = await this.deps.agents.forTask(caller, input.agentId);
    const asAgent = this.asAgent(input, agent);
    const id = randomUUID();
    const now = new Date().toISOString();
    // The workspace is made when something first goes in it: here for uploads, else by the turn.
    if (input.files.length > 0) await workspaces.create(id);
    let releaseSecrets = () => {};
    let slot: TurnSlot | null = null;
    let handOver: (() => void) | null = null;
    try {
      const attachedFiles = await workspaces.adoptUploads(id, input.files);
      const task: Task = {
        id,
        userId: caller.userId,
        username: caller.username,
        apiKeyId: caller.apiKeyId,
        sessionId: randomUUID(),
        conversationId: newConversationId(),
        status: 'pending',
        message: input.message,
        systemPrompt: input.systemPrompt,
        showInHistory: input.showInHistory,
        ...asAgent,
        env: input.env,
        model: input.model,
        workflowId: input.workflowId,
        phaseId: input.phaseId,
        endUser: caller.endUser ? { appId: caller.endUser.appId, endUserId: caller.endUser.endUserId } : null,
        secretsHolder: hasSecrets(input.secrets) ? this.deps.secretsHolder() : null,
        error: null,
        createdAt: now,
        startedAt: null,
        completedAt: null,
        lastActivityAt: now,
        messageCount: 1,
        turn: 1,
        turnStartSeq: 0,
        lastEventSeq: 0,
        traceParent: currentTraceParent(),
        maxTokens: input.maxTokens ?? null,
        maxDurationSeconds: input.maxDurationSeconds ?? null,
      };
      const message: Message = { seq: 1, turn: 1, role: 'user', content: input.message, createdAt: now };
      if (attachedFiles.length > 0) message.attachedFiles = attachedFiles.map(({ name, path }) => ({ name, path }));
      // Recorded before the task is queued, so that no turn can race the uploads' first versions.
      for (const file of attachedFiles) await this.deps.recorder.recordFile(task, file.path, 'upload', [], now, file.known);
      // Held before the task is queued, so that the worker that claims it finds them.
      if (hasSecrets(input.secrets)) releaseSecrets = this.deps.secrets.hold(id, task.turn, input.secrets);
      const modelMessage = userModelMessage(message);
      // The turn starts here at once when this process has room for it and the agent is at hand whole.
      slot = agent.whole ? (this.deps.turns?.reserve(caller.userId) ?? null) : null;
      if (slot) Object.assign(task, { status: 'running', startedAt: new Date().toISOString() });
      if (await storage.tasks.create(task, message, modelMessage, agent.revision, slot?.lease)) {
        const held = slot;
        // The turn's conversation is that one message, as the store keeps it.
        if (held) handOver = () => held.run({ task, agent: agent.whole, conversation: [{ seq: 1, turn: 1, body: JSON.parse(JSON.stringify(modelMessage)) }] });
      } else {
        // The agent changed since it was remembered: the task takes it as it now is, queued.
        slot?.release();
        slot = null;
        Object.assign(task, this.asAgent(input, await this.deps.agents.forTask(caller, input.agentId, true)), { status: 'pending', startedAt: null });
        await storage.tasks.create(task, message, modelMessage);
      }
    } catch (error) {
      slot?.release();
      releaseSecrets();
      await fs.rm(workspaces.dir(id), { recursive: true, force: true });
      throw error;
    }
    if (handOver) handOver();
    else this.deps.signals.queuedHere();
    return { id, status: 'pending' };
  }

  /** What a new task takes from its agent, with the requested model checked. */
  private asAgent(input: CreateTaskInput, agent: AgentForTask): Pick<Task, 'agentId' | 'autoExecute' | 'toolPolicy'> {
    const model = input.model ?? agent.model;
    if (model !== null) {
      try {
        this.deps.models.resolve(model);
      } catch (error) {
        throw new InvalidInput(`model: ${(error as Error).message}`, 'model');
      }
    }
    const toolPolicy = agent.toolPolicy || input.toolPolicy ? { ...agent.toolPolicy, ...input.toolPolicy } : null;
    return { agentId: agent.id, autoExecute: input.autoExecute ?? agent.autoExecute, toolPolicy };
  }

  async list(caller: KeyOwner, limit: number, offset: number, filter: TaskFilter = {}): Promise<{ tasks: Task[]; total: number }> {
    return this.deps.storage.tasks.list(caller.userId, limit, offset, { ...filter, ...(caller.endUser ? { endUser: caller.endUser } : {}) });
  }

  /** The caller's tokens and new tasks per day and per agent over the last `days` days. */
  usage(caller: KeyOwner, days: number): Promise<UsageReport> {
    return usageReport(this.deps.storage.tasks, caller, days);
  }

  async get(caller: KeyOwner, id: string): Promise<TaskDetail> {
    const task = await this.owned(caller, id);
    if (task.startedAt === null) return { task, output: null, pendingApprovals: [] };
    const events = await this.deps.storage.tasks.eventsAfter(task.id, task.turnStartSeq, TURN_EVENTS_LIMIT);
    const view = foldTurn(events);
    const output: TaskOutput = { content: view.content, updatedAt: view.updatedAt ?? task.startedAt, usage: view.usage };
    if (view.thoughts.length > 0) output.thoughts = view.thoughts;
    if (view.toolCalls.length > 0) output.toolCalls = view.toolCalls;
    return { task, output, pendingApprovals: pendingApprovals(view) };
  }

  /** The task with its messages and last event (and, while a turn executes, up to `turnEvents` of its events). */
  async history(caller: KeyOwner, id: string, turnEvents = 0): Promise<TaskWithHistory> {
    const opened = await this.deps.storage.tasks.getWithHistory(id, caller.userId, caller.endUser, turnEvents);
    if (!opened) throw taskNotFound();
    return opened;
  }

  /**
   * Starts the next turn with a new user message. Refused while the current turn is executing.
   * The new turn has the secrets sent with this follow-up, and no others.
   */
  async followUp(caller: KeyOwner, id: string, requested: FollowUpInput): Promise<{ status: TaskStatus }> {
    if (caller.endUser && requested.secrets !== null) throw appDecides('secrets');
    const input = caller.endUser ? { ...requested, secrets: await this.endUserVariables(caller.endUser) } : requested;
    this.deps.secrets.check(input.secrets);
    const task = await this.owned(caller, id);
    if (task.status === 'pending' || task.status === 'running' || task.status === 'awaiting_approval') throw busy(task.status);
    if (input.files.length > 0) await this.deps.workspaces.create(task.id);
    const attachedFiles = await this.deps.workspaces.adoptUploads(task.id, input.files);
    for (const file of attachedFiles) await this.deps.recorder.recordFile({ ...task, turn: task.turn + 1 }, file.path, 'upload', [], undefined, file.known);
    const message: Omit<Message, 'seq' | 'turn'> = { role: 'user', content: input.message, createdAt: new Date().toISOString() };
    if (attachedFiles.length > 0) message.attachedFiles = attachedFiles.map(({ name, path }) => ({ name, path }));
    const releaseSecrets = hasSecrets(input.secrets) ? this.deps.secrets.hold(task.id, task.turn + 1, input.secrets) : () => {};
    const holder = hasSecrets(input.secrets) ? this.deps.secretsHolder() : null;
    const result = await this.deps.storage.tasks.startFollowUp(task.id, caller.userId, message, message.createdAt, holder, userModelMessage(message), currentTraceParent()).catch((error) => {
      releaseSecrets();
      throw error;
    });
    if (result === undefined || result === 'busy') {
      releaseSecrets();
      throw result === undefined ? taskNotFound() : busy('running');
    }
    this.deps.signals.queuedHere();
    return { status: result.status };
  }

  /** Cancels the current turn. Cancelling a cancelled task again is a no-op. */
  async cancel(caller: KeyOwner, id: string): Promise<void> {
    const task = await this.owned(caller, id);
    if (task.status === 'cancelled') return;
    const logged = await this.deps.storage.tasks.endTurn({ taskId: task.id, turn: task.turn }, turnEndings.cancelled, new Date().toISOString());
    if (!logged) {
      const now = await this.owned(caller, id);
      if (now.status === 'cancelled') return;
      throw new Conflict(`Task is already ${now.status}; only pending, running or awaiting_approval tasks can be cancelled.`);
    }
    this.deps.hub.publish(task.id, logged);
    this.deps.signals.stop(task.id);
    this.deps.signals.turnEnded(task.id, task.turn);
  }

  /**
   * Checks access, then returns the task's stream (see {@link openTaskStream}), or null when
   * `lastEventId` is at or past the end of a task whose turn has ended: there is nothing more to
   * send until a follow-up.
   */
  async stream(caller: KeyOwner, id: string, lastEventId: number | undefined, signal: AbortSignal): Promise<AsyncGenerator<StreamItem> | null> {
    const deps = { tasks: this.deps.storage.tasks, hub: this.deps.hub };
    return openTaskStream(deps, id, async () => {
      if (lastEventId === undefined) return this.history(caller, id, STREAM_PAGE);
      const task = await this.owned(caller, id);
      return !isExecuting(task.status) && lastEventId >= task.lastEventSeq ? null : { task, lastEventId };
    }, signal);
  }

  /**
   * A widget end user's task: the app's agent and approval setting, and the app's and the
   * token's env and secrets. They all reach the task's commands as secrets: held in memory for
   * the turn, redacted from output, never stored with the task nor shown to the browser.
   */
  private async endUserInput(endUser: EndUserCaller, input: CreateTaskInput): Promise<CreateTaskInput> {
    for (const field of APP_DECIDED) if ((input[field] ?? null) !== null) throw appDecides(field);
    const { app, env, secrets } = await this.deps.endUsers.variables(endUser);
    return { ...input, agentId: app.agentId, autoExecute: app.autoExecute, secrets: { ...env, ...secrets } };
  }

  private async endUserVariables(endUser: EndUserCaller): Promise<Record<string, string>> {
    const { env, secrets } = await this.deps.endUsers.variables(endUser);
    return { ...env, ...secrets };
  }

  private async owned(caller: KeyOwner, id: string): Promise<Task> {
    const task = await this.deps.storage.tasks.get(id, caller.userId, caller.endUser);
    if (!task) throw taskNotFound();
    return task;
  }
}

function hasSecrets(secrets: Record<string, string> | null): secrets is Record<string, string> {
  return secrets !== null && Object.keys(secrets).length > 0;
}

function appDecides(field: string): Forbidden {
  return new Forbidden(`${field} is set by the widget app; a widget token may send only message, files and showInHistory.`);
}

function taskNotFound(): NotFound {
  return new NotFound('Task not found');
}

function busy(status: TaskStatus): Conflict {
  return new Conflict(
    `The task is ${status}: a follow-up can be sent once the current turn has ended (wait for its done event, or cancel it).`,
  );
}
