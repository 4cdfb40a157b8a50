import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleSession, ConsoleSessions } from '../../core/auth/console-sessions.js';
import type { KeyOwner } from '../../ports/storage.js';

/** The HttpOnly cookie that carries a console session. */
export const SESSION_COOKIE = 'kiln_session';
/** A cookie the console's script reads, to send the session's CSRF token back as `X-Kiln-CSRF`. */
export const CSRF_COOKIE = 'kiln_csrf';
export const CSRF_HEADER = 'x-kiln-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console session's token, when the request carries one. */
export function sessionToken(request: FastifyRequest): string | undefined {
  const token = request.cookies?.[SESSION_COOKIE];
  return token === undefined || token === '' ? undefined : token;
}

/**
 * Authenticates a request by its console session cookie. A write (any method but GET and HEAD)
 * must also carry the session's CSRF token in `X-Kiln-CSRF`, which a page of another site cannot
 * read; with SameSite=Strict cookies this is a second wall.
 */
export async function sessionCaller(request: FastifyRequest, sessions: ConsoleSessions, token: string): Promise<KeyOwner> {
  const owner = await sessions.authenticate(token);
  if (!SAFE_METHODS.has(request.method)) {
    const header = request.headers[CSRF_HEADER];
    sessions.checkCsrf(token, Array.isArray(header) ? header[0] : header);
  }
  return owner;
}

/** Sets both cookies of a new session. `Secure` when the request came over HTTPS. */
export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, session: ConsoleSession): void {
  const common = { path: '/', sameSite: 'strict' as const, secure: request.protocol === 'https', expires: session.expiresAt };
  reply.setCookie(SESSION_COOKIE, session.token, { ...common, httpOnly: true });
  reply.setCookie(CSRF_COOKIE, session.csrf, { ...common, httpOnly: false });
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  reply.clearCookie(CSRF_COOKIE, { path: '/' });
}
