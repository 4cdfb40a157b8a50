import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelMessage } from 'ai';
import { errorMessage, type Logger } from '../../logger.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { CommandRunner } from '../../ports/command-runner.js';
import type { McpConnector } from '../../ports/mcp-client.js';
import type { OutboundFetch } from '../../ports/outbound-http.js';
import type { Instruments } from '../../ports/instruments.js';
import type { ModelResolver } from '../../ports/model-resolver.js';
import type { SecretSource } from '../../ports/secret-source.js';
import type { TaskSignals } from '../../ports/task-signals.js';
import { TurnLost, type ArtifactStore, type ClaimedTurn, type ModelMessageRow, type TaskStore, type TurnCarry, type TurnFence } from '../../ports/storage.js';
import type { Agent } from '../agents/agent-types.js';
import { runAgentTurn, TurnFailure, type PlannedCall } from '../agent/agent-loop.js';
import { fitConversation, recentConversation } from '../agent/context-budget.js';
import { redactingCommands } from '../agent/redacting-commands.js';
import { Redactor } from '../agent/redactor.js';
import { systemPrompt } from '../agent/system-prompt.js';
import { ToolGate } from '../agent/tool-gate.js';
import type { WorkspaceObserver } from '../agent/tool-types.js';
import { ToolExecutor } from '../agent/tools.js';
import { TurnTools } from '../agent/turn-tools.js';
import { userModelMessage } from '../agent/user-message.js';
import { McpToolbox } from '../mcp/mcp-toolbox.js';
import { restoreWorkspace, type ArtifactRecorder } from '../artifacts/artifact-recorder.js';
import type { EventHub } from '../events/event-hub.js';
import { TurnEventWriter } from '../events/event-writer.js';
import { storageFullOf } from '../errors.js';
import type { SecretVault } from '../tasks/secret-vault.js';
import type { Task } from '../tasks/task-types.js';
import { turnEndings } from '../tasks/turn-endings.js';
import { contextOfTraceParent, inSpan } from '../tracing.js';
import type { Workspaces } from '../workspace/workspaces.js';
import { BudgetExceeded, TurnBudget } from './turn-budget.js';

/** Why a worker stopped a turn it was running. */
export class StopReason extends Error {
  constructor(readonly kind: 'cancelled' | 'shutdown') {
    super(kind === 'cancelled' ? 'Task cancelled' : 'Kiln is shutting down');
  }
}

export interface TurnRunnerDeps {
  tasks: TaskStore;
  hub: EventHub;
  models: ModelResolver;
  defaultModel: string;
  commands: CommandRunner;
  toolLimits: { commandTimeoutMs: number; commandOutputLimit: number; workspaceMb: number };
  /** Kiln's outbound fetch when tasks have the network (it offers fetch_url), else null. */
  web: OutboundFetch | null;
  /**
   * Connects to the agent's MCP servers, afresh for each turn; stdio servers are started through
   * `commands` (the turn's, which redact its secrets).
   */
  mcp: (commands: CommandRunner) => McpConnector;
  workspaces: Workspaces;
  artifacts: ArtifactStore;
  blobs: BlobStore;
  recorder: ArtifactRecorder;
  secrets: SecretVault;
  secretSource: SecretSource;
  signals: TaskSignals;
  /** This process's address for other Kiln processes (null when it works alone). */
  self: () => string | null;
  /**
   * True when several processes share the work (PostgreSQL): a turn may then run on another
   * machine than the last one and brings the workspace up to date before it first uses it.
   */
  sharedWork: boolean;
  logger: Logger;
  maxSteps: number;
  retry: { retries: number; baseMs: number };
  contextTokens: number;
  instruments: Instruments;
}

/** How a turn stopped on this worker, for the turn-duration metric. */
type TurnOutcome = 'completed' | 'failed' | 'cancelled' | 'awaiting_approval' | 'handed_back' | 'lost';

const COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STORAGE_FULL_MESSAGE =
  "The server's disk is full: this turn could not record its work and was stopped. Free space on the server (or raise its quota), then send a follow-up message to continue.";
/** Longest wait between attempts to record the end of a turn while the disk is full. */
const FULL_DISK_RETRY_MAX_MS = 30_000;

/** Runs one claimed turn of a task to its end, and ends it truthfully whatever happens. */
export class TurnRunner {
  constructor(private readonly deps: TurnRunnerDeps) {}

  async run({ task, agent, conversation }: ClaimedTurn, owner: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const outcome = await inSpan(
      'kiln.turn',
      { 'kiln.task.id': task.id, 'kiln.turn': task.turn },
      async (span) => {
        const outcome = await this.runTurn(task, agent, conversation, owner, signal);
        span.setAttribute('kiln.turn.outcome', outcome);
        return outcome;
      },
      contextOfTraceParent(task.traceParent),
    );
    this.deps.instruments.turnEnded(outcome, (performance.now() - started) / 1000);
  }

  /** Runs the turn and says how it stopped on this worker. */
  private async runTurn(task: Task, agent: Agent | undefined, claimedConversation: ModelMessageRow[] | undefined, owner: string, signal: AbortSignal): Promise<TurnOutcome> {
    const { tasks, hub, logger } = this.deps;
    const fence: TurnFence = { taskId: task.id, turn: task.turn, leaseOwner: owner };
    const log = logger.child({ task: task.id, turn: task.turn });
    const writer = new TurnEventWriter(tasks, hub, fence, task.lastEventSeq);
    // The task row as this worker's writes left it (claimed, then its events appended): the end is written from it.
    const current = (): Task => ({ ...task, lastEventSeq: writer.lastSeq });
    const secrets = await this.secretsOf(task, writer);
    const redactor = new Redactor(secrets);
    const started = Date.now();
    // Stopped by the pool (cancel, shutdown) or from within, when the disk is full.
    const turnControl = new AbortController();
    const forward = () => turnControl.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener('abort', forward, { once: true });
    let budget: TurnBudget | null = null;
    try {
      const workspace = this.deps.workspaces.dir(task.id);
      // Made (or, when processes share the work, brought up to date from the blob store) when the
      // turn first needs it (a tool, an MCP server): a chat turn never touches files.
      let made: Promise<unknown> | null = null;
      const ensureWorkspace = () =>
        (made ??= this.deps.sharedWork
          ? restoreWorkspace({ artifacts: this.deps.artifacts, blobs: this.deps.blobs, workspaces: this.deps.workspaces }, task.id).then((restored) => {
              if (restored > 0) log.info('workspace brought up to date from the blob store', { files: restored });
            })
          : this.deps.workspaces.create(task.id));
      const model = this.deps.models.resolve(task.model ?? agent?.model ?? this.deps.defaultModel).model;
      // A task's own limits win over its agent's; time waiting for approval does not count.
      budget = new TurnBudget(
        { maxTokens: task.maxTokens ?? agent?.maxTokens ?? null, maxDurationSeconds: task.maxDurationSeconds ?? agent?.maxDurationSeconds ?? null },
        (reason) => turnControl.abort(reason),
      );
      const spending = budget;
      const { messages, resumed } = await this.conversation(task, fence, claimedConversation);
      const gate = async () => new ToolGate(task.toolPolicy, task.autoExecute, await tasks.eventsOfType(task.id, ['tool_approval']));
      // A resumed turn was announced as processing by the decision that resumed it.
      if (!resumed) writer.emit({ type: 'status', data: { status: 'processing' } });
      const env = { PATH: COMMAND_PATH, HOME: workspace, LANG: 'C.UTF-8', ...task.env, ...secrets };
      const commands = redactingCommands(this.deps.commands, redactor);
      if (agent?.mcpServers) await ensureWorkspace();
      const mcp = await McpToolbox.open(agent?.mcpServers ?? null, this.deps.mcp(commands), {
        taskId: task.id,
        workspace,
        env: task.env ?? {},
        processEnv: env,
        secrets,
        redactor,
        workspaceMb: this.deps.toolLimits.workspaceMb,
        signal: turnControl.signal,
      });
      for (const problem of mcp.problems) {
        writer.emit({ type: 'status', data: { status: 'processing', message: problem } });
        log.warn('MCP server not available for this turn', { problem });
      }
      let result: Awaited<ReturnType<typeof runAgentTurn>>;
      const tools = new TurnTools(new ToolExecutor(commands, this.deps.toolLimits, this.deps.web), mcp, ensureWorkspace);
      try {
        result = await runAgentTurn(
          {
            model,
            system: systemPrompt({ agent: agent?.systemPrompt ?? null, task: task.systemPrompt }),
            messages,
            tools,
            toolContext: { taskId: task.id, workspace, files: this.observer(task, turnControl), env, signal: turnControl.signal },
            maxSteps: this.deps.maxSteps,
            redactor,
            gate,
            retry: this.deps.retry,
            signal: turnControl.signal,
            instruments: this.deps.instruments,
          },
          {
            emit: (event) => {
              writer.emit(event);
              spending.count(event);
            },
            flush: () => writer.flush(),
            saveModelMessages: (list) => tasks.appendModelMessages(fence, list),
          },
        );
      } finally {
        await mcp.close();
      }
      if (result.kind === 'awaiting_approval') {
        await writer.flush();
        await this.park(fence, result.calls, redactor, tools);
        log.info('turn waiting for approval', { calls: result.calls.length, ms: Date.now() - started });
        return 'awaiting_approval';
      }
      // The turn's last events and model messages are written with its end, in one transaction.
      const events = await writer.takeUnwritten();
      await this.endRecorded(current(), fence, turnEndings.completed, signal, log, { events, modelMessages: result.messages });
      log.info('turn completed', { ms: Date.now() - started });
      return 'completed';
    } catch (error) {
      // A cancel ends the turn in the store first, so the worker's next write may fail as lost: the cancel is what happened.
      const reason = signal.aborted ? signal.reason : undefined;
      if (reason instanceof StopReason && reason.kind === 'cancelled') {
        log.info('turn cancelled', { ms: Date.now() - started });
        return 'cancelled';
      }
      if (error instanceof TurnLost) {
        log.info('turn ended elsewhere; stopped working on it');
        return 'lost';
      }
      await writer.flush().catch(() => {});
      const storageFull = storageFullOf(turnControl.signal.reason) || storageFullOf(error);
      if (!storageFull && reason instanceof StopReason && reason.kind === 'shutdown' && (await this.handBack(fence, log))) return 'handed_back';
      const { message, code } =
        storageFull
          ? { message: STORAGE_FULL_MESSAGE, code: 'STORAGE_FULL' }
          : turnControl.signal.reason instanceof BudgetExceeded
            ? { message: turnControl.signal.reason.message, code: 'BUDGET_EXCEEDED' }
            : reason instanceof StopReason
              ? { message: 'Kiln shut down while this turn was running. Send a follow-up message to continue.', code: 'INTERRUPTED' }
              : describeFailure(error, redactor);
      await this.endRecorded(current(), fence, turnEndings.failed(message, code), signal, log).catch((endError) => {
        if (!(endError instanceof TurnLost)) log.error('could not record the failed turn', { error: errorMessage(endError) });
      });
      log.warn('turn failed', { code, error: message });
      return 'failed';
    } finally {
      budget?.end();
      signal.removeEventListener('abort', forward);
    }
  }

  /**
   * Ends the turn; while the disk is too full for the database to record it, tries again (until
   * space is freed, or the worker stops), so the turn ends as what happened, not as a crash.
   */
  private async endRecorded(task: Task, fence: TurnFence, decide: Parameters<TaskStore['endTurn']>[1], signal: AbortSignal, log: Logger, carried?: TurnCarry): Promise<void> {
    for (let delay = 1000; ; delay = Math.min(delay * 2, FULL_DISK_RETRY_MAX_MS)) {
      try {
        await this.end(task, fence, decide, carried);
        return;
      } catch (error) {
        if (!storageFullOf(error) || signal.aborted) throw error;
        log.error('the disk is full: the end of this turn is recorded once space is freed', { retryInMs: delay });
        await sleep(delay, undefined, { signal }).catch(() => {});
      }
    }
  }

  /**
   * Gives a turn cut short by shutdown back to the queue, saying so in its stream: another worker
   * (or this one, once restarted) claims it and carries on from the steps already saved.
   */
  private async handBack(fence: TurnFence, log: Logger): Promise<boolean> {
    try {
      const noted = await this.deps.tasks.amendTurn(
        fence,
        () => ({
          events: [{ type: 'status' as const, data: { status: 'processing' as const, message: 'This worker is shutting down; the turn goes back to the queue and continues on the next worker.' } }],
          result: null,
        }),
        new Date().toISOString(),
      );
      if (!noted || !(await this.deps.tasks.releaseTurn(fence, new Date().toISOString()))) return false;
      this.deps.hub.publish(fence.taskId, noted.events);
      log.info('turn handed back to the queue (shutting down)');
      return true;
    } catch (error) {
      if (!(error instanceof TurnLost)) log.error('could not hand the turn back', { error: errorMessage(error) });
      return false;
    }
  }

  /** `task`: the row as this worker's writes left it, so the store need not read and lock it. */
  private async end(task: Task, fence: TurnFence, decide: Parameters<TaskStore['endTurn']>[1], carried?: TurnCarry): Promise<void> {
    const logged = await this.deps.tasks.endTurn(fence, decide, new Date().toISOString(), carried, task);
    if (!logged) throw new TurnLost(fence.taskId);
    this.deps.hub.publish(fence.taskId, logged);
    // Only a turn with secrets has anything to let go of; most turns spare the signal (a round trip on PostgreSQL).
    if (task.secretsHolder || this.deps.secrets.get(task.id)) this.deps.signals.turnEnded(fence.taskId, fence.turn);
  }

  /**
   * The secrets of this turn: held here, or fetched from the process that received them (when
   * API and worker processes are separate). Fetched ones are kept only while this run lasts. When
   * they cannot be had, the turn goes on without them and says so.
   */
  private async secretsOf(task: Task, writer: TurnEventWriter): Promise<Record<string, string>> {
    const held = this.deps.secrets.get(task.id, task.turn);
    if (held) return held;
    if (!task.secretsHolder || task.secretsHolder === this.deps.self()) return {};
    const fetched = await this.deps.secretSource.fetch(task.secretsHolder, task.id);
    if (fetched) return fetched;
    writer.emit({
      type: 'status',
      data: { status: 'processing', message: 'The secrets sent with this task are no longer available (the process holding them restarted); commands run without them. Send them again with a follow-up.' },
    });
    return {};
  }

  /**
   * Records the turn's file changes as artifact versions. Files the agent read earlier in the turn
   * are taken as what a file it writes was made from.
   */
  private observer(task: Task, turnControl: AbortController): WorkspaceObserver {
    const read = new Set<string>();
    // A change that cannot be recorded for a full disk stops the turn: its work would be lost.
    const recording = async <T>(record: () => Promise<T>): Promise<T> => {
      try {
        return await record();
      } catch (error) {
        const full = storageFullOf(error);
        if (full) turnControl.abort(full);
        throw error;
      }
    };
    return {
      read: async (relative) => {
        const artifact = await this.deps.artifacts.findByPath(task.id, relative);
        if (artifact) read.add(artifact.id);
      },
      written: async (relative) => {
        const artifact = await recording(() => this.deps.recorder.recordFile(task, relative, 'tool', [...read]));
        if (artifact) read.delete(artifact.id);
      },
      commandRan: () => recording(() => this.deps.recorder.scan(task, 'command')),
    };
  }

  /**
   * Parks the turn until a person decides: the calls are shown as awaiting approval and the
   * worker lets go of the task in the same transaction, so a decision can never arrive while
   * the task still looks busy.
   */
  private async park(fence: TurnFence, calls: PlannedCall[], redactor: Redactor, tools: TurnTools): Promise<void> {
    const parked = await this.deps.tasks.amendTurn(
      fence,
      () => ({
        events: [
          ...calls.map((call) => ({
            type: 'tool_call' as const,
            data: {
              callId: call.callId,
              toolName: call.toolName,
              ...(tools.serverOf(call.toolName) ? { server: tools.serverOf(call.toolName) } : {}),
              status: 'awaiting_approval' as const,
              args: redactor.deep(call.args),
            },
          })),
          { type: 'status' as const, data: { status: 'awaiting_approval' as const } },
        ],
        status: 'awaiting_approval',
        result: null,
      }),
      new Date().toISOString(),
    );
    if (!parked) throw new TurnLost(fence.taskId);
    this.deps.hub.publish(fence.taskId, parked.events);
  }

  /**
   * The model conversation so far, the user's message of this turn included (it is stored with
   * the task or follow-up). The turn is resumed when the model already answered in it. `claimed`
   * is the whole conversation when the claim brought it.
   */
  private async conversation(task: Task, fence: TurnFence, claimed: ModelMessageRow[] | undefined): Promise<{ messages: ModelMessage[]; resumed: boolean }> {
    const { saved, unreadTurns } = await recentConversation(
      async (beforeSeq, limit) => (claimed && beforeSeq === null ? claimed : this.deps.tasks.recentModelMessages(task.id, beforeSeq, limit)),
      task.turn,
      this.deps.contextTokens,
    );
    const messages = fitConversation(saved, task.turn, this.deps.contextTokens, unreadTurns);
    const ofTurn = saved.filter((m) => m.turn === task.turn);
    if (ofTurn.length > 0) return { messages, resumed: ofTurn.some((m) => (m.body as ModelMessage).role !== 'user') };
    // A turn queued by an earlier version of Kiln, which stored the user's message when the turn began.
    const latest = (await this.deps.tasks.messages(task.id)).filter((m) => m.role === 'user').at(-1);
    const user = userModelMessage(latest ?? { content: '' });
    await this.deps.tasks.appendModelMessages(fence, [user]);
    return { messages: [...messages, user], resumed: false };
  }
}

function describeFailure(error: unknown, redactor: Redactor): { message: string; code: string } {
  if (error instanceof TurnFailure) return { message: error.message, code: error.code };
  return { message: redactor.text(errorMessage(error)) || 'The turn failed without a message.', code: 'TASK_FAILED' };
}
