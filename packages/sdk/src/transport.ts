import { connectionError, errorFromResponse, isAbortError } from './errors.js';

export type QueryValue = string | number | boolean | undefined | null;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (FormData for multipart). */
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called as the request body is sent (in browsers, where the request then goes by XMLHttpRequest). */
  onUploadProgress?: (progress: UploadProgress) => void;
}

export interface UploadProgress {
  /** Bytes of the body sent so far. */
  loaded: number;
  /** Bytes of the whole body, when known. */
  total: number | undefined;
}

/** Settings shared by every request of a client. */
export interface TransportOptions {
  /** Where Kiln listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /**
   * A `kiln_...` API key, sent as `Authorization: Bearer`. Leave it out in a page signed in to
   * the Kiln console: the session cookie is the credential then (see `credentials`, `csrfToken`).
   */
  apiKey?: string;
  /** Whether the browser sends cookies: `same-origin` (the platform's default) or `include`. */
  credentials?: RequestCredentials;
  /**
   * The console session's CSRF token, sent as `X-Kiln-CSRF` with every write; Kiln refuses
   * cookie-authenticated writes without it. In the browser: `csrfToken: csrfFromCookie`.
   */
  csrfToken?: () => string | undefined;
  /** A fetch implementation; the platform's by default. */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

/** Sends requests to one Kiln server and turns failures into KilnErrors. */
export class Transport {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly credentials: RequestCredentials | undefined;
  private readonly csrfToken: (() => string | undefined) | undefined;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required, e.g. "http://127.0.0.1:8080"');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    // Bound: some platforms' fetch refuses to be called as a method of another object.
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = options.headers ?? {};
    this.credentials = options.credentials;
    this.csrfToken = options.csrfToken;
  }

  url(path: string, query: Record<string, QueryValue> = {}): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  /** Sends a request; resolves with the response when it is a success, else throws KilnError. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...options.headers };
    const csrf = method !== 'GET' && method !== 'HEAD' ? this.csrfToken?.() : undefined;
    if (csrf) headers['x-kiln-csrf'] = csrf;
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const url = this.url(path, options.query);
    let response: Response;
    try {
      const init: RequestInit = { method, headers, body: body ?? null, signal: options.signal ?? null, ...(this.credentials ? { credentials: this.credentials } : {}) };
      response =
        options.onUploadProgress && typeof XMLHttpRequest !== 'undefined'
          ? await sendWithProgress(url, init, options.onUploadProgress)
          : await this.fetchImpl(url, init);
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw connectionError(this.baseUrl, error);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /** A request whose answer is JSON. */
  async json<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    const response = await this.send(method, path, options);
    return (await response.json()) as T;
  }

  /** A request to the native API, whose answer is `{success: true, data}`: resolves with `data`. */
  async data<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    return (await this.json<{ data: T }>(method, path, options)).data;
  }
}

/**
 * The CSRF token of the Kiln console's session, from its `kiln_csrf` cookie (browsers only).
 *
 * @example
 * const kiln = new Kiln({ baseUrl: location.origin, csrfToken: csrfFromCookie });
 */
export function csrfFromCookie(): string | undefined {
  if (typeof document === 'undefined') return undefined;
  const entry = document.cookie.split('; ').find((c) => c.startsWith('kiln_csrf='));
  return entry ? decodeURIComponent(entry.slice('kiln_csrf='.length)) : undefined;
}

/** fetch's job done by XMLHttpRequest, the one browser API that reports upload progress. */
function sendWithProgress(url: string, init: RequestInit, onProgress: (progress: UploadProgress) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const signal = init.signal ?? undefined;
    const onAbort = () => xhr.abort();
    xhr.open(init.method ?? 'GET', url);
    xhr.responseType = 'blob';
    xhr.withCredentials = init.credentials === 'include';
    for (const [name, value] of Object.entries(init.headers as Record<string, string>)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : undefined });
    xhr.onload = () => {
      signal?.removeEventListener('abort', onAbort);
      const headers = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
        const at = line.indexOf(':');
        if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
      const empty = xhr.status === 204 || xhr.status === 304;
      resolve(new Response(empty ? null : (xhr.response as Blob), { status: xhr.status, statusText: xhr.statusText, headers }));
    };
    xhr.onerror = () => reject(new TypeError('Failed to fetch'));
    xhr.onabort = () => reject(signal?.reason ?? new DOMException('The request was aborted.', 'AbortError'));
    signal?.addEventListener('abort', onAbort, { once: true });
    xhr.send((init.body ?? null) as XMLHttpRequestBodyInit | null);
  });
}

/** Encodes one path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
