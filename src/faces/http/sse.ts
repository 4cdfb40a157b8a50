import type { FastifyReply } from 'fastify';
import type { OpenStreams } from './open-streams.js';

/** One Server-Sent Event. `id` is written after `data`, as the documented clients expect. */
export interface SseMessage {
  event: string;
  data: unknown;
  id?: number;
}

/**
 * Writes an async sequence of items as SSE on a hijacked reply, each as the message `toMessage`
 * makes of it: one-line JSON data, heartbeats (`:heartbeat`) at an interval, backpressure
 * respected, and `abort` fired when the client leaves. The only place in Kiln that writes SSE.
 *
 * @example
 * const controller = new AbortController();
 * const items = await service.stream(caller, id, lastEventId, controller.signal); // may throw: normal error reply
 * await writeSse(reply, items, sseOf, controller, { heartbeatMs: 15_000, onError: toErrorEvent });
 */
export async function writeSse<T>(
  reply: FastifyReply,
  items: AsyncIterable<T>,
  toMessage: (item: T) => SseMessage,
  controller: AbortController,
  options: { heartbeatMs: number; onError: (error: unknown) => SseMessage; streams?: OpenStreams },
): Promise<void> {
  reply.hijack();
  // A stream's request has no body; reading its end now spares Node draining it when the stream
  // ends, which for hundreds of streams ending with one turn falls in the same burst.
  reply.request.raw.resume();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const onClose = () => controller.abort();
  res.on('close', onClose);
  // The client may have left while the stream was being opened: then nothing is waited for.
  if (res.destroyed) controller.abort();
  const heartbeat = setInterval(() => {
    if (!res.writableEnded) res.write(':heartbeat\n\n');
  }, options.heartbeatMs);
  let ended: () => void = () => {};
  const unregister = options.streams?.add({
    // Shutdown: tell the client when to reconnect, then end the stream.
    close: (retryMs) => {
      if (!res.writableEnded) res.write(`retry: ${retryMs}\n\n`);
      controller.abort();
    },
    ended: new Promise<void>((resolve) => (ended = resolve)),
  });
  res.once('close', () => ended());

  // Events produced in the same tick leave in one write.
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  try {
    for await (const item of items) {
      if (controller.signal.aborted) break;
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(uncork);
      }
      if (!res.write(format(toMessage(item)))) {
        if (corked) uncork();
        await drained(res, controller.signal);
      }
    }
  } catch (error) {
    // Headers are gone: the failure can only be reported in the stream itself.
    if (!res.writableEnded && !controller.signal.aborted) res.write(format(options.onError(error)));
  } finally {
    clearInterval(heartbeat);
    res.off('close', onClose);
    unregister?.();
    // Ending uncorks: the last events and the end of the response leave in one write.
    if (!res.writableEnded) res.end(() => ended());
    else {
      if (corked) uncork();
      ended();
    }
  }
}

/** Formatted blocks of messages shared between streams (logged events), so each is serialized once. */
const formatted = new WeakMap<SseMessage, string>();

function format(message: SseMessage): string {
  let block = formatted.get(message);
  if (block === undefined) {
    block = `event: ${message.event}\ndata: ${JSON.stringify(message.data)}\n`;
    if (message.id !== undefined) block += `id: ${message.id}\n`;
    block += '\n';
    formatted.set(message, block);
  }
  return block;
}

function drained(res: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
