import type { FastifyRequest } from 'fastify';
import { InvalidAuthFormat } from '../../core/errors.js';

/** The credential a native-face request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedCredential(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined && authorization.trim() !== '') {
    const match = /^Bearer(?:\s+(\S*))?$/i.exec(authorization.trim());
    if (!match) throw new InvalidAuthFormat('Unrecognised Authorization header: use "Authorization: Bearer kiln_...".');
    return match[1] || undefined;
  }
  const apiKey = request.headers['x-api-key'];
  return Array.isArray(apiKey) ? apiKey[0] : apiKey;
}

/** The `Origin` a browser sent with the request; undefined for requests not made by a web page. */
export function originOf(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return typeof origin === 'string' ? origin : undefined;
}
