import type { IncomingMessage } from 'node:http';
import { DomainError, Forbidden, InvalidInput, NotFound, storageFullOf, TooLarge } from '../../core/errors.js';

/**
 * Errors raised by the HTTP framework itself (bad JSON, wrong content type, body too large, a
 * `request` its client gave up on), turned into domain errors so each face can answer them in
 * its own format; so is a full disk, wherever a write met it. Returns undefined for anything else
 * (an internal error).
 */
export function clientErrorOf(error: unknown, request?: IncomingMessage): DomainError | undefined {
  if (error instanceof DomainError) return error;
  const full = storageFullOf(error);
  if (full) return full;
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidInput('Unsupported Content-Type: send application/json, multipart/form-data or application/x-www-form-urlencoded.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidInput('The JSON body is empty.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TooLarge('The request body is too large.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidInput('Content-Length does not match the body.');
    case 'FST_ERR_NOT_FOUND':
      return new NotFound('Not found');
    case 'ECONNRESET':
      // Node's error for a request body the client stopped sending (the same error for a
      // response this server was reading from elsewhere is an internal one): nobody is left to answer.
      if (e.message === 'aborted' && request?.destroyed) return new InvalidInput('The client closed the connection before the request was complete; nothing was stored.');
      break;
    default:
      break;
  }
  if (isMalformedMultipart(error)) {
    return new InvalidInput('The multipart body is malformed or was cut off (is the boundary in the Content-Type?); nothing was stored.');
  }
  if (error instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message ?? ''))) {
    return new InvalidInput('The body is not valid JSON.');
  }
  if (e.statusCode === 403) return new Forbidden(e.message ?? 'Forbidden');
  if (e.statusCode === 404) return new NotFound(e.message ?? 'Not found');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new InvalidInput(e.message ?? 'Bad request.');
  }
  return undefined;
}

/** busboy's messages for a multipart body it cannot read (no boundary, cut off, bad part headers). */
export function isMalformedMultipart(error: unknown): boolean {
  return error instanceof Error && /^(Multipart: Boundary not found|Unexpected end of (form|multipart data)|Part terminated early|Malformed part header)/i.test(error.message);
}
