import type { FastifyReply, FastifyRequest } from 'fastify';
import { specificCodeOf, type DomainErrorKind } from '../../core/errors.js';
import { errorMessage, type Logger } from '../../logger.js';
import { clientErrorOf } from '../http/framework-errors.js';

const STATUS: Record<DomainErrorKind, [number, string]> = {
  auth_required: [401, 'AUTH_REQUIRED'],
  invalid_api_key: [401, 'INVALID_API_KEY'],
  invalid_auth_format: [401, 'INVALID_AUTH_FORMAT'],
  not_found: [404, 'NOT_FOUND'],
  invalid_input: [400, 'VALIDATION_ERROR'],
  invalid_env: [400, 'INVALID_ENV'],
  conflict: [409, 'CONFLICT'],
  too_large: [413, 'PAYLOAD_TOO_LARGE'],
  forbidden: [403, 'FORBIDDEN'],
  storage_full: [507, 'STORAGE_FULL'],
};

/** Codes of errors the HTTP layer answers before a route runs (see `edge-errors.ts`). */
const EDGE_CODES: Record<number, string> = {
  400: 'VALIDATION_ERROR',
  403: 'ORIGIN_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
  503: 'TOO_MANY_CONNECTIONS',
};

/** The native envelope of an error the HTTP layer answers itself (timeouts, oversized requests). */
export function sigmicEdgeError(status: number, message: string): unknown {
  return { success: false, error: { message, code: EDGE_CODES[status] ?? 'VALIDATION_ERROR' } };
}

/** The native face's error envelope: `{ success: false, error: { message, code } }`. */
export function sendSigmicError(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  const known = clientErrorOf(error, request.raw);
  if (known) {
    const [status, kindCode] = STATUS[known.kind];
    const code = specificCodeOf(known) ?? kindCode;
    if (known.kind === 'storage_full') logger.error('the disk is full: a request was refused', { url: request.routeOptions.url, request: request.id });
    void reply.status(status).send({ success: false, error: { message: known.message, code: known.apiCode ?? code } });
    return;
  }
  logger.error('request failed', { method: request.method, url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
  void reply.status(500).send({
    success: false,
    error: { message: `Internal server error (request id ${request.id}); the server log has the details.`, code: 'INTERNAL_ERROR' },
  });
}
