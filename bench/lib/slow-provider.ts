import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openai } from '../../test/helpers/fake-llm.js';

/**
 * An OpenAI-compatible chat-completions server that waits `delayMs` before it streams its answer,
 * like a real model: `Echo: <the last user message>` in three pieces, with usage. It counts the
 * requests it holds at once, to show how many turns Kiln had in flight.
 */
export async function startSlowProvider(delayMs: number) {
  let open = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      open++;
      peak = Math.max(peak, open);
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { messages?: { role: string; content: unknown }[] };
      const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
      const text = typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? '');
      setTimeout(() => {
        open--;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const answer = `Echo: ${text}`;
        const third = Math.ceil(answer.length / 3);
        const pieces = [0, third, 2 * third].map((at) => answer.slice(at, at + third));
        for (const event of openai.text(pieces, { prompt: 40, completion: 20 })) res.write(event);
        res.end();
      }, delayMs);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    /** Most requests held at once since the last call. */
    takePeak(): number {
      const value = peak;
      peak = open;
      return value;
    },
    async stop(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

