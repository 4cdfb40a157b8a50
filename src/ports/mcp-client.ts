/**
 * Connects to MCP servers. The core decides which servers a turn uses and with which settings;
 * an adapter speaks the protocol.
 */
export interface McpConnector {
  /** Connects and lists the server's tools; rejects with a message fit for the user when it cannot. */
  connect(target: McpTarget, options: { timeoutMs: number; signal: AbortSignal }): Promise<McpConnection>;
}

export type McpTarget =
  | { kind: 'remote'; transport: 'http' | 'sse'; url: string; headers: Record<string, string> }
  | { kind: 'stdio'; taskId: string; workspace: string; argv: [string, ...string[]]; cwd: string; env: Record<string, string> };

export interface McpConnection {
  tools: McpToolInfo[];
  /** Calls a tool; rejects when the server fails, stops or does not answer in time. */
  call(tool: string, args: Record<string, unknown>, options: { timeoutMs: number; signal: AbortSignal }): Promise<McpCallResult>;
  /** Why the connection ended, once it has (the server exited, the stream broke); null while it is open. */
  ended(): string | null;
  close(): Promise<void>;
}

export interface McpToolInfo {
  name: string;
  description?: string;
  /** JSON Schema of the arguments, as the server gave it. */
  inputSchema: Record<string, unknown>;
}

export interface McpCallResult {
  isError: boolean;
  content: McpContent[];
  structuredContent?: unknown;
}

export type McpContent =
  | { type: 'text'; text: string }
  | { type: 'image' | 'audio'; data: string; mimeType: string }
  | { type: 'resource'; resource: { uri: string; mimeType?: string; text?: string; blob?: string } }
  | { type: 'resource_link'; uri: string; name?: string; mimeType?: string }
  | { type: 'other'; kind: string };
