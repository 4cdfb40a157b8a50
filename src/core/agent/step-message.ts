import type { SharedV3ProviderMetadata } from '@ai-sdk/provider';
import type { AssistantContent, ModelMessage } from 'ai';

type Part = Exclude<AssistantContent, string>[number];
type Block = { type: 'text' | 'reasoning'; text: string; providerOptions?: SharedV3ProviderMetadata };

/**
 * Collects one model step's output, as it streams, into the assistant message Kiln saves: text
 * and reasoning blocks joined from their deltas, tool calls, in the order the model produced
 * them. Provider metadata (a reasoning signature, say) goes with its block, as the provider
 * needs it back in the next prompt.
 */
export class StepMessage {
  private readonly parts: Part[] = [];
  private readonly open = new Map<string, Block>();

  start(type: Block['type'], id: string, metadata: SharedV3ProviderMetadata | undefined): void {
    const block: Block = { type, text: '', ...(metadata ? { providerOptions: metadata } : {}) };
    this.open.set(`${type}:${id}`, block);
    this.parts.push(block);
  }

  delta(type: Block['type'], id: string, text: string, metadata: SharedV3ProviderMetadata | undefined): void {
    const block = this.block(type, id);
    block.text += text;
    if (metadata) block.providerOptions = metadata;
  }

  /** Closes a block and returns its whole text. */
  end(type: Block['type'], id: string, metadata: SharedV3ProviderMetadata | undefined): string {
    const block = this.block(type, id);
    if (metadata) block.providerOptions = metadata;
    this.open.delete(`${type}:${id}`);
    return block.text;
  }

  call(part: Extract<Part, { type: 'tool-call' }>): void {
    this.parts.push(part);
  }

  /** The step's assistant message; null when the model produced nothing. */
  message(): ModelMessage | null {
    const content = this.parts.filter((part) => part.type !== 'text' || part.text !== '');
    return content.length > 0 ? { role: 'assistant', content } : null;
  }

  private block(type: Block['type'], id: string): Block {
    const block = this.open.get(`${type}:${id}`);
    if (!block) throw new Error(`The model sent a ${type} delta for block "${id}", which it never started.`);
    return block;
  }
}
