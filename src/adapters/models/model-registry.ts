import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import type { ProviderSettings } from '../../config.js';
import { OfflineModel } from './offline-model.js';

/** A resolved model and how start-up should describe it. */
export interface ModelChoice {
  model: LanguageModelV3;
  name: string;
  description: string;
}

/** A model name Kiln cannot serve with the server's settings; the message says what to set. */
export class UnknownModel extends Error {
  override name = 'UnknownModel';
}

const PROVIDERS = ['openai', 'anthropic', 'openai-compatible'] as const;

/**
 * Turns model names (`offline`, or `provider:model`) into AI SDK models, using the provider
 * packages of the AI SDK with the credentials from the server's settings.
 *
 * @example
 * const models = new ModelRegistry(config.providers);
 * models.resolve('anthropic:claude-sonnet-4-5').model; // a LanguageModelV3 (the AI SDK's provider interface)
 */
export class ModelRegistry {
  private readonly cache = new Map<string, ModelChoice>();

  constructor(private readonly providers: ProviderSettings) {}

  /** Throws {@link UnknownModel} when `spec` cannot be served, saying what is missing. */
  resolve(spec: string): ModelChoice {
    const cached = this.cache.get(spec);
    if (cached) return cached;
    const choice = this.build(spec.trim());
    this.cache.set(spec, choice);
    return choice;
  }

  private build(spec: string): ModelChoice {
    if (spec === 'offline') {
      return {
        model: new OfflineModel(),
        name: 'offline',
        description: 'offline (canned answers from a built-in script model: no network, no key; set KILN_MODEL to use a real model)',
      };
    }
    const colon = spec.indexOf(':');
    const provider = colon > 0 ? spec.slice(0, colon) : '';
    const modelId = colon > 0 ? spec.slice(colon + 1).trim() : '';
    if (!PROVIDERS.includes(provider as (typeof PROVIDERS)[number]) || modelId === '') {
      throw new UnknownModel(
        `"${spec}" is not a model Kiln knows. Use "offline", or provider:model with provider one of ${PROVIDERS.join(', ')} ` +
          '(for example openai:gpt-4.1, anthropic:claude-sonnet-4-5, openai-compatible:llama3.1).',
      );
    }
    const p = this.providers;
    switch (provider) {
      case 'openai': {
        if (!p.openaiApiKey) throw new UnknownModel(`"${spec}" needs OPENAI_API_KEY set on the server.`);
        const openai = createOpenAI({ apiKey: p.openaiApiKey, ...(p.openaiBaseUrl ? { baseURL: p.openaiBaseUrl } : {}) });
        return { model: openai(modelId) as LanguageModelV3, name: spec, description: `${spec} (OpenAI${p.openaiBaseUrl ? ` at ${p.openaiBaseUrl}` : ''})` };
      }
      case 'anthropic': {
        if (!p.anthropicApiKey) throw new UnknownModel(`"${spec}" needs ANTHROPIC_API_KEY set on the server.`);
        const anthropic = createAnthropic({ apiKey: p.anthropicApiKey, ...(p.anthropicBaseUrl ? { baseURL: p.anthropicBaseUrl } : {}) });
        return { model: anthropic(modelId) as LanguageModelV3, name: spec, description: `${spec} (Anthropic${p.anthropicBaseUrl ? ` at ${p.anthropicBaseUrl}` : ''})` };
      }
      default: {
        if (!p.compatibleBaseUrl) {
          throw new UnknownModel(`"${spec}" needs KILN_MODEL_BASE_URL, the address of the OpenAI-compatible server (for Ollama: http://127.0.0.1:11434/v1).`);
        }
        const compatible = createOpenAICompatible({
          name: 'openai-compatible',
          baseURL: p.compatibleBaseUrl,
          includeUsage: true,
          ...(p.compatibleApiKey ? { apiKey: p.compatibleApiKey } : {}),
        });
        return { model: compatible.chatModel(modelId) as LanguageModelV3, name: spec, description: `${spec} (OpenAI-compatible server at ${p.compatibleBaseUrl})` };
      }
    }
  }
}
