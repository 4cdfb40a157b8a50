import { KilnError, isAbortError } from './errors.js';
import { parseEventStream, type SseMessage } from './sse.js';
import { seg, type Transport } from './transport.js';
import type { TaskEvent } from './types.js';

/** How a task stream comes back after a dropped connection or a server restart. */
export interface ReconnectOptions {
  /** How long to keep trying while Kiln cannot be reached, in ms (default 120 000). */
  timeoutMs?: number;
  /** First wait between tries, in ms, doubling up to `maxDelayMs` (default 250). */
  initialDelayMs?: number;
  /** Longest wait between tries, in ms (default 5 000). */
  maxDelayMs?: number;
  /**
   * Reconnect when nothing (not even a heartbeat, sent every 15 s by default) arrived for this
   * long, in ms (default 60 000): a connection can die without either end noticing.
   */
  idleTimeoutMs?: number;
}

export interface StreamOptions {
  /** Resume after this event id: the history is skipped and only later events come. */
  lastEventId?: number;
  /** Ends the stream (the iterator rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Reconnection settings, or `false` to fail on the first dropped connection. */
  reconnect?: ReconnectOptions | false;
  /** Called before each reconnection attempt (for a "reconnecting..." notice). */
  onReconnect?: (info: { attempt: number; lastEventId: number | undefined; error: unknown }) => void;
  /** Called each time the stream is connected (again): to clear a "reconnecting..." notice while no event comes. */
  onConnect?: (info: { lastEventId: number | undefined }) => void;
}

const TERMINAL = new Set(['done', 'error', 'cancelled']);
const HISTORY = new Set(['history_message', 'history_done']);

/** A connection that broke in a way a new connection may mend. */
class Broken extends Error {}

/**
 * Streams a task's events until its turn ends, reconnecting with `Last-Event-ID` as needed so
 * that no event is lost or repeated.
 */
export async function* streamTask(transport: Transport, taskId: string, options: StreamOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
  const settings = options.reconnect === false ? null : options.reconnect ?? {};
  const timeoutMs = settings?.timeoutMs ?? 120_000;
  const initialDelayMs = settings?.initialDelayMs ?? 250;
  const maxDelayMs = settings?.maxDelayMs ?? 5_000;
  const idleTimeoutMs = settings?.idleTimeoutMs ?? 60_000;

  let lastId = options.lastEventId;
  // History events have no id. A reconnection without an id to resume from (none came yet)
  // replays them: these counters skip what was already yielded.
  let historyMessages = 0;
  let historyDone = false;
  let outageSince: number | undefined;
  let attempt = 0;

  for (;;) {
    const connection = new AbortController();
    const abort = () => connection.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', abort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new Broken(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
    };
    try {
      options.signal?.throwIfAborted();
      const headers: Record<string, string> = lastId === undefined ? {} : { 'last-event-id': String(lastId) };
      const response = await transport.send('GET', `/api/v1/tasks/${seg(taskId)}/stream`, { headers, signal: connection.signal });
      if (!response.body) throw new Broken('the stream has no body');
      options.onConnect?.({ lastEventId: lastId });
      touch();
      const body = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            touch();
            controller.enqueue(chunk);
          },
        }),
      );
      let messageIndex = 0;
      for await (const message of parseEventStream(body)) {
        outageSince = undefined;
        attempt = 0;
        const event = decode(message);
        if (message.id === undefined && event.event === 'error') {
          throw new Broken(`the server's stream failed: ${(event.data as { message?: string }).message ?? 'unknown error'}`);
        }
        if (message.id !== undefined) {
          const id = Number(message.id);
          if (lastId !== undefined && id <= lastId) continue;
          lastId = id;
        } else if (HISTORY.has(event.event)) {
          if (historyDone) continue;
          if (event.event === 'history_message' && messageIndex++ < historyMessages) continue;
          if (event.event === 'history_message') historyMessages++;
          else historyDone = true;
        }
        yield event;
        if (TERMINAL.has(event.event)) return;
      }
      throw new Broken('the stream closed before the turn ended');
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const reason = connection.signal.aborted && connection.signal.reason instanceof Broken ? connection.signal.reason : error;
      if (!isRecoverable(reason)) throw reason;
      if (!settings) throw lost(taskId, reason, 'reconnecting is off');
      outageSince ??= Date.now();
      if (Date.now() - outageSince > timeoutMs) throw lost(taskId, reason, `no reconnection within ${Math.round(timeoutMs / 1000)} s`);
      attempt++;
      options.onReconnect?.({ attempt, lastEventId: lastId, error: reason });
      await sleep(Math.min(initialDelayMs * 2 ** (attempt - 1), maxDelayMs), options.signal);
    } finally {
      clearTimeout(idle);
      options.signal?.removeEventListener('abort', abort);
      connection.abort();
    }
  }
}

function decode(message: SseMessage): TaskEvent {
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    throw new Broken(`an event that is not JSON: ${message.data.slice(0, 100)}`);
  }
  const event = { event: message.event, data } as TaskEvent & { id?: number };
  if (message.id !== undefined) event.id = Number(message.id);
  return event;
}

/** Network failures, server errors (a restart behind a proxy) and broken streams; not 4xx. */
function isRecoverable(error: unknown): boolean {
  if (error instanceof Broken) return true;
  if (error instanceof KilnError) return error.status === 0 || error.status >= 500 || error.status === 408 || error.status === 429;
  if (isAbortError(error)) return false;
  // A body that breaks while being read: undici's "terminated" TypeError, and the like.
  return error instanceof Error;
}

function lost(taskId: string, cause: unknown, why: string): KilnError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new KilnError({ message: `Lost the stream of task ${taskId} (${why}): ${reason}`, code: 'STREAM_LOST', status: 0, cause });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
