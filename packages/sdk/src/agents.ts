import { seg, type Transport } from './transport.js';
import type { Agent, AgentChanges, AgentSettings } from './types.js';

/** Agents: named defaults (system prompt, model, tool policy, autoExecute) for tasks. */
export class Agents {
  constructor(private readonly transport: Transport) {}

  /**
   * @example
   * const agent = await kiln.agents.create({ name: 'reviewer', systemPrompt: 'Review code.', autoExecute: false });
   */
  create(settings: AgentSettings, options: { signal?: AbortSignal } = {}): Promise<Agent> {
    return this.transport.data('POST', '/api/v1/agents', { json: settings, ...options });
  }

  list(options: { signal?: AbortSignal } = {}): Promise<Agent[]> {
    return this.transport.data('GET', '/api/v1/agents', options);
  }

  get(id: string, options: { signal?: AbortSignal } = {}): Promise<Agent> {
    return this.transport.data('GET', `/api/v1/agents/${seg(id)}`, options);
  }

  /** Changes the given settings; the others keep their value. */
  update(id: string, changes: AgentChanges, options: { signal?: AbortSignal } = {}): Promise<Agent> {
    return this.transport.data('PATCH', `/api/v1/agents/${seg(id)}`, { json: changes, ...options });
  }
}
