import type { FastifyInstance } from 'fastify';
import type { FaceDeps } from '../http/face-deps.js';
import { sendSigmicError } from './errors.js';
import { openSessionBody, parseInput } from './schemas.js';
import { clearSessionCookies, setSessionCookies } from './session-cookie.js';

/**
 * `POST /session` (sign in with an API key) and `DELETE /session` (sign out) of the native face:
 * the web console's sign-in. They need no credential, so they live outside the face's
 * authentication; `GET /session` (who is signed in) is a route of the face itself.
 */
export async function sessionRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function sessionErrorHandler(error, request, reply) {
    sendSigmicError(error, request, reply, deps.logger);
  });

  app.post('/session', async function openSession(request, reply) {
    const body = parseInput(openSessionBody, request.body);
    const session = await deps.sessions.open(body.key);
    setSessionCookies(request, reply, session);
    return { success: true, data: sessionView(session.owner, session.expiresAt) };
  });

  app.delete('/session', async function closeSession(_request, reply) {
    clearSessionCookies(reply);
    return { success: true, data: { signedOut: true } };
  });
}

export function sessionView(owner: { userId: string; username: string; apiKeyId: string | null; admin: boolean }, expiresAt: Date | null) {
  return { userId: owner.userId, username: owner.username, apiKeyId: owner.apiKeyId, admin: owner.admin, expiresAt: expiresAt?.toISOString() ?? null };
}
