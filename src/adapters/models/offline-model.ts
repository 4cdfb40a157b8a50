import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3ToolResultOutput,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { parseScript, type Step } from './offline-directives.js';

/**
 * A deterministic language model that needs no network and no key. It answers from the
 * directives in the latest user message (see offline-directives.ts); without directives it
 * answers `Echo: <message>`. Every feature of Kiln can be exercised with it.
 */
export class OfflineModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'kiln';
  readonly modelId = 'offline';
  readonly supportedUrls = {};

  async doGenerate(): Promise<never> {
    throw new Error('The offline model only streams.');
  }

  async doStream(options: LanguageModelV3CallOptions) {
    const { message, stepsDone, outcomes } = readPrompt(options.prompt);
    const script = parseScript(message);
    const toolStep = script.toolSteps[stepsDone];
    const step: Step = toolStep ?? script.final;
    const signal = options.abortSignal;
    const inputTokens = countTokens(JSON.stringify(options.prompt));

    async function* parts(): AsyncGenerator<LanguageModelV3StreamPart> {
      yield { type: 'stream-start', warnings: [] };
      let reasoning = 0;
      for (const action of step.actions) {
        if (action.kind === 'think' || action.kind === 'tools') {
          const id = `reasoning-${reasoning++}`;
          yield { type: 'reasoning-start', id };
          yield { type: 'reasoning-delta', id, delta: action.kind === 'think' ? action.text : offeredTools(options) };
          yield { type: 'reasoning-end', id };
        } else if (action.kind === 'sleep') {
          await delay(action.ms, undefined, { signal });
        } else {
          yield { type: 'error', error: new Error(action.text) };
          return;
        }
      }
      let outputText = '';
      if (toolStep) {
        for (const call of toolStep.toolCalls) {
          const input = JSON.stringify(call.input);
          outputText += input;
          yield { type: 'tool-call', toolCallId: `call_${randomBytes(6).toString('hex')}`, toolName: call.toolName, input };
        }
      } else {
        const answer = outcomes.length > 0 ? outcomes.join('\n') : `Echo: ${message}`;
        outputText = answer;
        yield { type: 'text-start', id: 'text-0' };
        for (const delta of chunk(answer)) yield { type: 'text-delta', id: 'text-0', delta };
        yield { type: 'text-end', id: 'text-0' };
      }
      yield {
        type: 'finish',
        finishReason: { unified: toolStep ? 'tool-calls' : 'stop', raw: undefined },
        usage: usage(inputTokens, countTokens(outputText)),
      };
    }
    // Produced as it is read, like a provider's network stream: a long script is never queued whole.
    const source = parts();
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async pull(controller) {
        const next = await source.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await source.return(undefined);
      },
    });
    return { stream };
  }
}

/** The tools the model was offered, as JSON. */
function offeredTools(options: LanguageModelV3CallOptions): string {
  const tools = (options.tools ?? []).map((t) => (t.type === 'function' ? { name: t.name, description: t.description, inputSchema: t.inputSchema } : { name: t.name }));
  return JSON.stringify(tools);
}

/**
 * The latest user message's text, how many tool steps the model already took after it, and
 * one outcome line per tool call made since (`run_command: success`).
 */
function readPrompt(prompt: LanguageModelV3Prompt): { message: string; stepsDone: number; outcomes: string[] } {
  let lastUser = -1;
  prompt.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });
  const user = prompt[lastUser];
  let message = '';
  if (user?.role === 'user') {
    const texts = user.content.filter((p) => p.type === 'text');
    message = texts[texts.length - 1]?.text ?? '';
  }
  let stepsDone = 0;
  const names = new Map<string, string>();
  const outcomes: string[] = [];
  for (const m of prompt.slice(lastUser + 1)) {
    if (m.role === 'assistant') {
      const calls = m.content.filter((p) => p.type === 'tool-call');
      if (calls.length > 0) stepsDone++;
      for (const call of calls) names.set(call.toolCallId, call.toolName);
    } else if (m.role === 'tool') {
      for (const part of m.content) {
        if (part.type === 'tool-result') outcomes.push(`${names.get(part.toolCallId) ?? part.toolName}: ${describe(part.output)}`);
      }
    }
  }
  return { message, stepsDone, outcomes };
}

function describe(output: LanguageModelV3ToolResultOutput): string {
  switch (output.type) {
    case 'execution-denied':
      return 'rejected';
    case 'error-text':
      return `error: ${firstLine(output.value)}`;
    case 'error-json':
      return `error: ${firstLine(JSON.stringify(output.value))}`;
    default:
      return 'success';
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/** Splits text into small deltas of a few words each, as a real model streams. */
function chunk(text: string): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [text];
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += 3) chunks.push(words.slice(i, i + 3).join(''));
  return chunks.length > 0 ? chunks : [''];
}

function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function usage(input: number, output: number): LanguageModelV3Usage {
  return {
    inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: output, text: output, reasoning: 0 },
  };
}
