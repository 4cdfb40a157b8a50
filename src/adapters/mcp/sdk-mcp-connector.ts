import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { CommandRunner } from '../../ports/command-runner.js';
import type { McpCallResult, McpConnection, McpConnector, McpContent, McpTarget, McpToolInfo } from '../../ports/mcp-client.js';
import type { OutboundFetch } from '../../ports/outbound-http.js';
import { ProcessTransport } from './process-transport.js';

const CLIENT_INFO = { name: 'kiln', version: '0.1.0' };
/** Pages of tools/list read at most (a server that pages forever is cut off). */
const MAX_TOOL_PAGES = 20;

/**
 * Connects to MCP servers with the official SDK: Streamable HTTP and SSE through Kiln's outbound
 * fetch (which refuses non-public addresses unless allowed, and follows no redirect on its own),
 * stdio by starting the program through the command runner (in the task's sandbox).
 */
export class SdkMcpConnector implements McpConnector {
  constructor(private readonly deps: { commands: CommandRunner; fetch: OutboundFetch }) {}

  async connect(target: McpTarget, options: { timeoutMs: number; signal: AbortSignal }): Promise<McpConnection> {
    const ender = new AbortController();
    const signal = AbortSignal.any([options.signal, ender.signal]);
    let processTransport: ProcessTransport | null = null;
    let transport: Transport;
    if (target.kind === 'stdio') {
      const child = await this.deps.commands.spawn({
        taskId: target.taskId,
        argv: target.argv,
        workspace: target.workspace,
        cwd: target.cwd,
        env: target.env,
        signal,
      });
      transport = processTransport = new ProcessTransport(child);
    } else {
      const requestInit: RequestInit = { headers: target.headers };
      const fetch = this.deps.fetch as FetchLike;
      transport =
        target.transport === 'http'
          ? new StreamableHTTPClientTransport(new URL(target.url), { requestInit, fetch, reconnectionOptions: NO_RECONNECT })
          : new SSEClientTransport(new URL(target.url), { requestInit, fetch });
    }

    const client = new Client(CLIENT_INFO, { capabilities: {} });
    let ended: string | null = null;
    client.onclose = () => {
      ended ??= processTransport?.exitReason ?? 'the connection closed';
    };
    // Transport errors also reach the pending request they concern; nothing more to do here.
    client.onerror = () => {};
    const close = async () => {
      ended ??= 'the connection was closed';
      ender.abort();
      await client.close().catch(() => {});
    };
    try {
      await client.connect(transport, { timeout: options.timeoutMs, signal });
      const tools: McpToolInfo[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_TOOL_PAGES; page++) {
        const listed = await client.listTools(cursor ? { cursor } : undefined, { timeout: options.timeoutMs, signal });
        for (const tool of listed.tools) {
          tools.push({ name: tool.name, ...(tool.description ? { description: tool.description } : {}), inputSchema: tool.inputSchema as Record<string, unknown> });
        }
        cursor = listed.nextCursor;
        if (!cursor) break;
      }
      return {
        tools,
        ended: () => (ended === null ? null : processTransport?.exitReason ?? ended),
        close,
        call: async (tool, args, callOptions) => {
          const result = (await client.callTool({ name: tool, arguments: args }, undefined, {
            timeout: callOptions.timeoutMs,
            maxTotalTimeout: callOptions.timeoutMs,
            signal: AbortSignal.any([callOptions.signal, signal]),
          })) as CallToolResult;
          return toResult(result);
        },
      };
    } catch (error) {
      const reason = processTransport?.exitReason;
      await close();
      throw new Error(reason ? `the server stopped (${reason})` : describeError(error));
    }
  }
}

const NO_RECONNECT = { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 };

function toResult(result: CallToolResult): McpCallResult {
  const content: McpContent[] = (result.content ?? []).map((part): McpContent => {
    switch (part.type) {
      case 'text':
        return { type: 'text', text: part.text };
      case 'image':
      case 'audio':
        return { type: part.type, data: part.data, mimeType: part.mimeType };
      case 'resource': {
        const r = part.resource as { uri: string; mimeType?: string; text?: string; blob?: string };
        return { type: 'resource', resource: { uri: r.uri, ...(r.mimeType ? { mimeType: r.mimeType } : {}), ...(r.text !== undefined ? { text: r.text } : {}), ...(r.blob !== undefined ? { blob: r.blob } : {}) } };
      }
      case 'resource_link':
        return { type: 'resource_link', uri: part.uri, name: part.name, ...(part.mimeType ? { mimeType: part.mimeType } : {}) };
      default:
        return { type: 'other', kind: String((part as { type: unknown }).type) };
    }
  });
  return { isError: Boolean(result.isError), content, ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent } : {}) };
}

/** A connection error as the user should read it: the cause's message, without stack or host paths. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const own = error.message.replace(/^MCP error -?\d+: /, '');
  if (cause instanceof Error && cause.message && !own.includes(cause.message)) return `${own}: ${cause.message}`;
  return own;
}
