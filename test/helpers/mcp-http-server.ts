import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/** A 1×1 PNG. */
export const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface McpHttpServer {
  /** Streamable HTTP endpoint: `${url}/mcp`; SSE: `${url}/sse`. */
  url: string;
  port: number;
  /** Every request received, in order. */
  requests: SeenRequest[];
  /** Calls of each tool, by the server's tool name. */
  calls: Map<string, number>;
  close(): Promise<void>;
}

/**
 * A real MCP server on 127.0.0.1 written with the official SDK, speaking Streamable HTTP
 * (stateless, at `/mcp`) and the older SSE transport (`/sse` and `/messages`).
 * When `requireAuth` is set, MCP requests without `Authorization: <requireAuth>` are answered 401.
 */
export async function startMcpHttpServer(options: { requireAuth?: string; port?: number } = {}): Promise<McpHttpServer> {
  const requests: SeenRequest[] = [];
  const calls = new Map<string, number>();
  const sse = new Map<string, SSEServerTransport>();

  const newServer = () => {
    const server = new McpServer({ name: 'kiln-test-http', version: '1.0.0' });
    const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
    const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
    server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
      count('add');
      return text(String(a + b));
    });
    server.registerTool('echo', { description: 'Says the text back', inputSchema: { text: z.string() } }, async ({ text: value }) => {
      count('echo');
      return text(`echo: ${value}`);
    });
    server.registerTool('secret_word', { description: 'Tells a word the server knows' }, async () => {
      count('secret_word');
      return text(`the word is ${options.requireAuth ?? 'none'}`);
    });
    server.registerTool('refuse', { description: 'Always fails' }, async () => {
      count('refuse');
      return { isError: true, content: [{ type: 'text' as const, text: 'the server refused this' }] };
    });
    server.registerTool('picture', { description: 'Returns a picture and a document' }, async () => {
      count('picture');
      return {
        content: [
          { type: 'text' as const, text: 'here you are' },
          { type: 'image' as const, data: PIXEL_PNG.toString('base64'), mimeType: 'image/png' },
          { type: 'resource' as const, resource: { uri: 'file:///reports/summary.pdf', mimeType: 'application/pdf', blob: Buffer.from('%PDF-1.4 test').toString('base64') } },
        ],
      };
    });
    server.registerTool('slow', { description: 'Answers after a while', inputSchema: { ms: z.number() } }, async ({ ms }) => {
      count('slow');
      // Unreferenced: a call left waiting does not keep the test process alive.
      await new Promise((resolve) => setTimeout(resolve, ms).unref());
      return text(`slept ${ms} ms`);
    });
    server.registerTool('big', { description: 'Returns that many bytes of text', inputSchema: { bytes: z.number() } }, async ({ bytes }) => {
      count('big');
      return text('y'.repeat(bytes));
    });
    return server;
  };

  const httpServer = http.createServer(async (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (options.requireAuth && req.headers.authorization !== options.requireAuth) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    try {
      if (url.pathname === '/mcp') {
        if (req.method !== 'POST') {
          res.writeHead(405).end();
          return;
        }
        const server = newServer();
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        res.on('close', () => {
          void transport.close();
          void server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(req, res);
      } else if (url.pathname === '/sse' && req.method === 'GET') {
        const transport = new SSEServerTransport('/messages', res);
        sse.set(transport.sessionId, transport);
        res.on('close', () => sse.delete(transport.sessionId));
        await newServer().connect(transport);
      } else if (url.pathname === '/messages' && req.method === 'POST') {
        const transport = sse.get(url.searchParams.get('sessionId') ?? '');
        if (!transport) res.writeHead(404).end();
        else await transport.handlePostMessage(req, res);
      } else if (url.pathname.startsWith('/redirect')) {
        res.writeHead(307, { location: url.searchParams.get('to') ?? '/' }).end();
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}
