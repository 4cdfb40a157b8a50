import type { LanguageModelV3Message, LanguageModelV3Prompt, LanguageModelV3ToolResultPart } from '@ai-sdk/provider';
import {
  assistantModelMessageSchema,
  modelMessageSchema,
  systemModelMessageSchema,
  toolModelMessageSchema,
  userModelMessageSchema,
  type ModelMessage,
} from 'ai';

/**
 * The AI SDK's schema of each message role. Checking a message against its own role's schema
 * accepts what the schema of all messages (a union of these) accepts, without trying the others
 * first: an assistant message with 50 reasoning parts took 3.2 ms against the union, 0.9 ms here.
 */
const SCHEMA_OF_ROLE = new Map<unknown, typeof modelMessageSchema>([
  ['system', systemModelMessageSchema],
  ['user', userModelMessageSchema],
  ['assistant', assistantModelMessageSchema],
  ['tool', toolModelMessageSchema],
]);

/**
 * A turn's conversation as the provider prompt a model's `doStream` takes, built from the AI
 * SDK's model messages Kiln stores. Each message is mapped once, when it joins, so a step costs
 * the size of what it adds, not of the whole conversation.
 *
 * Messages a turn adds are checked against the AI SDK's message schema as they join (they carry
 * what a provider sent); messages from storage are not checked again: the user's were built by
 * Kiln, the others were checked when their turn added them (or, saved by an earlier Kiln, came
 * from the AI SDK's own result).
 */
export class ModelConversation {
  readonly prompt: LanguageModelV3Prompt;

  constructor(system: string, history: readonly ModelMessage[]) {
    this.prompt = [{ role: 'system', content: system }];
    for (const message of history) this.join(message);
  }

  /** Adds messages the turn produced; throws when one is malformed (the turn fails with that message). */
  append(messages: readonly ModelMessage[]): void {
    for (const message of messages) {
      const checked = (SCHEMA_OF_ROLE.get((message as { role?: unknown }).role) ?? modelMessageSchema).safeParse(message);
      if (!checked.success) {
        throw new Error(`The model's answer could not be used: ${checked.error.issues[0]?.message ?? 'it is malformed'}.`);
      }
      this.join(message);
    }
  }

  private join(message: ModelMessage): void {
    const mapped = promptMessage(message);
    const last = this.prompt[this.prompt.length - 1];
    // Providers take the results of one step as one tool message.
    if (mapped.role === 'tool' && last?.role === 'tool') {
      last.content.push(...mapped.content);
      return;
    }
    if (mapped.role !== 'tool' || mapped.content.length > 0) this.prompt.push(mapped);
  }
}

/** The provider form of one model message: the same data, parts without meaning for a provider left out. */
function promptMessage(message: ModelMessage): LanguageModelV3Message {
  const providerOptions = message.providerOptions ? { providerOptions: message.providerOptions } : {};
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content, ...providerOptions };
    case 'user': {
      if (typeof message.content === 'string') return { role: 'user', content: [{ type: 'text', text: message.content }], ...providerOptions };
      const content = message.content.map((part) => {
        if (part.type !== 'text') throw new Error(`Kiln cannot send a user message part of type "${part.type}" to a model.`);
        return { type: 'text' as const, text: part.text, ...(part.providerOptions ? { providerOptions: part.providerOptions } : {}) };
      });
      return { role: 'user', content: content.filter((part) => part.text !== ''), ...providerOptions };
    }
    case 'assistant': {
      if (typeof message.content === 'string') return { role: 'assistant', content: [{ type: 'text', text: message.content }], ...providerOptions };
      const content: Extract<LanguageModelV3Message, { role: 'assistant' }>['content'] = [];
      for (const part of message.content) {
        if (part.type === 'tool-approval-request') continue;
        const options = part.providerOptions ? { providerOptions: part.providerOptions } : {};
        switch (part.type) {
          case 'text':
            if (part.text !== '' || part.providerOptions) content.push({ type: 'text', text: part.text, ...options });
            break;
          case 'reasoning':
            content.push({ type: 'reasoning', text: part.text, ...options });
            break;
          case 'tool-call':
            content.push({
              type: 'tool-call',
              toolCallId: part.toolCallId,
              toolName: part.toolName,
              input: part.input,
              ...(part.providerExecuted !== undefined ? { providerExecuted: part.providerExecuted } : {}),
              ...options,
            });
            break;
          case 'tool-result':
            content.push({ type: 'tool-result', toolCallId: part.toolCallId, toolName: part.toolName, output: part.output, ...options } as LanguageModelV3ToolResultPart);
            break;
          default:
            // Files: Kiln's turns produce none. Approval requests (above) are not for providers.
            break;
        }
      }
      return { role: 'assistant', content, ...providerOptions };
    }
    case 'tool': {
      const content: LanguageModelV3ToolResultPart[] = [];
      for (const part of message.content) {
        if (part.type !== 'tool-result') continue;
        content.push({
          type: 'tool-result',
          toolCallId: part.toolCallId,
          toolName: part.toolName,
          output: part.output,
          ...(part.providerOptions ? { providerOptions: part.providerOptions } : {}),
        } as LanguageModelV3ToolResultPart);
      }
      return { role: 'tool', content, ...providerOptions };
    }
  }
}
