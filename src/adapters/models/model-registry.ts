import type { LanguageModelV3 } from '@ai-sdk/provider';
import { ConfigError } from '../../config.js';
import { OfflineModel } from './offline-model.js';

/** A resolved model and how start-up should describe it. */
export interface ModelChoice {
  model: LanguageModelV3;
  name: string;
  description: string;
}

/**
 * Resolves a model name as given in KILN_MODEL (`offline`, or `provider:model`).
 * Throws {@link ConfigError} for a name Kiln cannot serve, saying what to set instead.
 */
export function resolveModel(spec: string, setting = 'KILN_MODEL'): ModelChoice {
  if (spec === 'offline') {
    return {
      model: new OfflineModel(),
      name: 'offline',
      description: 'offline (canned answers from a built-in script model: no network, no key; set KILN_MODEL to use a real model)',
    };
  }
  throw new ConfigError(`${setting}="${spec}" is not a model Kiln knows; use "offline".`);
}
