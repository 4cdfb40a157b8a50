import { APICallError } from '@ai-sdk/provider';

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * True for provider failures worth another try: rate limits (429), server errors (5xx),
 * and connections that failed or dropped.
 */
export function isTransient(error: unknown): boolean {
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    if (status === undefined) return true;
    return status === 408 || status === 409 || status === 429 || status >= 500 || error.isRetryable;
  }
  return isNetworkError(error);
}

/** A short, bounded kind of model failure for metrics: rate_limit, server, client, network or other. */
export function modelErrorKind(error: unknown): string {
  if (APICallError.isInstance(error) && error.statusCode !== undefined) {
    if (error.statusCode === 429) return 'rate_limit';
    return error.statusCode >= 500 ? 'server' : 'client';
  }
  if (APICallError.isInstance(error) || isNetworkError(error)) return 'network';
  return 'other';
}

/** How long the provider asked us to wait (Retry-After), in milliseconds, if it did. */
export function retryAfterMs(error: unknown): number | undefined {
  if (!APICallError.isInstance(error)) return undefined;
  const header = error.responseHeaders?.['retry-after'];
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A one-line description of a model failure for the task's error and the stream. */
export function describeModelError(error: unknown): string {
  if (APICallError.isInstance(error)) {
    if (error.statusCode !== undefined) return `The model provider answered ${error.statusCode}: ${providerMessage(error)}`;
    return `Could not reach the model provider at ${origin(error.url)}: ${causeMessage(error)}`;
  }
  if (isNetworkError(error)) return `The connection to the model provider failed: ${causeMessage(error)}`;
  return error instanceof Error ? error.message : String(error);
}

function providerMessage(error: APICallError): string {
  // The SDK's message is usually the provider's own; the raw body is the fallback.
  if (error.message && !/^Bad Request$|^Internal Server Error$/i.test(error.message)) return error.message;
  return error.responseBody?.slice(0, 500) ?? error.message;
}

function isNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: string }).code;
    if (code && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && /fetch failed|terminated|other side closed|socket/i.test(e.message)) return true;
  }
  return false;
}

function causeMessage(error: unknown): string {
  let e: unknown = error;
  while ((e as { cause?: unknown }).cause) e = (e as { cause?: unknown }).cause;
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/^Cannot connect to API: /, '');
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
