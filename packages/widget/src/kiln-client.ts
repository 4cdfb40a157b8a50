import { EventSourceParserStream } from 'eventsource-parser/stream';

/** One event of a task's stream. */
export interface StreamEvent {
  event: string;
  data: any;
  id: number | undefined;
}

/** The token the customer's endpoint hands out, and what it says about whom it is for. */
interface Token {
  token: string;
  expiresAt: number;
}

/** Refreshed this long before it expires, so that no request goes out with a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;

/** An error answered by Kiln (or by the token endpoint), with the Tasks API's code when there is one. */
export class KilnError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * The Tasks API as one end user: tokens come from the customer's own endpoint (which holds the
 * app's credentials), requests carry them in the Authorization header, and streams are read
 * with fetch so that the header (and Last-Event-ID) can be sent.
 */
export class KilnClient {
  private current: Token | null = null;

  constructor(
    private readonly kilnUrl: string,
    private readonly tokenUrl: string,
  ) {}

  /** `app` and `sub` of the token: which app and end user the conversation belongs to. */
  async identity(): Promise<{ app: string; endUser: string }> {
    const token = await this.token();
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { app?: string; sub?: string };
    return { app: String(payload.app), endUser: String(payload.sub) };
  }

  async request(method: string, path: string, body?: unknown): Promise<any> {
    const send = async () =>
      fetch(this.kilnUrl + path, {
        method,
        headers: { authorization: `Bearer ${await this.token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    let response = await send();
    if (response.status === 401) {
      // The token may have been ended early (its app's secret rotated): one fresh try.
      this.current = null;
      response = await send();
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) throw new KilnError(payload?.error?.message ?? `Kiln answered ${response.status}`, response.status, payload?.error?.code);
    return payload;
  }

  /**
   * The task's stream from `lastEventId` (from the start, with the history, when undefined),
   * until the server closes it or `signal` aborts. Nothing is yielded for a 204 (nothing new).
   */
  async *stream(taskId: string, lastEventId: number | undefined, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}` };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    const response = await fetch(`${this.kilnUrl}/api/v1/tasks/${encodeURIComponent(taskId)}/stream`, { headers, signal });
    if (response.status === 204) return;
    if (!response.ok || !response.body) {
      const payload = await response.json().catch(() => null);
      if (response.status === 401) this.current = null;
      throw new KilnError(payload?.error?.message ?? `Kiln answered ${response.status}`, response.status, payload?.error?.code);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield { event: value.event ?? 'message', data: JSON.parse(value.data), id: value.id === undefined ? undefined : Number(value.id) };
      }
    } finally {
      reader.releaseLock();
    }
  }

  private async token(): Promise<string> {
    if (this.current && this.current.expiresAt - Date.now() > REFRESH_MARGIN_MS) return this.current.token;
    const response = await fetch(this.tokenUrl, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } });
    const payload = await response.json().catch(() => null);
    // The endpoint may pass Kiln's answer through ({success, data}) or give the data alone.
    const data = payload?.data ?? payload;
    if (!response.ok || typeof data?.token !== 'string') {
      throw new KilnError(payload?.error?.message ?? `The token endpoint answered ${response.status}`, response.status, payload?.error?.code);
    }
    this.current = { token: data.token, expiresAt: Date.parse(data.expiresAt) || Date.now() + REFRESH_MARGIN_MS * 2 };
    return data.token;
  }
}
