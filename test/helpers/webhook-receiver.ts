import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A webhook request as a receiver got it. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: any;
  headers: http.IncomingHttpHeaders;
}

/** What the receiver does with a request: answer with a status, or hold it (never answer). */
export type Behaviour = (request: Received, nth: number) => number | 'hang';

/**
 * A real HTTP server receiving webhooks on 127.0.0.1, recording every request. Its behaviour can
 * change at any time; it can be stopped and started again on the same port.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  behaviour: Behaviour = () => 200;
  private server: http.Server | null = null;
  private port = 0;
  private waiters: { predicate: (r: Received[]) => boolean; resolve: () => void }[] = [];
  private readonly held = new Set<http.ServerResponse>();

  static async start(behaviour?: Behaviour): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    if (behaviour) receiver.behaviour = behaviour;
    await receiver.listen();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const got: Received = {
          id: String(req.headers['webhook-id']),
          timestamp: String(req.headers['webhook-timestamp']),
          signature: String(req.headers['webhook-signature']),
          body,
          json: safeJson(body),
          headers: req.headers,
        };
        this.received.push(got);
        const answer = this.behaviour(got, this.received.length);
        if (answer === 'hang') this.held.add(res);
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
        this.notify();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening (requests held are dropped); `listen()` starts again on the same port. */
  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once the requests received so far satisfy `predicate`. */
  waitFor(predicate: (received: Received[]) => boolean): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }

  /** Resolves with the first request whose event type and task match. */
  async event(type: string, taskId?: string): Promise<Received> {
    const match = (r: Received) => r.json?.type === type && (taskId === undefined || r.json?.data?.taskId === taskId);
    await this.waitFor((all) => all.some(match));
    return this.received.find(match)!;
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.predicate(this.received)) return true;
      w.resolve();
      return false;
    });
  }
}

/** Verifies a request's signature with the endpoint's secret, as a receiver would (Standard Webhooks' own library). */
export function verify(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': request.id,
    'webhook-timestamp': request.timestamp,
    'webhook-signature': request.signature,
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
