import type { FastifyInstance } from 'fastify';
import { InvalidInput } from '../../core/errors.js';

/** Methods whose requests carry no body in Kiln's API: an empty body sent as JSON is no body. */
const BODYLESS = new Set(['DELETE', 'OPTIONS']);

const SEND_JSON = 'send it with "Content-Type: application/json" (curl: -H "Content-Type: application/json")';

/**
 * The body parsers of every face: JSON (prototype-poisoning safe), URL-encoded forms, and
 * plain text, which no route takes. A JSON body sent under another content type (curl's `-d`
 * sends `application/x-www-form-urlencoded`) is refused with what to change, rather than read as
 * a form with no fields.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJsonBody(request, body, done) {
    if (body === '' && BODYLESS.has(request.method)) return done(null, undefined);
    parseJson(request, String(body), done);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, function parseUrlEncoded(_request, body, done) {
    const text = String(body);
    if (looksLikeJson(text)) return done(new InvalidInput(`The body is JSON but was sent as application/x-www-form-urlencoded: ${SEND_JSON}.`), undefined);
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, function refusePlainText(_request, body, done) {
    const hint = looksLikeJson(String(body)) ? `The body is JSON but was sent as text/plain: ${SEND_JSON}.` : 'Unsupported Content-Type text/plain: send application/json, multipart/form-data or application/x-www-form-urlencoded.';
    done(new InvalidInput(hint), undefined);
  });
}

function looksLikeJson(text: string): boolean {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed)) return false;
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}
