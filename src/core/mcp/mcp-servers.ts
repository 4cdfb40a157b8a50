/**
 * MCP servers an agent uses, as configured on the agent (stored and shown as written, with
 * `{{mcp.KEY}}` placeholders unresolved).
 */
export type McpServers = Record<string, McpServerConfig>;

export type McpServerConfig = RemoteMcpServer | StdioMcpServer;

interface CommonSettings {
  enabled: boolean;
  /** Limit of each call (and of connecting), in milliseconds. */
  timeout?: number;
  /** Which of the server's tools (by the server's own names) the model is offered. */
  tools?: ToolFilter;
}

/** A server Kiln reaches over the network: Streamable HTTP (`http`) or the older SSE transport. */
export interface RemoteMcpServer extends CommonSettings {
  type: 'http' | 'sse';
  url: string;
  headers?: Record<string, string>;
}

/** A program started in the task's sandbox for the turn, spoken to over its stdin and stdout. */
export interface StdioMcpServer extends CommonSettings {
  type: 'stdio';
  command: string;
  args?: string[];
  env?: Record<string, string>;
  /** Working directory relative to the workspace. */
  cwd?: string;
}

export interface ToolFilter {
  allow?: string[];
  deny?: string[];
}

/**
 * A server name: it becomes the prefix of its tools' names (`<server>__<tool>`), so it may hold
 * no `__` and may not end in `_` (either would make the split of a tool name ambiguous).
 */
export const SERVER_NAME = /^(?!.*__)[a-zA-Z0-9_-]{0,31}[a-zA-Z0-9-]$/;

/** Separates a server's name from its tool's name in the names the model sees. */
export const TOOL_SEPARATOR = '__';

/** Longest tool name the model providers accept; longer MCP tool names are not offered. */
export const MAX_TOOL_NAME = 64;

/** The server part of `<server>__<tool>` (or of the policy pattern `<server>__*`). */
export function serverOfToolName(name: string): string | null {
  const at = name.indexOf(TOOL_SEPARATOR);
  return at > 0 ? name.slice(0, at) : null;
}

/** Whether a tool policy key names an MCP tool (`<server>__<tool>`) or all of a server's (`<server>__*`). */
export function isMcpToolPattern(key: string): boolean {
  const server = serverOfToolName(key);
  if (!server || !SERVER_NAME.test(server)) return false;
  const tool = key.slice(server.length + TOOL_SEPARATOR.length);
  return tool === '*' || (/^[a-zA-Z0-9_-]+$/.test(tool) && key.length <= MAX_TOOL_NAME);
}

/** A `{{mcp.KEY}}` placeholder; KEY is an env-style name. */
export const PLACEHOLDER = /\{\{\s*mcp\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Whether a server's tool passes its filter: in `allow` (when given) and not in `deny`. */
export function toolAllowed(filter: ToolFilter | undefined, tool: string): boolean {
  if (filter?.allow && !filter.allow.includes(tool)) return false;
  return !filter?.deny?.includes(tool);
}
