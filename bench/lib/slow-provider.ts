import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { openai } from '../../test/helpers/fake-llm.js';

/**
 * An OpenAI-compatible chat-completions server that waits `delayMs` before it streams its answer,
 * like a real model: `Echo: <the last user message>` in three pieces, with usage; or, given
 * `streamed`, in pieces of `charsPerPiece` characters `gapMs` apart, as a model sends tokens. It
 * counts the requests it holds at once, to show how many turns Kiln had in flight.
 */
export async function startSlowProvider(delayMs: number, streamed?: { charsPerPiece: number; gapMs: number }) {
  let open = 0;
  let peak = 0;
  let answers: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const asked = performance.now();
      open++;
      peak = Math.max(peak, open);
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { messages?: { role: string; content: unknown }[] };
      const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
      const text = typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? '');
      setTimeout(async () => {
        open--;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const answer = `Echo: ${text}`;
        const size = streamed?.charsPerPiece ?? Math.ceil(answer.length / 3);
        const pieces: string[] = [];
        for (let at = 0; at < answer.length; at += size) pieces.push(answer.slice(at, at + size));
        for (const event of openai.text(pieces, { prompt: 40, completion: pieces.length })) {
          res.write(event);
          if (streamed) await sleep(streamed.gapMs);
        }
        res.end();
        answers.push(performance.now() - asked);
      }, delayMs);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    /** How long each answer took, from the end of its request to the end of its stream, since the last call. */
    takeAnswerMs(): number[] {
      const taken = answers;
      answers = [];
      return taken;
    },
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

