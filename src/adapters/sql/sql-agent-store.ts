import { randomUUID } from 'node:crypto';
import type { Agent } from '../../core/agents/agent-types.js';
import type { McpServers } from '../../core/mcp/mcp-servers.js';
import type { ToolPolicy } from '../../core/tasks/task-types.js';
import type { Database, SqlValue } from '../../ports/database.js';
import type { AgentStore } from '../../ports/storage.js';

export interface AgentRow {
  id: string;
  user_id: string;
  name: string;
  system_prompt: string | null;
  model: string | null;
  tool_policy: string | null;
  auto_execute: number;
  mcp_servers: string | null;
  is_default: number;
  max_tokens: number | null;
  max_duration_seconds: number | null;
  retention_days: number | null;
  created_at: string;
  updated_at: string;
  revision: number;
}

export const AGENT_COLUMNS = 'id, user_id, name, system_prompt, model, tool_policy, auto_execute, mcp_servers, is_default, created_at, updated_at, max_tokens, max_duration_seconds, retention_days, revision';
const PLACEHOLDERS = AGENT_COLUMNS.split(',').map(() => '?').join(', ');

export function agentFromRow(row: AgentRow): Agent {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    systemPrompt: row.system_prompt,
    model: row.model,
    toolPolicy: row.tool_policy ? (JSON.parse(row.tool_policy) as ToolPolicy) : null,
    autoExecute: Boolean(Number(row.auto_execute)),
    mcpServers: row.mcp_servers ? (JSON.parse(row.mcp_servers) as McpServers) : null,
    isDefault: Boolean(Number(row.is_default)),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    maxTokens: row.max_tokens === null ? null : Number(row.max_tokens),
    maxDurationSeconds: row.max_duration_seconds === null ? null : Number(row.max_duration_seconds),
    retentionDays: row.retention_days === null ? null : Number(row.retention_days),
    revision: Number(row.revision),
  };
}

function params(agent: Agent): SqlValue[] {
  return [
    agent.id,
    agent.userId,
    agent.name,
    agent.systemPrompt,
    agent.model,
    agent.toolPolicy ? JSON.stringify(agent.toolPolicy) : null,
    agent.autoExecute ? 1 : 0,
    agent.mcpServers ? JSON.stringify(agent.mcpServers) : null,
    agent.isDefault ? 1 : 0,
    agent.createdAt,
    agent.updatedAt,
    agent.maxTokens ?? null,
    agent.maxDurationSeconds ?? null,
    agent.retentionDays ?? null,
    agent.revision,
  ];
}

export class SqlAgentStore implements AgentStore {
  constructor(private readonly db: Database) {}

  async create(agent: Agent): Promise<void> {
    await this.db.run(`INSERT INTO agents (${AGENT_COLUMNS}) VALUES (${PLACEHOLDERS})`, params(agent));
  }

  async get(userId: string, id: string): Promise<Agent | undefined> {
    const row = await this.db.get<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ? AND user_id = ?`, [id, userId]);
    return row ? agentFromRow(row) : undefined;
  }

  async list(userId: string): Promise<Agent[]> {
    const rows = await this.db.all<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE user_id = ? ORDER BY is_default DESC, created_at, id`, [userId]);
    return rows.map(agentFromRow);
  }

  async update(agent: Agent): Promise<void> {
    await this.db.run(
      `UPDATE agents SET name = ?, system_prompt = ?, model = ?, tool_policy = ?, auto_execute = ?, mcp_servers = ?, updated_at = ?, max_tokens = ?, max_duration_seconds = ?,
         retention_days = ? WHERE id = ? AND user_id = ?`,
      [
        agent.name,
        agent.systemPrompt,
        agent.model,
        agent.toolPolicy ? JSON.stringify(agent.toolPolicy) : null,
        agent.autoExecute ? 1 : 0,
        agent.mcpServers ? JSON.stringify(agent.mcpServers) : null,
        agent.updatedAt,
        agent.maxTokens ?? null,
        agent.maxDurationSeconds ?? null,
        agent.retentionDays ?? null,
        agent.id,
        agent.userId,
      ],
    );
  }

  async ensureDefault(userId: string, now: string): Promise<Agent> {
    const existing = await this.db.get<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE user_id = ? AND is_default = 1`, [userId]);
    if (existing) return agentFromRow(existing);
    const agent: Agent = {
      id: randomUUID(),
      userId,
      name: 'Default agent',
      systemPrompt: null,
      model: null,
      toolPolicy: null,
      autoExecute: true,
      mcpServers: null,
      isDefault: true,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    // Two requests may race to create it; the unique index lets one win and the other reads it.
    await this.db.run(`INSERT INTO agents (${AGENT_COLUMNS}) VALUES (${PLACEHOLDERS}) ON CONFLICT DO NOTHING`, params(agent));
    const row = await this.db.get<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE user_id = ? AND is_default = 1`, [userId]);
    return agentFromRow(row!);
  }
}
