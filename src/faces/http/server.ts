import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { gumloopFace } from '../gumloop/index.js';
import { mcpFace } from '../mcp/index.js';
import { sigmicFace } from '../sigmic/index.js';
import { syntropicFace } from '../syntropic/index.js';
import { errorMessage } from '../../logger.js';
import { clientErrorOf } from './framework-errors.js';
import { internalRoutes } from './internal-routes.js';
import { opsRoutes, type OpsRouteDeps } from './ops-routes.js';
import { signedFileRoute } from './signed-file-route.js';
import type { FaceDeps } from './face-deps.js';

const JSON_BODY_LIMIT = 8 * 1024 * 1024;

/**
 * The HTTP server: `/healthz` and the API faces, each mounted under its own prefix with its own
 * error format. `isReady` decides what `/healthz` answers.
 */
export async function buildHttpServer(
  deps: FaceDeps,
  isReady: () => boolean,
  options: { faces: boolean; internal: Parameters<typeof internalRoutes>[1]; ops: OpsRouteDeps },
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: JSON_BODY_LIMIT,
    genReqId: () => randomUUID(),
    // Streams stay open for a long time; requests are bounded by the routes themselves.
    requestTimeout: 0,
    // Open streams must not hold shutdown up.
    forceCloseConnections: true,
  });
  // Routes outside the faces (/files, /healthz, /internal) answer errors as { error: { code, message } }.
  app.setErrorHandler(function rootErrorHandler(error, request, reply) {
    const known = clientErrorOf(error);
    if (known) return reply.status(known.kind === 'not_found' ? 404 : 400).send({ error: { code: known.kind.toUpperCase(), message: known.message } });
    deps.logger.error('request failed', { url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
    return reply.status(500).send({ error: { code: 'INTERNAL_ERROR', message: `Internal server error (request id ${request.id}).` } });
  });
  await app.register(multipart, { limits: { fileSize: deps.uploadLimits.maxFileBytes, files: deps.uploadLimits.maxFiles } });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, function parseUrlEncoded(_request, body, done) {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  app.addHook('onResponse', async function logRequest(request, reply) {
    deps.logger.debug('request', { request: request.id, method: request.method, url: request.routeOptions.url ?? request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
  });
  await opsRoutes(app, options.ops);

  app.get('/healthz', async function healthz(_request, reply) {
    if (!isReady()) return reply.status(503).send({ status: 'unavailable' });
    return { status: 'ok' };
  });

  await internalRoutes(app, options.internal);
  if (options.faces) {
    await signedFileRoute(app, deps);
    app.decorateRequest('caller', null);
    await app.register(async (face) => sigmicFace(face, deps), { prefix: '/api/v1' });
    await app.register(async (face) => gumloopFace(face, deps), { prefix: '/gumloop' });
    await app.register(async (face) => syntropicFace(face, deps), { prefix: '/syntropic' });
    await app.register(async (face) => mcpFace(face, deps), { prefix: '/mcp' });
  }

  app.setNotFoundHandler(function notFound(request, reply) {
    void reply.status(404).send({ error: { message: `No such endpoint: ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } });
  });
  return app;
}
