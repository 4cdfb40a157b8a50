import type { ModelMessage, UserContent } from 'ai';
import { errorMessage, type Logger } from '../../logger.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { Instruments } from '../../ports/instruments.js';
import type { ModelResolver } from '../../ports/model-resolver.js';
import type { SecretSource } from '../../ports/secret-source.js';
import { TurnLost, type AgentStore, type ArtifactStore, type TaskStore, type TurnFence } from '../../ports/storage.js';
import { runAgentTurn, TurnFailure, type PlannedCall } from '../agent/agent-loop.js';
import { fitConversation } from '../agent/context-budget.js';
import { Redactor } from '../agent/redactor.js';
import { systemPrompt } from '../agent/system-prompt.js';
import { ToolGate } from '../agent/tool-gate.js';
import type { ToolExecutor, WorkspaceObserver } from '../agent/tools.js';
import { restoreWorkspace, type ArtifactRecorder } from '../artifacts/artifact-recorder.js';
import type { EventHub } from '../events/event-hub.js';
import { TurnEventWriter } from '../events/event-writer.js';
import type { SecretVault } from '../tasks/secret-vault.js';
import type { Message, Task } from '../tasks/task-types.js';
import { turnEndings } from '../tasks/turn-endings.js';
import { contextOfTraceParent, inSpan } from '../tracing.js';
import type { Workspaces } from '../workspace/workspaces.js';

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
  tools: ToolExecutor;
  workspaces: Workspaces;
  artifacts: ArtifactStore;
  blobs: BlobStore;
  recorder: ArtifactRecorder;
  agents: AgentStore;
  secrets: SecretVault;
  secretSource: SecretSource;
  /** This process's address for other Kiln processes (null when it works alone). */
  self: () => string | null;
  /**
   * True when several processes share the work (PostgreSQL): a turn may then run on another
   * machine than the last one and first brings the workspace up to date.
   */
  sharedWork: boolean;
  logger: Logger;
  maxSteps: number;
  retry: { retries: number; baseMs: number };
  contextTokens: number;
  instruments: Instruments;
  /** Whether spans are exported (the AI SDK's telemetry is turned on with them). */
  tracing: boolean;
}

/** How a turn stopped on this worker, for the turn-duration metric. */
type TurnOutcome = 'completed' | 'failed' | 'cancelled' | 'awaiting_approval' | 'handed_back' | 'lost';

const COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs one claimed turn of a task to its end, and ends it truthfully whatever happens. */
export class TurnRunner {
  constructor(private readonly deps: TurnRunnerDeps) {}

  async run(task: Task, owner: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const outcome = await inSpan(
      'kiln.turn',
      { 'kiln.task.id': task.id, 'kiln.turn': task.turn },
      async (span) => {
        const outcome = await this.runTurn(task, owner, signal);
        span.setAttribute('kiln.turn.outcome', outcome);
        return outcome;
      },
      contextOfTraceParent(task.traceParent),
    );
    this.deps.instruments.turnEnded(outcome, (performance.now() - started) / 1000);
  }

  /** Runs the turn and says how it stopped on this worker. */
  private async runTurn(task: Task, owner: string, signal: AbortSignal): Promise<TurnOutcome> {
    const { tasks, hub, logger } = this.deps;
    const fence: TurnFence = { taskId: task.id, turn: task.turn, leaseOwner: owner };
    const log = logger.child({ task: task.id, turn: task.turn });
    const writer = new TurnEventWriter(tasks, hub, fence);
    const secrets = await this.secretsOf(task, writer);
    const redactor = new Redactor(secrets);
    const started = Date.now();
    try {
      if (this.deps.sharedWork) {
        const restored = await restoreWorkspace({ artifacts: this.deps.artifacts, blobs: this.deps.blobs, workspaces: this.deps.workspaces }, task.id);
        if (restored > 0) log.info('workspace brought up to date from the blob store', { files: restored });
      }
      const workspace = this.deps.workspaces.dir(task.id);
      const agent = await this.deps.agents.get(task.userId, task.agentId);
      const model = this.deps.models.resolve(task.model ?? agent?.model ?? this.deps.defaultModel).model;
      const { messages, resumed } = await this.conversation(task, fence);
      const gate = new ToolGate(task.toolPolicy, task.autoExecute, await tasks.eventsOfType(task.id, ['tool_approval']));
      // A resumed turn was announced as processing by the decision that resumed it.
      if (!resumed) writer.emit({ type: 'status', data: { status: 'processing' } });
      const result = await runAgentTurn(
        {
          model,
          system: systemPrompt({ agent: agent?.systemPrompt ?? null, task: task.systemPrompt }),
          messages,
          tools: this.deps.tools,
          toolContext: {
            taskId: task.id,
            workspace,
            files: this.observer(task),
            env: { PATH: COMMAND_PATH, HOME: workspace, LANG: 'C.UTF-8', ...task.env, ...secrets },
            signal,
          },
          maxSteps: this.deps.maxSteps,
          redactor,
          gate,
          retry: this.deps.retry,
          signal,
          instruments: this.deps.instruments,
          tracing: this.deps.tracing,
        },
        {
          emit: (event) => writer.emit(event),
          flush: () => writer.flush(),
          saveModelMessages: (list) => tasks.appendModelMessages(fence, list),
        },
      );
      await writer.flush();
      if (result.kind === 'awaiting_approval') {
        await this.park(fence, result.calls, redactor);
        log.info('turn waiting for approval', { calls: result.calls.length, ms: Date.now() - started });
        return 'awaiting_approval';
      }
      await this.end(fence, turnEndings.completed);
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
      if (reason instanceof StopReason && reason.kind === 'shutdown' && (await this.handBack(fence, log))) return 'handed_back';
      const { message, code } =
        reason instanceof StopReason
          ? { message: 'Kiln shut down while this turn was running. Send a follow-up message to continue.', code: 'INTERRUPTED' }
          : describeFailure(error, redactor);
      await this.end(fence, turnEndings.failed(message, code)).catch((endError) => {
        if (!(endError instanceof TurnLost)) log.error('could not record the failed turn', { error: errorMessage(endError) });
      });
      log.warn('turn failed', { code, error: message });
      return 'failed';
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

  private async end(fence: TurnFence, decide: Parameters<TaskStore['endTurn']>[1]): Promise<void> {
    const terminal = await this.deps.tasks.endTurn(fence, decide, new Date().toISOString());
    if (!terminal) throw new TurnLost(fence.taskId);
    this.deps.hub.publish(fence.taskId, [terminal]);
  }

  /**
   * The task's secrets: held here, or fetched from the process that received them (when API and
   * worker processes are separate). When they cannot be had, the turn goes on without them and
   * says so.
   */
  private async secretsOf(task: Task, writer: TurnEventWriter): Promise<Record<string, string>> {
    const held = this.deps.secrets.get(task.id);
    if (Object.keys(held).length > 0 || !task.secretsHolder || task.secretsHolder === this.deps.self()) return held;
    const fetched = await this.deps.secretSource.fetch(task.secretsHolder, task.id);
    if (fetched) {
      this.deps.secrets.put(task.id, fetched);
      return fetched;
    }
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
  private observer(task: Task): WorkspaceObserver {
    const read = new Set<string>();
    return {
      read: async (relative) => {
        const artifact = await this.deps.artifacts.findByPath(task.id, relative);
        if (artifact) read.add(artifact.id);
      },
      written: async (relative) => {
        const artifact = await this.deps.recorder.recordFile(task, relative, 'tool', [...read]);
        if (artifact) read.delete(artifact.id);
      },
      commandRan: () => this.deps.recorder.scan(task, 'command'),
    };
  }

  /**
   * Parks the turn until a person decides: the calls are shown as awaiting approval and the
   * worker lets go of the task in the same transaction, so a decision can never arrive while
   * the task still looks busy.
   */
  private async park(fence: TurnFence, calls: PlannedCall[], redactor: Redactor): Promise<void> {
    const parked = await this.deps.tasks.amendTurn(
      fence,
      () => ({
        events: [
          ...calls.map((call) => ({
            type: 'tool_call' as const,
            data: { callId: call.callId, toolName: call.toolName, status: 'awaiting_approval' as const, args: redactor.deep(call.args) },
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
   * The model conversation so far. A fresh turn starts by adding the user's message; a resumed
   * turn finds it already saved.
   */
  private async conversation(task: Task, fence: TurnFence): Promise<{ messages: ModelMessage[]; resumed: boolean }> {
    const saved = await this.deps.tasks.modelMessages(task.id);
    const messages = fitConversation(saved, task.turn, this.deps.contextTokens);
    if (saved.some((m) => m.turn === task.turn)) return { messages, resumed: true };
    const userMessages = (await this.deps.tasks.messages(task.id)).filter((m) => m.role === 'user');
    const latest = userMessages[userMessages.length - 1];
    const user: ModelMessage = { role: 'user', content: userContent(latest) };
    await this.deps.tasks.appendModelMessages(fence, [user]);
    return { messages: [...messages, user], resumed: false };
  }
}

function userContent(message: Message | undefined): UserContent {
  const text = message?.content ?? '';
  const files = message?.attachedFiles ?? [];
  if (files.length === 0) return [{ type: 'text', text }];
  const list = files.map((f) => `- ${f.path}`).join('\n');
  return [
    { type: 'text', text: `Files attached to this message, in the workspace:\n${list}` },
    { type: 'text', text },
  ];
}

function describeFailure(error: unknown, redactor: Redactor): { message: string; code: string } {
  if (error instanceof TurnFailure) return { message: error.message, code: error.code };
  return { message: redactor.text(errorMessage(error)) || 'The turn failed without a message.', code: 'TASK_FAILED' };
}
