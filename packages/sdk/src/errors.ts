/**
 * An error answered by Kiln (any of its faces), or a failure to reach it.
 *
 * @example
 * try {
 *   await kiln.tasks.get('nope');
 * } catch (error) {
 *   if (error instanceof KilnError && error.code === 'NOT_FOUND') console.log('no such task');
 * }
 */
export class KilnError extends Error {
  override readonly name = 'KilnError';
  /**
   * The error code: the native face's (`NOT_FOUND`, `INVALID_API_KEY`, `CONFLICT`, ...), the
   * Gumloop face's (`not_found`, `unauthorized`, ...), one derived from the status for the
   * Syntropic137 face (which sends only `detail`), or `CONNECTION_FAILED` when Kiln could not be
   * reached (then `status` is 0).
   */
  readonly code: string;
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** The request id of a server error (500), to find its details in the server log. */
  readonly requestId: string | undefined;
  /** The parsed error body, as sent. */
  readonly body: unknown;

  constructor(init: { message: string; code: string; status: number; requestId?: string; body?: unknown; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.body = init.body;
  }

  /** Whether the credential was refused or missing (401). */
  get isAuthError(): boolean {
    return this.status === 401;
  }
}

// The Syntropic137 face answers FastAPI's `{detail}` with no code of its own.
const CODE_OF_STATUS: Record<number, string> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  416: 'RANGE_NOT_SATISFIABLE',
  422: 'VALIDATION_ERROR',
  500: 'INTERNAL_ERROR',
};

/** Kiln reports a server error's request id inside its message: "(request id <uuid>)". */
const REQUEST_ID = /request id ([0-9a-zA-Z-]+)/;

/** Builds the KilnError of an unsuccessful response, whichever face's envelope it carries. */
export async function errorFromResponse(response: Response): Promise<KilnError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a proxy's page, say): keep the text.
  }
  let code = CODE_OF_STATUS[response.status] ?? `HTTP_${response.status}`;
  let message = typeof body === 'string' && body ? body : `${response.status} ${response.statusText}`.trim();
  if (body && typeof body === 'object') {
    const envelope = body as { error?: unknown; detail?: unknown };
    if (envelope.error && typeof envelope.error === 'object') {
      // Native `{success: false, error: {message, code}}`, Gumloop `{error: {code, type, message}}`
      // and the routes outside the faces `{error: {code, message}}`.
      const error = envelope.error as { code?: unknown; message?: unknown };
      if (typeof error.code === 'string') code = error.code;
      if (typeof error.message === 'string') message = error.message;
    } else if (typeof envelope.detail === 'string') {
      message = envelope.detail;
    } else if (Array.isArray(envelope.detail)) {
      message = envelope.detail
        .map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join('.')}: ${d.msg ?? 'invalid'}`)
        .join('; ');
    }
  }
  const requestId = response.headers.get('x-request-id') ?? REQUEST_ID.exec(message)?.[1];
  return new KilnError({ message, code, status: response.status, ...(requestId ? { requestId } : {}), body });
}

/** The KilnError of a request that got no response. */
export function connectionError(url: string, cause: unknown): KilnError {
  const reason = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
  return new KilnError({ message: `Could not reach Kiln at ${url}: ${reason}`, code: 'CONNECTION_FAILED', status: 0, cause });
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
