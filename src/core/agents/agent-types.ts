import type { McpServers } from '../mcp/mcp-servers.js';
import type { ToolPolicy } from '../tasks/task-types.js';

/**
 * A named configuration tasks run with: its own system prompt, model, tool policy and default
 * for autoExecute. Every user has a default agent; tasks created without `agentId` use it.
 */
export interface Agent {
  id: string;
  userId: string;
  name: string;
  systemPrompt: string | null;
  /** `provider:model`, or null for the server's default. */
  model: string | null;
  toolPolicy: ToolPolicy | null;
  autoExecute: boolean;
  /** MCP servers whose tools every task of the agent gets, as configured (placeholders unresolved). */
  mcpServers: McpServers | null;
  isDefault: boolean;
  /** Tokens one turn of its tasks may use, unless a task sets its own (null: no limit). */
  maxTokens?: number | null;
  /** Wall-clock seconds one turn of its tasks may run, unless a task sets its own (null: no limit). */
  maxDurationSeconds?: number | null;
  /** Days after their last activity its tasks are removed, instead of KILN_RETENTION_DAYS (null: that). */
  retentionDays?: number | null;
  createdAt: string;
  updatedAt: string;
  /** 1 when made, one more with each change: a task made from a remembered copy is checked against it. */
  revision: number;
}
