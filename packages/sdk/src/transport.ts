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
}

/** Settings shared by every request of a client. */
export interface TransportOptions {
  /** Where Kiln listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A `kiln_...` API key, sent as `Authorization: Bearer`. */
  apiKey: string;
  /** A fetch implementation; the platform's by default. */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

/** Sends requests to one Kiln server and turns failures into KilnErrors. */
export class Transport {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required, e.g. "http://127.0.0.1:8080"');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    // Bound: some platforms' fetch refuses to be called as a method of another object.
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = options.headers ?? {};
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
    const headers: Record<string, string> = { ...this.headers, authorization: `Bearer ${this.apiKey}`, ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const url = this.url(path, options.query);
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers, body: body ?? null, signal: options.signal ?? null });
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

/** Encodes one path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
