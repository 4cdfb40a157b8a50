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

/** Agents remembered for new tasks, at most (the oldest remembered is forgotten first). */
const REMEMBERED_AGENTS = 1000;
/** An agent whose tool policy is larger than this, as JSON, is read for each task instead. */
const REMEMBERED_POLICY_CHARS = 4096;
/** An agent is remembered whole (for a turn to run at once) while its prompt, tool policy and MCP servers take at most this, as JSON. */
const REMEMBERED_WHOLE_CHARS = 4096;

/**
 * What a new task takes from its agent; with the whole agent, as a turn runs with it, when that
 * was read for this task or is small enough to be remembered.
 */
export type AgentForTask = Pick<Agent, 'id' | 'revision' | 'model' | 'autoExecute' | 'toolPolicy'> & { whole?: Agent };

/**
 * Agents of a user: create, read, change; the default agent is made on first use.
 *
 * The agent a new task runs as is remembered, so that making a task reads no agent: the task is
 * stored only if the agent is still at the remembered revision (see {@link TaskStore.create}),
 * which holds across processes; the caller reads it afresh when it is not.
 */
export class AgentService {
  private readonly remembered = new Map<string, AgentForTask>();

  constructor(private readonly deps: { storage: Storage; models: ModelResolver }) {}

  async create(caller: KeyOwner, settings: AgentSettings): Promise<Agent> {
    this.checkModel(settings.model);
    const now = new Date().toISOString();
    const agent: Agent = { id: randomUUID(), userId: caller.userId, ...settings, isDefault: false, createdAt: now, updatedAt: now, revision: 1 };
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
    const updated: Agent = { ...agent, ...definedOnly(changes), updatedAt: new Date().toISOString(), revision: agent.revision + 1 };
    await this.deps.storage.agents.update(updated);
    this.remembered.delete(rememberedKey(caller, id));
    if (agent.isDefault) this.remembered.delete(rememberedKey(caller, null));
    return updated;
  }

  /**
   * The agent a new task runs as: the one named, or the caller's default. Remembered from an
   * earlier task unless `fresh`; check its revision where the task is stored.
   */
  async forTask(caller: KeyOwner, agentId: string | null, fresh = false): Promise<AgentForTask> {
    const key = rememberedKey(caller, agentId);
    const known = fresh ? undefined : this.remembered.get(key);
    if (known) return known;
    const agent = agentId === null ? await this.deps.storage.agents.ensureDefault(caller.userId, new Date().toISOString()) : await this.deps.storage.agents.get(caller.userId, agentId);
    if (!agent) throw new InvalidInput(`agentId: no agent ${agentId} belongs to you`, 'agentId');
    const { id, revision, model, autoExecute, toolPolicy } = agent;
    const forTask = { id, revision, model, autoExecute, toolPolicy };
    this.remembered.delete(key);
    const whole = JSON.stringify([agent.systemPrompt, toolPolicy, agent.mcpServers]).length <= REMEMBERED_WHOLE_CHARS;
    if (whole || JSON.stringify(toolPolicy ?? {}).length <= REMEMBERED_POLICY_CHARS) {
      if (this.remembered.size >= REMEMBERED_AGENTS) this.remembered.delete(this.remembered.keys().next().value!);
      this.remembered.set(key, whole ? { ...forTask, whole: agent } : forTask);
    }
    return { ...forTask, whole: agent };
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

function rememberedKey(caller: KeyOwner, agentId: string | null): string {
  return `${caller.userId}/${agentId ?? ''}`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
