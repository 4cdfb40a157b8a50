import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { edgeErrorBody } from './edge-errors.js';

/** The Tasks API routes a widget calls (with a token), and the token exchange. */
const WIDGET_PATHS = /^\/api\/v1\/(tasks(\/|$)|auth\/token$)/;
const WIDGET_METHODS = 'GET, HEAD, POST, DELETE';
const WIDGET_HEADERS = 'authorization, content-type, last-event-id, idempotency-key';
const LISTED_METHODS = 'GET, HEAD, POST, PATCH, DELETE';
const LISTED_HEADERS = 'authorization, content-type, last-event-id, idempotency-key, x-api-key, x-auth-key, range, if-none-match';
// A page may tell a replayed answer, and when it may send again.
const EXPOSED_HEADERS = 'content-disposition, content-length, content-range, etag, idempotent-replayed, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * Who may call Kiln from a web page (CORS), decided per request before any authentication.
 *
 * - Pages on the origins of `KILN_CORS_ORIGINS` may call every endpoint, with API keys too.
 * - Any other page may call only the Tasks API and the token exchange, and only with a widget
 *   token: the token names its app, and the native face refuses it (`ORIGIN_NOT_ALLOWED`,
 *   before anything is done) unless the request's `Origin` is one the app lists. A preflight
 *   carries no token, so it cannot tell which app it is for: preflights of those routes are
 *   answered for every origin, and the real request is where the app's list is enforced.
 * - An API key sent from such a page (any request with an `Origin` header) is refused with 403
 *   at once, whatever the endpoint: keys belong on servers, and a page that holds one leaks it.
 *
 * Headers are set on the raw response so that they also reach streams (which write it themselves).
 */
export function browserAccess(app: FastifyInstance, corsOrigins: readonly string[]): void {
  app.addHook('onRequest', async function checkBrowserAccess(request, reply) {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return;
    const path = request.url.split('?')[0]!;
    const listed = corsOrigins.includes(origin);
    const widget = WIDGET_PATHS.test(path);

    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      if (!listed && !widget) {
        return reply.status(403).send(edgeErrorBody(path, 403, `Pages on ${origin} may call only the Tasks API, with a widget token; list the origin in KILN_CORS_ORIGINS to allow more.`));
      }
      allowOrigin(reply, origin);
      reply.raw.setHeader('access-control-allow-methods', listed ? LISTED_METHODS : WIDGET_METHODS);
      reply.raw.setHeader('access-control-allow-headers', listed ? LISTED_HEADERS : WIDGET_HEADERS);
      reply.raw.setHeader('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
      return reply.status(204).send();
    }

    if (listed || widget) {
      allowOrigin(reply, origin);
      reply.raw.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
    }
    if (!listed && presentsApiKey(request)) {
      return reply.status(403).send(
        edgeErrorBody(path, 403, `API keys are not accepted from web pages (origin ${origin}): use a widget token, or list the origin in KILN_CORS_ORIGINS.`),
      );
    }
  });
}

function allowOrigin(reply: FastifyReply, origin: string): void {
  reply.raw.setHeader('access-control-allow-origin', origin);
  reply.raw.setHeader('vary', 'Origin');
}

/** Any credential that is not a widget token: an API key in either header, or HTTP Basic. */
function presentsApiKey(request: FastifyRequest): boolean {
  if (request.headers['x-api-key'] !== undefined) return true;
  const authorization = request.headers.authorization;
  return authorization !== undefined && authorization.trim() !== '' && !/^Bearer\s+eyJ/i.test(authorization.trim());
}
