import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { writeEdgeError } from './edge-errors.js';

/** The request line and headers Kiln takes, in bytes. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** What Node's parser reads before it gives up on a request (`maxHeaderSize`). */
export const HEADER_PARSE_BYTES = 64 * 1024;

/** The size of the request line and headers as they arrived (header text is Latin-1: a character is a byte). */
function headerBytes(request: IncomingMessage): number {
  let size = request.method!.length + request.url!.length + 12;
  for (const part of request.rawHeaders) size += part.length + 2;
  return size;
}

/** How long requests may take to arrive, and how many connections may be open. */
export interface RequestLimits {
  /** Time for the headers, and for a body before its bytes earn it more time. */
  bodyTimeoutMs: number;
  /** Each byte received extends a body's deadline by 1/this seconds. */
  bodyMinBytesPerSecond: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/**
 * Bounds what a client can hold on the server without doing anything useful:
 *
 * - headers over 16 KB, and an HTTP/1.1 request without a Host header, are answered (431, 400)
 *   in the face's envelope before any route runs;
 * - a request body gets `bodyTimeoutMs`, plus one second per `bodyMinBytesPerSecond` bytes that
 *   arrive; a body that falls behind (trickled, or shorter than its Content-Length) is answered
 *   408 and its connection closed. A 50 MB upload thus has as long as it needs at 16 KB/s, a
 *   stalled one is cut off. Streams (GET) have no body and stay open as long as they like;
 * - a response sent before the body was read (a 401 to a request without a key, an early
 *   validation error) closes the connection soon after, instead of reading the unwanted rest of
 *   the body to keep the connection;
 * - a client that asks before sending its body (`Expect: 100-continue`, as curl does for bodies
 *   over 1 MB) is told to go on only when the body is read: one refused before that (no key, no
 *   Host, over its rate) gets its answer without sending the body.
 */
export function applyRequestLimits(app: FastifyInstance, limits: RequestLimits): void {
  continueWhenBodyIsRead(app.server);
  // Node's parser takes up to HEADER_PARSE_BYTES, so that headers past the limit are answered
  // here, where the request's path (and so its face's envelope) is known.
  app.addHook('onRequest', function refuseLargeHeaders(request, reply, done) {
    if (headerBytes(request.raw) <= MAX_HEADER_BYTES) return done();
    refuseAtOnce(request, reply, 431, `The request line or headers are too large (${MAX_HEADER_BYTES / 1024} KB at most).`, limits);
  });
  // An HTTP/1.1 request must name its host (RFC 9112, 3.2). Node's own check answers a bare 400
  // without a body, so it is turned off (`requireHostHeader: false`) and done here instead.
  app.addHook('onRequest', function requireHost(request, reply, done) {
    const { httpVersionMajor, httpVersionMinor, headers } = request.raw;
    if (httpVersionMajor !== 1 || httpVersionMinor === 0 || headers.host !== undefined) return done();
    refuseAtOnce(request, reply, 400, 'The request has no Host header, which HTTP/1.1 requires: send one (e.g. "Host: localhost:8080").', limits);
  });
  app.addHook('onRequest', function startBodyDeadline(request, reply, done) {
    if (hasPendingBody(request.raw)) watchBody(request, reply, limits);
    done();
  });

  app.addHook('onSend', async function closeWhenBodyUnread(request, reply) {
    if (!hasPendingBody(request.raw)) return;
    void reply.header('connection', 'close');
    lingerOnClose(request.raw.socket, Math.min(LINGER_MS, limits.bodyTimeoutMs));
  });
}

/**
 * A connection beyond `maxConnections` in all, or `maxConnectionsPerAddress` from one address,
 * has its first request answered `503` with `Retry-After`, in the face's envelope, and is closed
 * (unanswered when no request arrives within 2 s, or when 64 such connections already wait for
 * their answer). Added after the hooks that let pages read answers (CORS) and that count
 * requests, so that a page can read the 503 and metrics count it.
 */
export function refuseConnectionsOverCap(app: FastifyInstance, limits: RequestLimits): void {
  const overCap = capConnections(app.server, limits);
  app.addHook('onRequest', function refuseOverCap(request, reply, done) {
    const cap = overCap.get(request.raw.socket);
    if (cap === undefined) return done();
    reply.hijack();
    if (hasPendingBody(request.raw)) lingerOnClose(request.raw.socket, LINGER_MS);
    const message = `Too many connections are open ${cap === 'address' ? 'from this address' : 'to this server'}: close some (or reuse them), then retry.`;
    writeEdgeError(reply.raw, request.url, 503, message, { 'retry-after': '1', connection: 'close' });
  });
}

const LINGER_MS = 2000;

/**
 * Node answers `Expect: 100-continue` with `100 Continue` as soon as the headers arrive, before
 * any check. Here it is sent when the first reader of the body attaches (a body parser, a
 * multipart reader), and never once a final answer has gone out.
 */
function continueWhenBodyIsRead(server: Server): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const onReader = (event: string | symbol) => {
      if (event !== 'data' && event !== 'readable') return;
      request.off('newListener', onReader);
      if (!response.headersSent) response.writeContinue();
    };
    request.on('newListener', onReader);
    server.emit('request', request, response);
  });
}

/** Answers a request in its face's envelope before any route runs, and closes the connection once the body still arriving is read. */
function refuseAtOnce(request: FastifyRequest, reply: FastifyReply, status: number, message: string, limits: RequestLimits): void {
  reply.hijack();
  if (hasPendingBody(request.raw)) lingerOnClose(request.raw.socket, Math.min(LINGER_MS, limits.bodyTimeoutMs));
  writeEdgeError(reply.raw, request.url, status, message, { connection: 'close' });
}

/**
 * Node closes a `Connection: close` socket as soon as the response is written; the client, still
 * sending its body, then gets a reset that can destroy the response before it reads it. Instead
 * the socket stops writing, reads and drops what still arrives for up to `ms`, then closes (the
 * lingering close of other web servers).
 */
export function lingerOnClose(socket: Socket, ms: number): void {
  socket.destroySoon = function lingeringClose() {
    socket.end();
    socket.once('end', () => socket.destroy());
    setTimeout(() => socket.destroy(), ms).unref();
  };
}

/** Node's own timers: headers must arrive within the body timeout; a request's body is watched by {@link watchBody}. */
export function serverTimeouts(limits: RequestLimits) {
  return {
    // Node's requestTimeout counts the whole body against one deadline, which a large upload over
    // a slow link cannot meet; bodies are bounded per request below, streams have no body.
    requestTimeout: 0,
    headersTimeout: limits.bodyTimeoutMs,
    // Node looks for connections past headersTimeout at this interval.
    connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.bodyTimeoutMs / 4))),
  };
}

/** Whether the request's body has yet to arrive (or to be read). */
export function hasPendingBody(raw: IncomingMessage): boolean {
  if (raw.complete) return false;
  return raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
}

function watchBody(request: FastifyRequest, reply: FastifyReply, limits: RequestLimits): void {
  const raw = request.raw;
  const socket = raw.socket;
  const started = Date.now();
  const bytesBefore = socket.bytesRead;
  let timer: NodeJS.Timeout;
  const check = () => {
    if (raw.complete || socket.destroyed) return;
    const received = socket.bytesRead - bytesBefore;
    const deadline = started + limits.bodyTimeoutMs + (received * 1000) / limits.bodyMinBytesPerSecond;
    const left = deadline - Date.now();
    if (left > 0) {
      timer = setTimeout(check, Math.max(left, 20)).unref();
      return;
    }
    const res = reply.raw;
    if (res.headersSent) {
      socket.destroy();
      return;
    }
    // Written past fastify: the route is still waiting for the body, which will never come.
    lingerOnClose(socket, Math.min(LINGER_MS, limits.bodyTimeoutMs));
    const message = `The request body did not arrive in time (it must arrive within ${limits.bodyTimeoutMs} ms, plus 1 s per ${limits.bodyMinBytesPerSecond} bytes received).`;
    writeEdgeError(res, request.url, 408, message, { connection: 'close' });
  };
  timer = setTimeout(check, limits.bodyTimeoutMs).unref();
  reply.raw.once('close', () => clearTimeout(timer));
}

/** How long a connection over the cap may take to send the request it is refused on. */
const OVER_CAP_GRACE_MS = 2000;
/** Connections over the cap waiting to be answered at most; more are closed at once, unanswered. */
const OVER_CAP_WAITING = 64;

/**
 * Counts open connections; those over a cap are not counted, and are returned marked with the
 * cap they went over, to be refused on their first request.
 */
function capConnections(server: Server, limits: RequestLimits): WeakMap<Socket, 'address' | 'total'> {
  let open = 0;
  const byAddress = new Map<string, number>();
  const overCap = new WeakMap<Socket, 'address' | 'total'>();
  let waiting = 0;
  server.on('connection', function capConnection(socket: Socket) {
    const address = socket.remoteAddress ?? '';
    const fromAddress = byAddress.get(address) ?? 0;
    if (open >= limits.maxConnections || fromAddress >= limits.maxConnectionsPerAddress) {
      // A flood of connections must not hold descriptors while waiting to be told no.
      if (waiting >= OVER_CAP_WAITING) {
        socket.destroy();
        return;
      }
      waiting++;
      overCap.set(socket, open >= limits.maxConnections ? 'total' : 'address');
      const timer = setTimeout(() => socket.destroy(), OVER_CAP_GRACE_MS).unref();
      socket.once('close', () => {
        waiting--;
        clearTimeout(timer);
      });
      return;
    }
    open++;
    byAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      open--;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left === 0) byAddress.delete(address);
      else byAddress.set(address, left);
    });
  });
  return overCap;
}
