import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DomainErrorKind } from '../../core/errors.js';
import { errorMessage, type Logger } from '../../logger.js';
import { clientErrorOf } from '../http/framework-errors.js';

const STATUS: Record<DomainErrorKind, [number, string, string]> = {
  auth_required: [401, 'unauthorized', 'authentication_error'],
  invalid_api_key: [401, 'unauthorized', 'authentication_error'],
  invalid_auth_format: [401, 'unauthorized', 'authentication_error'],
  not_found: [404, 'not_found', 'not_found_error'],
  invalid_input: [400, 'invalid_request', 'invalid_request_error'],
  invalid_env: [400, 'invalid_request', 'invalid_request_error'],
  conflict: [409, 'conflict', 'invalid_request_error'],
  too_large: [413, 'payload_too_large', 'invalid_request_error'],
  forbidden: [403, 'forbidden', 'permission_error'],
  storage_full: [507, 'storage_full', 'api_error'],
};

const EDGE_CODES: Record<number, string> = {
  400: 'invalid_request',
  403: 'origin_not_allowed',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  429: 'rate_limited',
  431: 'headers_too_large',
  503: 'too_many_connections',
};

/** Gumloop's envelope of an error the HTTP layer answers itself (timeouts, oversized requests). */
export function gumloopEdgeError(status: number, message: string): unknown {
  return { error: { code: EDGE_CODES[status] ?? 'invalid_request', type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error', message } };
}

/** Gumloop's error shape: `{ error: { code, type, message, param? } }`. */
export function sendGumloopError(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  const known = clientErrorOf(error, request.raw);
  if (known) {
    const [status, code, type] = STATUS[known.kind];
    if (known.kind === 'storage_full') logger.error('the disk is full: a request was refused', { face: 'gumloop', url: request.routeOptions.url, request: request.id });
    const param = 'field' in known && typeof known.field === 'string' ? { param: known.field } : {};
    const specific = (known as { gumloopCode?: string }).gumloopCode;
    void reply.status(status).send({ error: { code: specific ?? known.apiCode?.toLowerCase() ?? code, type, message: known.message, ...param } });
    return;
  }
  logger.error('request failed', { face: 'gumloop', url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
  void reply.status(500).send({ error: { code: 'internal_error', type: 'api_error', message: `Internal server error (request id ${request.id}).` } });
}
