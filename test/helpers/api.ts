import type { KilnServer } from './kiln-process.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A small client for the native API, authenticated with one key. */
export class Api {
  constructor(
    readonly baseUrl: string,
    readonly key: string | null,
  ) {}

  static of(server: KilnServer, key = server.key): Api {
    return new Api(server.url, key);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  async request<T = any>(method: string, path: string, init: { json?: unknown; body?: RequestInit["body"]; headers?: Record<string, string> } = {}): Promise<ApiResponse<T>> {
    const headers = this.headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const response = await fetch(this.baseUrl + path, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>('GET', path, { headers });
  }

  post<T = any>(path: string, json: unknown) {
    return this.request<T>('POST', path, { json });
  }

  /** Creates a task from JSON and returns its id. */
  async createTask(fields: Record<string, unknown>): Promise<string> {
    const response = await this.post('/api/v1/tasks', fields);
    if (response.status !== 200) throw new Error(`create failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.data.id;
  }

  /** Opens the task's stream and reads it until the server closes it. */
  async streamAll(taskId: string, lastEventId?: number): Promise<SseEvent[]> {
    const stream = await this.openStream(taskId, lastEventId);
    return stream.readAll();
  }

  async openStream(taskId: string, lastEventId?: number): Promise<SseReader> {
    const headers = this.headers(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) });
    const controller = new AbortController();
    const response = await fetch(`${this.baseUrl}/api/v1/tasks/${taskId}/stream`, { headers, signal: controller.signal });
    // 204: the task has ended and the client has seen its end already.
    if (response.status !== 200 && response.status !== 204) throw new Error(`stream failed: ${response.status} ${await response.text()}`);
    return new SseReader(response, controller);
  }

  /**
   * Every logged event of the task, once its latest turn has ended. (A stream opened after a
   * turn ended shows only the history and the terminal event; this reads the whole log.)
   */
  async events(taskId: string): Promise<SseEvent[]> {
    await this.waitForEnd(taskId);
    // A stream ends after the first terminal event it sends: read turn after turn.
    const all: SseEvent[] = [];
    for (let last = 0; ; ) {
      const batch = await this.streamAll(taskId, last);
      if (batch.length === 0) return all;
      all.push(...batch);
      last = batch[batch.length - 1]!.id!;
    }
  }

  /** Waits until the task's latest turn has ended, by streaming it. */
  async waitForEnd(taskId: string): Promise<SseEvent> {
    const events = await this.streamAll(taskId);
    const last = events[events.length - 1];
    if (!last || !['done', 'error', 'cancelled'].includes(last.event)) throw new Error(`stream ended without a terminal event: ${JSON.stringify(events)}`);
    return last;
  }
}

export interface SseEvent {
  event: string;
  data: any;
  id?: number;
  /** The block exactly as received. */
  raw: string;
}

/** Reads Server-Sent Events from a fetch response, block by block. */
export class SseReader {
  private buffer = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array> | null;
  private readonly decoder = new TextDecoder();
  readonly comments: string[] = [];
  private ended = false;

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.reader = response.body?.getReader() ?? null;
    this.ended = this.reader === null;
  }

  /** The next event, or null when the server closed the stream. */
  async next(): Promise<SseEvent | null> {
    for (;;) {
      const split = this.buffer.indexOf('\n\n');
      if (split >= 0) {
        const block = this.buffer.slice(0, split);
        this.buffer = this.buffer.slice(split + 2);
        if (block.startsWith(':')) {
          this.comments.push(block);
          continue;
        }
        return parseBlock(block);
      }
      if (this.ended) return null;
      const { done, value } = await this.reader!.read();
      if (done) this.ended = true;
      else this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  async readAll(): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let e = await this.next(); e; e = await this.next()) events.push(e);
    return events;
  }

  /** Reads until `predicate` matches an event (included) or the stream ends. */
  async readUntil(predicate: (e: SseEvent) => boolean): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let e = await this.next(); e; e = await this.next()) {
      events.push(e);
      if (predicate(e)) break;
    }
    return events;
  }

  /** Drops the connection, as a client losing its network would. */
  close(): void {
    this.controller.abort();
  }
}

function parseBlock(block: string): SseEvent {
  const event: SseEvent = { event: 'message', data: null, raw: block };
  for (const line of block.split('\n')) {
    const colon = line.indexOf(': ');
    const field = colon >= 0 ? line.slice(0, colon) : line;
    const value = colon >= 0 ? line.slice(colon + 2) : '';
    if (field === 'event') event.event = value;
    else if (field === 'data') event.data = JSON.parse(value);
    else if (field === 'id') event.id = Number(value);
  }
  return event;
}

/** Multipart form with text fields and in-memory files. */
export function form(fields: Record<string, string>, files: { name: string; content: string | Uint8Array; field?: string }[] = []): FormData {
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  for (const f of files) data.append(f.field ?? 'files', new Blob([f.content as Uint8Array<ArrayBuffer>]), f.name);
  return data;
}
