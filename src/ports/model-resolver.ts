import type { LanguageModelV3 } from '@ai-sdk/provider';

/** Turns a model name (`offline`, `provider:model`) into a model to call. */
export interface ModelResolver {
  /** Throws when the name cannot be served; the error's message says what to set. */
  resolve(spec: string): { model: LanguageModelV3; name: string };
}
