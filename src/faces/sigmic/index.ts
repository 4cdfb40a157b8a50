import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, InvalidAuthFormat } from '../../core/errors.js';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { originOf, presentedCredential } from './auth.js';
import { sessionCaller, sessionToken } from './session-cookie.js';
import { sessionView } from './session-routes.js';
import { sendSigmicError } from './errors.js';
import { agentRoutes } from './agent-routes.js';
import { artifactRoutes } from './artifact-routes.js';
import { keyRoutes } from './key-routes.js';
import { taskRoutes } from './task-routes.js';
import { tokenRoutes } from './token-routes.js';
import { widgetAppRoutes } from './widget-app-routes.js';
import { webhookRoutes } from './webhook-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: KeyOwner | null;
  }
}

/** Routes that take no credential: the widget token exchange authenticates with the app's own. */
const OPEN_ROUTES = new Set(['/api/v1/auth/token']);
/** A widget token may use the Tasks API (tasks, their streams, approvals and files), and nothing else. */
const TOKEN_ROUTES = /^\/api\/v1\/tasks(\/|$)/;
const STREAM_ROUTE = '/api/v1/tasks/:id/stream';

/**
 * The native face, compatible with Sigmic AI's Tasks API. Mounted at `/api/v1`.
 * Every route but the token exchange needs an API key (or the console's session cookie), or a
 * widget token (`eyJ...`) for the Tasks API; errors use `{ success: false, error: { message, code } }`.
 */
export async function sigmicFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function sigmicErrorHandler(error, request, reply) {
    sendSigmicError(error, request, reply, deps.logger);
  });
  app.setNotFoundHandler(function sigmicNotFound(request, reply) {
    void reply.status(404).send({ success: false, error: { message: `No such endpoint: ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } });
  });
  app.addHook('onRequest', async function authenticate(request) {
    const route = request.routeOptions.url ?? '';
    if (OPEN_ROUTES.has(route)) return;
    const credential = presentedCredential(request) ?? streamToken(request, route);
    if (credential?.trim().startsWith('eyJ')) {
      const caller = await deps.widgetTokens.authenticate(credential.trim(), originOf(request));
      if (!TOKEN_ROUTES.test(route)) throw new Forbidden('A widget token may only use the Tasks API (/api/v1/tasks); this endpoint needs an API key.');
      request.caller = caller;
      return;
    }
    // A request without an API key may be the console's, signed in with a session cookie.
    const session = credential === undefined ? sessionToken(request) : undefined;
    request.caller = session ? await sessionCaller(request, deps.sessions, session) : await deps.keys.authenticate(credential);
  });
  app.get('/session', async function currentSession(request) {
    return { success: true, data: sessionView(request.caller!, null) };
  });
  await taskRoutes(app, deps);
  await artifactRoutes(app, deps);
  await agentRoutes(app, deps);
  await keyRoutes(app, deps);
  await widgetAppRoutes(app, deps);
  await tokenRoutes(app, deps);
  await webhookRoutes(app, deps);
}

/**
 * A widget token given as `?access_token=` on a stream URL, for a browser's EventSource (which
 * cannot send headers). Only tokens: an API key in a URL would end up in logs and histories.
 */
function streamToken(request: FastifyRequest, route: string): string | undefined {
  const token = (request.query as { access_token?: unknown } | undefined)?.access_token;
  if (token === undefined) return undefined;
  if (route !== STREAM_ROUTE || typeof token !== 'string' || !token.startsWith('eyJ')) {
    throw new InvalidAuthFormat('access_token is accepted only on a task stream URL, and only for a widget token; send API keys in the Authorization header.');
  }
  return token;
}
