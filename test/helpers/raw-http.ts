import net from 'node:net';

/**
 * A client that speaks HTTP/1.1 by hand over a socket, for what fetch cannot do: send a body
 * slowly, stop half-way, or open connections from a chosen loopback address.
 */
export class RawConnection {
  readonly socket: net.Socket;
  private received = '';
  /** Resolves when the server (or the network) closes the connection. */
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;

  constructor(url: string, options: { localAddress?: string } = {}) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect({ host: hostname, port: Number(port), ...options });
    this.socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')));
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => reject(new Error('closed before connecting')));
    });
    this.connected.catch(() => {});
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readyState === 'closed';
  }

  /** Writes the request line and headers (and the start of a body, when given). */
  send(text: string | Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(text);
    return true;
  }

  /**
   * Sends `chunks` one at a time, `pauseMs` apart, stopping early when the server closes the
   * connection. Resolves true when every chunk was written, false when the server closed first.
   */
  async trickle(chunks: (string | Buffer)[], pauseMs: number): Promise<boolean> {
    for (const chunk of chunks) {
      if (this.isClosed || !this.send(chunk)) return false;
      const closed = await Promise.race([this.closed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), pauseMs))]);
      if (closed) return false;
    }
    return !this.isClosed;
  }

  /** Waits for one whole response (headers and a Content-Length body) and parses it. */
  async response(): Promise<RawResponse> {
    for (;;) {
      const parsed = parseResponse(this.received);
      if (parsed) return parsed;
      if (this.isClosed) throw new Error(`connection closed before a whole response arrived: ${JSON.stringify(this.received)}`);
      await Promise.race([this.closed, new Promise((r) => this.socket.once('data', r))]);
    }
  }

  /** Waits until what was received matches `pattern` (false when the connection closes first). */
  async waitFor(pattern: RegExp): Promise<boolean> {
    while (!pattern.test(this.received)) {
      if (this.isClosed) return false;
      await Promise.race([this.closed, new Promise((r) => this.socket.once('data', r))]);
    }
    return true;
  }

  /** Everything received so far. */
  get text(): string {
    return this.received;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json(): any;
}

function parseResponse(text: string): RawResponse | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = text.slice(end + 4);
  if (Buffer.byteLength(body, 'latin1') < length) return null;
  const content = Buffer.from(body.slice(0, length), 'latin1').toString('utf8');
  return { status: Number(statusLine!.split(' ')[1]), headers, body: content, json: () => JSON.parse(content) };
}

/** A request head: request line, the given headers, and Host (127.0.0.1 unless given). */
export function head(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const host = Object.keys(headers).some((k) => k.toLowerCase() === 'host') ? [] : ['Host: 127.0.0.1'];
  const lines = [`${method} ${path} HTTP/1.1`, ...host, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
