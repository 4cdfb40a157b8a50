import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { gumloopEdgeError } from '../gumloop/errors.js';
import { mcpEdgeError } from '../mcp/errors.js';
import { sigmicEdgeError } from '../sigmic/errors.js';
import { syntropicEdgeError } from '../syntropic/errors.js';

/**
 * Errors the HTTP layer answers before any route runs: a request line or headers Node cannot
 * parse or that are too large, a URL fastify cannot route, a body that does not arrive in time.
 * Each is answered in the envelope of the face the request was meant for, chosen by its path.
 */

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  403: 'ORIGIN_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
  503: 'TOO_MANY_CONNECTIONS',
};

const FACES: [prefix: string, body: (status: number, message: string) => unknown][] = [
  ['/api/v1', sigmicEdgeError],
  ['/gumloop', gumloopEdgeError],
  ['/syntropic', syntropicEdgeError],
  ['/mcp', mcpEdgeError],
];

/** The error body for a request to `url` (a path, possibly with a query), in its face's envelope. */
export function edgeErrorBody(url: string, status: number, message: string): unknown {
  for (const [prefix, body] of FACES) {
    if (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)) return body(status, message);
  }
  return { error: { code: CODES[status] ?? 'BAD_REQUEST', message } };
}

/** Answers `res` past fastify with the error for a request to `url`, in its face's envelope. */
export function writeEdgeError(res: ServerResponse, url: string, status: number, message: string, headers: OutgoingHttpHeaders = {}): void {
  const body = JSON.stringify(edgeErrorBody(url, status, message));
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Writes a whole error response straight to a socket whose request could not be parsed, and
 * closes it: the connection cannot carry another request after a parse error.
 */
export function writeRawError(socket: Socket, url: string, status: number, reason: string, message: string): void {
  const body = JSON.stringify(edgeErrorBody(url, status, message));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The path of the request line at the start of `packet`, when there is one. */
export function requestPathOf(packet: Buffer | undefined): string {
  const line = packet?.subarray(0, 2048).toString('latin1') ?? '';
  return /^[A-Z]+ (\/\S*)/.exec(line)?.[1] ?? '/';
}

/** fastify's `frameworkErrors`: a URL it cannot route (bad percent-encoding, a path segment over 100 characters). */
export function routingError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const [status, message] =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? [414, 'A path segment of the URL is too long.'] : [400, 'The URL is not valid (check its percent-encoding).'];
  void reply.status(status).send(edgeErrorBody(request.url, status, message));
}

/** Per connection, the requests whose responses are not yet written out (pipelined requests queue up). */
const unanswered = new WeakMap<Socket, Set<IncomingMessage>>();
/** Per connection, what to do once its last unanswered response is written. */
const whenAnswered = new WeakMap<Socket, () => void>();

/**
 * Keeps each connection's requests until their responses are written out, so that a parse error
 * after good pipelined requests (see {@link unparsableRequest}) waits for their answers.
 */
export function trackResponses(server: Server): void {
  server.on('request', function keepUnanswered(request: IncomingMessage, response: ServerResponse) {
    const socket = request.socket;
    let pending = unanswered.get(socket);
    if (!pending) unanswered.set(socket, (pending = new Set()));
    pending.add(request);
    response.once('close', () => {
      pending.delete(request);
      if (pending.size > 0) return;
      const then = whenAnswered.get(socket);
      whenAnswered.delete(socket);
      then?.();
    });
  });
}

/**
 * fastify's `clientErrorHandler`: a request Node cannot parse: headers too large (431), too slow
 * (408), malformed (400). When whole requests came before it on the same connection (pipelined),
 * their answers are written first: a client that sent a task and then garbage learns of its task.
 * An error while a request's body is still arriving (the client went away half-way, say) is that
 * request's own, and is answered at once.
 */
export function unparsableRequest(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const pending = unanswered.get(socket);
  if (pending && pending.size > 0) {
    // Headers that came too slowly while an answer (a stream, say) is still being written: the
    // connection is closed rather than a 408 written into the middle of that answer.
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.destroy();
      return;
    }
    if ([...pending].every((request) => request.complete)) {
      whenAnswered.set(socket, () => unparsableRequest(error, socket));
      return;
    }
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const url = requestPathOf(Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined);
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    writeRawError(socket, url, 431, 'Request Header Fields Too Large', 'The request line or headers are too large (16 KB at most).');
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    writeRawError(socket, url, 408, 'Request Timeout', 'The request headers did not arrive in time.');
  } else {
    writeRawError(socket, url, 400, 'Bad Request', 'The request is not valid HTTP.');
  }
}
