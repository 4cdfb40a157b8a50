import { setTimeout as sleep } from 'node:timers/promises';
import { APICallError, type LanguageModelV3, type LanguageModelV3StreamPart, type LanguageModelV3Usage } from '@ai-sdk/provider';
import type { ModelMessage, ToolResultPart } from 'ai';
import type { Instruments } from '../../ports/instruments.js';
import type { TaskEventBody, TokenUsage } from '../events/event-types.js';
import { inSpan } from '../tracing.js';
import { describeModelError, isTransient, modelErrorKind, retryAfterMs } from './model-errors.js';
import { ModelConversation } from './model-prompt.js';
import type { Redactor } from './redactor.js';
import { StepMessage } from './step-message.js';
import type { ToolGate } from './tool-gate.js';
import type { ToolContext, ToolOutcome } from './tool-types.js';
import type { TurnTools } from './turn-tools.js';

/** Where a turn's effects go: events to the log, model messages to the conversation. */
export interface TurnSink {
  emit(event: TaskEventBody): void;
  /** Resolves once everything emitted so far is durable. */
  flush(): Promise<void>;
  saveModelMessages(messages: ModelMessage[]): Promise<void>;
}

export interface AgentTurn {
  model: LanguageModelV3;
  system: string;
  /** The conversation up to and including the current user message. */
  messages: ModelMessage[];
  tools: TurnTools;
  toolContext: ToolContext;
  maxSteps: number;
  redactor: Redactor;
  /** Read only when the model calls a tool (it needs the task's past approvals). */
  gate: () => Promise<ToolGate>;
  retry: { retries: number; baseMs: number };
  signal: AbortSignal;
  instruments: Instruments;
}

/** The turn failed for a reason the user should read; `code` is stable for clients. */
export class TurnFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * A completed turn hands back its last step's model messages unsaved: they are written with the
 * end of the turn, in the same transaction.
 */
export type AgentTurnResult = { kind: 'completed'; messages: ModelMessage[] } | { kind: 'awaiting_approval'; calls: PlannedCall[] };

/**
 * Runs the agent loop for one turn: model step, its tool calls, next model step, until the
 * model answers without calling a tool. Each step that calls tools is saved as it completes
 * (the last step goes with the end of the turn), so a turn parked for approval resumes from the
 * saved conversation: the calls of its last step that have no results yet are taken up again.
 */
export async function runAgentTurn(turn: AgentTurn, sink: TurnSink): Promise<AgentTurnResult> {
  const conversation = new ModelConversation(turn.system, turn.messages);
  let calls = unansweredCalls(turn.messages);
  let gate: ToolGate | null = null;
  for (let step = 0; step < turn.maxSteps; step++) {
    // One span per step: the model call and the tool calls it asked for.
    const result = await inSpan('kiln.step', { 'kiln.step': step + 1 }, async (): Promise<AgentTurnResult | null> => {
      if (calls.length === 0) {
        const answer = await modelStep(turn, conversation, sink);
        if (answer.calls.length === 0) return { kind: 'completed', messages: answer.messages };
        await sink.flush();
        await sink.saveModelMessages(answer.messages);
        calls = answer.calls;
      }
      const verdicts = (gate ??= await turn.gate());
      const waiting = calls.filter((call) => !call.invalid && verdicts.verdict(call).kind === 'ask');
      if (waiting.length > 0) return { kind: 'awaiting_approval', calls: waiting };

      const results: ToolResultPart[] = [];
      for (const call of calls) results.push(await runCall(turn, verdicts, sink, call));
      const toolMessage: ModelMessage = { role: 'tool', content: results };
      conversation.append([toolMessage]);
      await sink.flush();
      await sink.saveModelMessages([toolMessage]);
      calls = [];
      return null;
    });
    if (result) return result;
  }
  throw new TurnFailure(
    `The agent reached its limit of ${turn.maxSteps} steps without finishing. Send a follow-up message to let it continue.`,
    'STEP_LIMIT',
  );
}

async function runCall(turn: AgentTurn, gate: ToolGate, sink: TurnSink, call: PlannedCall): Promise<ToolResultPart> {
  const args = turn.redactor.deep(call.args);
  const server = turn.tools.serverOf(call.toolName);
  const base = { callId: call.callId, toolName: call.toolName, ...(server ? { server } : {}) };
  const verdict = call.invalid ? ({ kind: 'run' } as const) : gate.verdict(call);
  if (verdict.kind === 'refuse') {
    if (verdict.byPolicy) sink.emit({ type: 'tool_call', data: { ...base, status: 'cancelled', args } });
    sink.emit({ type: 'tool_result', data: { ...base, status: 'cancelled', output: verdict.reason } });
    return { type: 'tool-result', toolCallId: call.callId, toolName: call.toolName, output: { type: 'execution-denied', reason: verdict.reason } };
  }
  sink.emit({ type: 'tool_call', data: { ...base, status: 'executing', args } });
  await sink.flush();
  const started = performance.now();
  const outcome: ToolOutcome = call.invalid
    ? { status: 'error', output: call.invalid }
    : await inSpan(
        `execute_tool ${call.toolName}`,
        { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': call.toolName, 'gen_ai.tool.call.id': call.callId },
        async (span) => {
          const result = await executeTool(turn, call);
          span.setAttribute('kiln.tool.status', result.status);
          return result;
        },
      );
  turn.instruments.toolCall({ tool: call.toolName, status: outcome.status, seconds: (performance.now() - started) / 1000 });
  const output = turn.redactor.text(outcome.output);
  sink.emit({ type: 'tool_result', data: { ...base, status: outcome.status, output } });
  return {
    type: 'tool-result',
    toolCallId: call.callId,
    toolName: call.toolName,
    output: outcome.status === 'success' ? { type: 'text', value: output } : { type: 'error-text', value: output },
  };
}

/**
 * Runs a tool call. A call cut short because the turn is being stopped gets a result that says
 * so: a turn handed back to the queue then continues with the model knowing the call may have
 * partly run, instead of running it again blindly.
 */
async function executeTool(turn: AgentTurn, call: PlannedCall): Promise<ToolOutcome> {
  try {
    return await turn.tools.execute(call.toolName, call.args, turn.toolContext);
  } catch (error) {
    if (!turn.signal.aborted) throw error;
    return { status: 'error', output: 'The call was stopped before it finished (the turn was stopped); it may have partly run.' };
  }
}

/** Tool calls of the conversation's last message when no results follow them (a step parked for approval). */
function unansweredCalls(messages: readonly ModelMessage[]): PlannedCall[] {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'assistant' || typeof last.content === 'string') return [];
  return last.content
    .filter((part) => part.type === 'tool-call')
    .map((part) => {
      const invalid = part.providerOptions?.[INVALID_MARK]?.invalid;
      return { callId: part.toolCallId, toolName: part.toolName, args: isRecord(part.input) ? part.input : {}, ...(typeof invalid === 'string' ? { invalid } : {}) };
    });
}

/** Kiln's own key in a saved tool call's provider options (providers read only their own keys). */
const INVALID_MARK = 'kiln';

export interface PlannedCall {
  callId: string;
  toolName: string;
  args: Record<string, unknown>;
  /** Why the call cannot run (bad arguments, unknown tool), when it cannot. */
  invalid?: string;
}

/**
 * One model step, retried after transient provider errors (429, 5xx, a dropped connection) as
 * long as nothing of it has reached the client yet. Each retry is announced with a `retrying`
 * status event.
 */
async function modelStep(turn: AgentTurn, conversation: ModelConversation, sink: TurnSink): Promise<ModelAnswer> {
  for (let attempt = 1; ; attempt++) {
    const progress = { emitted: false };
    const started = performance.now();
    const usage: TokenUsage[] = [];
    const report = (error: string | null) =>
      turn.instruments.modelCall({ ...modelLabels(turn.model), seconds: (performance.now() - started) / 1000, error, usage: sumUsage(usage) });
    try {
      const answer = await modelCall(turn, conversation, sink, progress, usage);
      report(null);
      return answer;
    } catch (error) {
      if (error instanceof ModelCallFailed) report(modelErrorKind(error.cause));
      if (!(error instanceof ModelCallFailed) || turn.signal.aborted) throw error;
      const described = describeModelError(error.cause);
      if (progress.emitted) {
        throw new TurnFailure(`${described} (the answer was cut off part way; send a follow-up message to continue)`, 'MODEL_ERROR');
      }
      if (!isTransient(error.cause) || attempt > turn.retry.retries) {
        const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
        throw new TurnFailure(`${described}${tries}`, APICallError.isInstance(error.cause) || isTransient(error.cause) ? 'MODEL_ERROR' : 'TASK_FAILED');
      }
      const delay = retryAfterMs(error.cause) ?? turn.retry.baseMs * 2 ** (attempt - 1);
      sink.emit({
        type: 'status',
        data: { status: 'retrying', message: `${described}; retrying in ${(delay / 1000).toFixed(1)} s (retry ${attempt} of ${turn.retry.retries})` },
      });
      await sink.flush();
      await sleep(Math.min(delay, 60_000), undefined, { signal: turn.signal });
    }
  }
}

/** A failure of the model call itself (as opposed to Kiln's own work around it). */
class ModelCallFailed extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** What one model step produced: its messages (redacted, not saved yet) and the tool calls it asked for. */
interface ModelAnswer {
  messages: ModelMessage[];
  calls: PlannedCall[];
}

/**
 * One model call, straight on the provider's stream (`doStream`), in a `chat <model>` span:
 * streams its text and thoughts, returns its message and the tool calls it asked for.
 */
function modelCall(
  turn: AgentTurn,
  conversation: ModelConversation,
  sink: TurnSink,
  progress: { emitted: boolean },
  usage: TokenUsage[],
): Promise<ModelAnswer> {
  // Prompts and answers stay out of spans: they may quote a task's files or secrets.
  return inSpan(
    `chat ${turn.model.modelId}`,
    { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': turn.model.provider, 'gen_ai.request.model': turn.model.modelId },
    async (span) => {
      const answer = await streamModelCall(turn, conversation, sink, progress, usage);
      const total = sumUsage(usage);
      if (total) span.setAttributes({ 'gen_ai.usage.input_tokens': total.inputTokens, 'gen_ai.usage.output_tokens': total.outputTokens });
      if (answer.finishReason) span.setAttribute('gen_ai.response.finish_reasons', [answer.finishReason]);
      return { messages: answer.messages, calls: answer.calls };
    },
  );
}

async function streamModelCall(
  turn: AgentTurn,
  conversation: ModelConversation,
  sink: TurnSink,
  progress: { emitted: boolean },
  usage: TokenUsage[],
): Promise<ModelAnswer & { finishReason: string | null }> {
  let finishReason: string | null = null;
  const calls: PlannedCall[] = [];
  const step = new StepMessage();
  const counted: TaskEventBody[] = [];
  const countingSink: TurnSink = {
    ...sink,
    emit: (event) => {
      progress.emitted = true;
      sink.emit(event);
    },
  };
  const text = new ContentStream(turn.redactor, countingSink);

  let reader: ReadableStreamDefaultReader<LanguageModelV3StreamPart> | null = null;
  try {
    // A turn stopped between steps (a cancel, a budget, shutdown) asks the model nothing more.
    turn.signal.throwIfAborted();
    const tools = await turn.tools.functionTools();
    const { stream } = await turn.model.doStream({
      prompt: conversation.prompt,
      ...(tools.length > 0 ? { tools, toolChoice: { type: 'auto' } } : {}),
      abortSignal: turn.signal,
    });
    reader = stream.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const part: LanguageModelV3StreamPart = read.value;
      switch (part.type) {
        case 'text-start':
          step.start('text', part.id, part.providerMetadata);
          break;
        case 'text-delta':
          step.delta('text', part.id, part.delta, part.providerMetadata);
          text.push(part.delta);
          break;
        case 'text-end':
          step.end('text', part.id, part.providerMetadata);
          text.end();
          break;
        case 'reasoning-start':
          step.start('reasoning', part.id, part.providerMetadata);
          break;
        case 'reasoning-delta':
          step.delta('reasoning', part.id, part.delta, part.providerMetadata);
          break;
        case 'reasoning-end': {
          const description = turn.redactor.text(step.end('reasoning', part.id, part.providerMetadata)).trim();
          if (description) countingSink.emit({ type: 'thought', data: { subject: 'Thinking', description } });
          break;
        }
        case 'tool-call': {
          if (part.providerExecuted) break;
          const parsed = await turn.tools.parseCall(part.toolName, part.input);
          const invalid = parsed.ok ? undefined : describeInvalidCall(part.toolName, parsed.error);
          // An invalid call carries its reason in the saved message: a turn resumed after an
          // approval answers it with the same error instead of asking about it.
          const options = { ...part.providerMetadata, ...(invalid ? { [INVALID_MARK]: { invalid } } : {}) };
          step.call({
            type: 'tool-call',
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: invalid && !isRecord(parsed.input) ? {} : parsed.input,
            ...(Object.keys(options).length > 0 ? { providerOptions: options } : {}),
          });
          const args = isRecord(parsed.input) ? parsed.input : {};
          calls.push({ callId: part.toolCallId, toolName: part.toolName, args, ...(invalid ? { invalid } : {}) });
          break;
        }
        case 'finish': {
          const stepUsage = usageOf(part.usage);
          usage.push(stepUsage);
          counted.push({ type: 'usage', data: stepUsage });
          finishReason = part.finishReason.unified;
          break;
        }
        case 'error':
          throw new ModelCallFailed(part.error);
        default:
          break;
      }
    }
  } catch (error) {
    // A step left part way (an error part, a bad delta) lets go of the provider's response.
    void reader?.cancel().catch(() => {});
    if (turn.signal.aborted) throw turn.signal.reason ?? error;
    if (error instanceof ModelCallFailed) throw error;
    throw new ModelCallFailed(error);
  }
  text.end();
  for (const event of counted) sink.emit(event);
  const message = step.message();
  const messages = message ? [turn.redactor.deep(message)] : [];
  conversation.append(messages);
  return { messages, calls, finishReason };
}

/** Provider and model id of a model, as metric labels. */
function modelLabels(model: LanguageModelV3): { provider: string; model: string } {
  return { provider: model.provider, model: model.modelId };
}

function sumUsage(parts: TokenUsage[]): TokenUsage | null {
  if (parts.length === 0) return null;
  const total: TokenUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0, reasoningTokens: 0, cachedInputTokens: 0 };
  for (const part of parts) for (const key of Object.keys(total) as (keyof TokenUsage)[]) total[key] += part[key];
  return total;
}

function usageOf(usage: LanguageModelV3Usage): TokenUsage {
  const input = usage.inputTokens.total ?? 0;
  const output = usage.outputTokens.total ?? 0;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: input + output,
    reasoningTokens: usage.outputTokens.reasoning ?? 0,
    cachedInputTokens: usage.inputTokens.cacheRead ?? 0,
  };
}

/**
 * Passes text deltas on as `content` events, redacted, keeping one delta back so that the last
 * delta of each text block can be marked `isPartial: false`.
 */
class ContentStream {
  private held: string | null = null;
  private readonly filter;

  constructor(
    redactor: Redactor,
    private readonly sink: TurnSink,
  ) {
    this.filter = redactor.stream();
  }

  push(delta: string): void {
    const safe = this.filter.push(delta);
    if (safe === '') return;
    if (this.held !== null) this.sink.emit({ type: 'content', data: { text: this.held, isPartial: true } });
    this.held = safe;
  }

  end(): void {
    const rest = this.filter.end();
    const last = (this.held ?? '') + rest;
    this.held = null;
    if (last !== '') this.sink.emit({ type: 'content', data: { text: last, isPartial: false } });
  }
}

function describeInvalidCall(toolName: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : 'the arguments do not match the tool';
  return `The call to "${toolName}" could not run: ${reason}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
