import { randomUUID } from 'node:crypto';
import type { ModelResolver } from '../../ports/model-resolver.js';
import type { KeyOwner, Storage } from '../../ports/storage.js';
import { InvalidInput, NotFound } from '../errors.js';
import type { McpServers } from '../mcp/mcp-servers.js';
import type { ToolPolicy } from '../tasks/task-types.js';
import type { Agent } from './agent-types.js';

export interface AgentSettings {
  name: string;
  systemPrompt: string | null;
  model: string | null;
  toolPolicy: ToolPolicy | null;
  autoExecute: boolean;
  mcpServers: McpServers | null;
  maxTokens?: number | null;
  maxDurationSeconds?: number | null;
  retentionDays?: number | null;
}

/** Agents of a user: create, read, change; the default agent is made on first use. */
export class AgentService {
  constructor(private readonly deps: { storage: Storage; models: ModelResolver }) {}

  async create(caller: KeyOwner, settings: AgentSettings): Promise<Agent> {
    this.checkModel(settings.model);
    const now = new Date().toISOString();
    const agent: Agent = { id: randomUUID(), userId: caller.userId, ...settings, isDefault: false, createdAt: now, updatedAt: now };
    await this.deps.storage.agents.create(agent);
    return agent;
  }

  async list(caller: KeyOwner): Promise<Agent[]> {
    await this.deps.storage.agents.ensureDefault(caller.userId, new Date().toISOString());
    return this.deps.storage.agents.list(caller.userId);
  }

  async get(caller: KeyOwner, id: string): Promise<Agent> {
    const agent = await this.deps.storage.agents.get(caller.userId, id);
    if (!agent) throw new NotFound('Agent not found');
    return agent;
  }

  async update(caller: KeyOwner, id: string, changes: Partial<AgentSettings>): Promise<Agent> {
    const agent = await this.get(caller, id);
    if (changes.model !== undefined) this.checkModel(changes.model);
    const updated: Agent = { ...agent, ...definedOnly(changes), updatedAt: new Date().toISOString() };
    await this.deps.storage.agents.update(updated);
    return updated;
  }

  /** The agent a new task runs as: the one named, or the caller's default. */
  async forTask(caller: KeyOwner, agentId: string | null): Promise<Agent> {
    if (agentId === null) return this.deps.storage.agents.ensureDefault(caller.userId, new Date().toISOString());
    const agent = await this.deps.storage.agents.get(caller.userId, agentId);
    if (!agent) throw new InvalidInput(`agentId: no agent ${agentId} belongs to you`, 'agentId');
    return agent;
  }

  private checkModel(model: string | null): void {
    if (model === null) return;
    try {
      this.deps.models.resolve(model);
    } catch (error) {
      throw new InvalidInput(`model: ${(error as Error).message}`, 'model');
    }
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
