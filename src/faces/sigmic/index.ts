import type { FastifyInstance } from 'fastify';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { presentedCredential } from './auth.js';
import { sendSigmicError } from './errors.js';
import { agentRoutes } from './agent-routes.js';
import { artifactRoutes } from './artifact-routes.js';
import { keyRoutes } from './key-routes.js';
import { taskRoutes } from './task-routes.js';
import { webhookRoutes } from './webhook-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: KeyOwner | null;
  }
}

/**
 * The native face, compatible with Sigmic AI's Tasks API. Mounted at `/api/v1`.
 * Every route needs an API key; errors use `{ success: false, error: { message, code } }`.
 */
export async function sigmicFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function sigmicErrorHandler(error, request, reply) {
    sendSigmicError(error, request, reply, deps.logger);
  });
  app.setNotFoundHandler(function sigmicNotFound(request, reply) {
    void reply.status(404).send({ success: false, error: { message: `No such endpoint: ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } });
  });
  app.addHook('onRequest', async function authenticateApiKey(request, reply) {
    const credential = presentedCredential(request);
    if (credential?.startsWith('eyJ')) {
      return reply.status(501).send({
        success: false,
        error: { message: 'Widget tokens (JWT) are not configured on this Kiln server; use an API key.', code: 'JWT_NOT_CONFIGURED' },
      });
    }
    request.caller = await deps.keys.authenticate(credential);
  });
  await taskRoutes(app, deps);
  await artifactRoutes(app, deps);
  await agentRoutes(app, deps);
  await keyRoutes(app, deps);
  await webhookRoutes(app, deps);
}
