import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { gumloopFace } from '../gumloop/index.js';
import { mcpFace } from '../mcp/index.js';
import { sigmicFace } from '../sigmic/index.js';
import { sessionRoutes } from '../sigmic/session-routes.js';
import { syntropicFace } from '../syntropic/index.js';
import { errorMessage } from '../../logger.js';
import { KILN_VERSION } from '../../version.js';
import { registerBodyParsers } from './body-parsers.js';
import { browserAccess } from './browser-access.js';
import { routingError, trackResponses, unparsableRequest } from './edge-errors.js';
import { clientErrorOf } from './framework-errors.js';
import { idempotentRoutes } from './idempotency.js';
import { limitRequestRate } from './rate-limit.js';
import { guardInput } from './input-guard.js';
import { consoleApp } from './console-app.js';
import { internalRoutes } from './internal-routes.js';
import { opsRoutes, type OpsRouteDeps } from './ops-routes.js';
import { signedFileRoute } from './signed-file-route.js';
import { widgetScriptRoute } from './widget-script-route.js';
import type { FaceDeps } from './face-deps.js';
import { applyRequestLimits, HEADER_PARSE_BYTES, refuseConnectionsOverCap, serverTimeouts, type RequestLimits } from './request-limits.js';
import { HTTP_STATUS } from './domain-status.js';

const JSON_BODY_LIMIT = 8 * 1024 * 1024;
const ROOT = new URL('../../../../', import.meta.url);
const OPENAPI = new URL('docs/openapi.json', ROOT);
const CONSOLE_DIST = new URL('packages/console/dist/', ROOT);

/**
 * The HTTP server: `/healthz`, the web console and the API faces, each mounted under its own prefix with its own
 * error format. `isReady` decides what `/healthz` answers.
 */
export async function buildHttpServer(
  deps: FaceDeps,
  isReady: () => boolean,
  options: { faces: boolean; internal: Parameters<typeof internalRoutes>[1]; limits: RequestLimits; ops: OpsRouteDeps },
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: JSON_BODY_LIMIT,
    genReqId: () => randomUUID(),
    ...serverTimeouts(options.limits),
    // Open streams must not hold shutdown up.
    forceCloseConnections: true,
    frameworkErrors: routingError,
    clientErrorHandler: unparsableRequest,
    // A missing Host header is answered in applyRequestLimits, in the face's envelope.
    http: { maxHeaderSize: HEADER_PARSE_BYTES, requireHostHeader: false },
  });
  trackResponses(app.server);
  // Routes outside the faces (/files, /healthz, /internal) answer errors as { error: { code, message } }.
  app.setErrorHandler(function rootErrorHandler(error, request, reply) {
    const known = clientErrorOf(error, request.raw);
    if (known) return reply.status(HTTP_STATUS[known.kind]).send({ error: { code: known.apiCode ?? known.kind.toUpperCase(), message: known.message } });
    deps.logger.error('request failed', { url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
    return reply.status(500).send({ error: { code: 'INTERNAL_ERROR', message: `Internal server error (request id ${request.id}).` } });
  });
  // Hooks of the root apply to every route of every face; they are added before the faces are.
  applyRequestLimits(app, options.limits);
  guardInput(app);
  browserAccess(app, deps.corsOrigins);
  await app.register(multipart, { limits: { fileSize: deps.uploadLimits.maxFileBytes, files: deps.uploadLimits.maxFiles } });
  registerBodyParsers(app);
  await app.register(cookie);
  app.addHook('onResponse', function logRequest(request, reply, done) {
    deps.logger.debug('request', { request: request.id, method: request.method, url: request.routeOptions.url ?? request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
    done();
  });
  await opsRoutes(app, options.ops);
  refuseConnectionsOverCap(app, options.limits);

  const consolePage = options.faces ? await consoleApp(app, CONSOLE_DIST) : null;
  // Browsers get the console; programs an answer that says what the API offers and where it is described.
  app.get('/', async function home(request, reply) {
    if (consolePage?.servesPage(request)) return consolePage.sendPage(reply);
    return {
      name: 'Kiln',
      version: KILN_VERSION,
      links: { console: '/', api: '/api/v1/tasks', gumloop: '/gumloop/agents', syntropic: '/syntropic/artifacts', openapi: '/openapi.json', health: '/healthz' },
      auth: 'Send "Authorization: Bearer <API key>"; create a key with `kiln keys create --user NAME`.',
    };
  });

  app.get('/openapi.json', async function openApiDocument(_request, reply) {
    return reply.header('content-type', 'application/json; charset=utf-8').send(fs.createReadStream(OPENAPI));
  });

  app.get('/healthz', async function healthz(_request, reply) {
    if (!isReady()) return reply.status(503).send({ status: 'unavailable' });
    return { status: 'ok' };
  });

  await internalRoutes(app, options.internal);
  if (options.faces) {
    await signedFileRoute(app, deps);
    await widgetScriptRoute(app);
    app.decorateRequest('caller', null);
    idempotentRoutes(app, deps.idempotency, deps.logger);
    if (deps.rateLimiter) limitRequestRate(app, deps.rateLimiter);
    await app.register(async (face) => sigmicFace(face, deps), { prefix: '/api/v1' });
    await app.register(async (face) => sessionRoutes(face, deps), { prefix: '/api/v1' });
    await app.register(async (face) => gumloopFace(face, deps), { prefix: '/gumloop' });
    await app.register(async (face) => syntropicFace(face, deps), { prefix: '/syntropic' });
    await app.register(async (face) => mcpFace(face, deps), { prefix: '/mcp' });
  }

  app.setNotFoundHandler(function notFound(request, reply) {
    void reply.status(404).send({ error: { message: `No such endpoint: ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } });
  });
  return app;
}
