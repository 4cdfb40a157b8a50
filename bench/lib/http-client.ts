import http from 'node:http';

/**
 * A small HTTP/SSE client on node:http with a keep-alive agent, for the load generator.
 * Talks to loopback only.
 */
export class Client {
  readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;

  constructor(
    baseUrl: string,
    private readonly headers: Record<string, string> = {},
    maxSockets = 64,
  ) {
    const url = new URL(baseUrl);
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname)) throw new Error(`loopback targets only, not ${url.hostname}`);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** One request; the body is read whole. */
  request(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string | number> = { ...this.headers, ...extraHeaders };
      if (payload) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const req = http.request({ host: this.host, port: this.port, method, path, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async json<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  }

  /**
   * Opens an SSE stream and calls `onEvent` for each event block (comments skipped) with the
   * time it was parsed. `onEvent` returning 'drop' destroys the connection at once (a client
   * losing its network). Resolves when the server ends the stream or after a drop.
   */
  stream(
    path: string,
    onEvent: (e: SseBlock) => void | 'drop',
    options: { headers?: Record<string, string>; method?: string; body?: unknown; onOpen?: (t: number) => void } = {},
  ): Promise<{ status: number; dropped: boolean; body?: string }> {
    const onOpen = options.onOpen;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = { ...this.headers, accept: 'text/event-stream', ...options.headers };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.host, port: this.port, method: options.method ?? 'GET', path, agent: this.agent, headers },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, dropped: false, body: Buffer.concat(chunks).toString() }));
            return;
          }
          onOpen?.(performance.now());
          res.setEncoding('utf8');
          let buffer = '';
          let dropped = false;
          res.on('data', (chunk: string) => {
            if (dropped) return;
            buffer += chunk;
            let split: number;
            while ((split = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, split);
              buffer = buffer.slice(split + 2);
              if (block.startsWith(':')) continue;
              if (onEvent(parseBlock(block, performance.now())) === 'drop') {
                dropped = true;
                req.destroy();
                resolve({ status: 200, dropped: true });
                return;
              }
            }
          });
          res.on('end', () => resolve({ status: 200, dropped: false }));
          res.on('error', (error) => (dropped ? undefined : reject(error)));
          res.on('aborted', () => (dropped ? undefined : reject(new Error('stream aborted by the server'))));
        },
      );
      req.on('error', (error) => reject(error));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface SseBlock {
  event: string;
  id: number | undefined;
  data: string;
  /** performance.now() when the block was parsed. */
  t: number;
}

function parseBlock(block: string, t: number): SseBlock {
  let event = 'message';
  let id: number | undefined;
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data = data ? `${data}\n${line.slice(6)}` : line.slice(6);
    else if (line.startsWith('data:')) data = data ? `${data}\n${line.slice(5)}` : line.slice(5);
    else if (line.startsWith('id: ')) id = Number(line.slice(4));
  }
  return { event, id, data, t };
}

export const TERMINAL_EVENTS = new Set(['done', 'error', 'cancelled']);
