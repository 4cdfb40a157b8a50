import fs from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../logger.js';
import type { FaceDeps } from '../http/face-deps.js';
import { clientErrorOf } from '../http/framework-errors.js';
import { rpcError } from './errors.js';
import { registerTools } from './tools.js';
import { HTTP_STATUS } from '../http/domain-status.js';

const VERSION = (JSON.parse(fs.readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const INSTRUCTIONS =
  'Kiln runs AI-agent tasks in private workspaces. create_task starts one (give waitSeconds to wait for its answer); ' +
  'a task created with autoExecute false stops before each tool call until decide_approval decides it; ' +
  'send_message continues a finished task; list_artifacts and read_artifact read the files it wrote.';

/**
 * Kiln as an MCP server (Streamable HTTP, stateless), mounted at `/mcp`. Each POST carries
 * JSON-RPC messages and is answered by a fresh MCP server acting for the key's user, so any API
 * process can answer any request. Errors outside a tool call are JSON-RPC error objects; a tool
 * that fails answers a result with `isError: true`.
 */
export async function mcpFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function mcpErrorHandler(error, request, reply) {
    if ((error as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendRpcError(reply, 415, 'Unsupported Content-Type: MCP messages are sent as application/json.');
    }
    const known = clientErrorOf(error, request.raw);
    if (known) return sendRpcError(reply, HTTP_STATUS[known.kind], known.message);
    deps.logger.error('request failed', { face: 'mcp', request: request.id, error: errorMessage(error) });
    return sendRpcError(reply, 500, `Internal server error (request id ${request.id}); the server log has the details.`);
  });

  // Authenticated before the body is read, so that the per-key rate limit applies here as on the other faces.
  app.addHook('onRequest', async function authenticate(request) {
    if (request.method === 'POST') request.caller = await deps.keys.authenticate(bearerToken(request));
  });

  app.post('/', async function mcpMessages(request, reply) {
    const caller = request.caller!;
    const server = new McpServer({ name: 'kiln', version: VERSION }, { instructions: INSTRUCTIONS });
    registerTools(server, deps, { caller, baseUrl: deps.publicUrl ?? `${request.protocol}://${request.host}` });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (error) {
      deps.logger.error('MCP request failed', { request: request.id, error: errorMessage(error) });
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(rpcError(`Internal server error (request id ${request.id}).`)));
      }
    }
  });

  // Stateless: there is no session stream to open (GET) or session to end (DELETE). Clients
  // treat 405 as "not offered".
  app.get('/', async function mcpStream(_request, reply) {
    return sendRpcError(reply.header('allow', 'POST'), 405, 'Method not allowed: this MCP server is stateless; send JSON-RPC messages with POST.');
  });
  app.delete('/', async function mcpEndSession(_request, reply) {
    return sendRpcError(reply.header('allow', 'POST'), 405, 'Method not allowed: this MCP server keeps no sessions.');
  });
}

/** The key of `Authorization: Bearer <key>` (the only credential this face reads). */
function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization?.trim();
  if (!header) return undefined;
  const match = /^Bearer(?:\s+(\S*))?$/i.exec(header);
  // Anything else is passed on as is, so that it is refused as a malformed credential.
  return match ? match[1] || undefined : header;
}

function sendRpcError(reply: FastifyReply, status: number, message: string): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', 'Bearer realm="kiln"');
  return reply.status(status).send(rpcError(message));
}
