/**
 * The floor: a bare node:http server doing the same HTTP exchange as Kiln, with no storage, no
 * framework and no agent. `POST /api/v1/tasks` (JSON) answers an id; `GET /api/v1/tasks/{id}/stream`
 * sends the events Kiln sends for the same message when the stream is opened before the turn
 * ends (history_message, history_done, status, content deltas of "Echo: <message>" three words
 * each, usage, done), with ids, honouring Last-Event-ID. A message whose first line is `sleep N`
 * (the live variant of W1/W2) sends its turn's events N ms after the create, as Kiln's offline
 * model would. `GET /api/v1/tasks` answers a page of the same
 * shape and size as Kiln's. A create body with `fanout: {thoughts, gapMs, delayMs}` makes a
 * broadcast task: every open stream gets the same live events, paced like Kiln's W3 script.
 *
 * With FILES_DIR, W6's transfer floor: a multipart `POST /api/v1/tasks` has its raw body written
 * to one file in FILES_DIR (the bytes stored once, nothing parsed or hashed), and
 * `GET /api/v1/tasks/{id}/artifacts/download?path=uploads/<name>` streams FILES_DIR/<name> in
 * 1 MiB reads (the client's own file: the same bytes from the same disk).
 *
 * Usage: node floor-server.js PORT [FILES_DIR]   (binds 127.0.0.1 only)
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

interface FanoutSpec {
  thoughts: number;
  gapMs: number;
  delayMs: number;
}

interface FloorTask {
  message: string;
  createdAt: string;
  /** performance.now() at the create. */
  createdMs: number;
  fanout?: { spec: FanoutSpec; subscribers: Set<http.ServerResponse>; emitted: Record<number, number>; ended: boolean };
}

const tasks = new Map<string, FloorTask>();
const port = Number(process.argv[2] ?? 0);
const filesDir = process.argv[3];

function chunk(text: string): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [text];
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += 3) chunks.push(words.slice(i, i + 3).join(''));
  return chunks.length > 0 ? chunks : [''];
}

function block(event: string, data: unknown, id?: number): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n${id === undefined ? '' : `id: ${id}\n`}\n`;
}

function sseHead(res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function listItem(i: number) {
  const now = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  return {
    id: randomUUID(),
    apiKeyId: '05ed48dd-f74e-415e-8988-6e5b94a53fe9',
    username: 'default',
    sessionId: randomUUID(),
    conversationId: `1795458012423-${i.toString(36).padStart(9, '0')}`,
    status: 'completed',
    message: 'hello',
    systemPrompt: null,
    showInHistory: true,
    autoExecute: true,
    env: null,
    error: null,
    createdAt: now,
    startedAt: now,
    completedAt: now,
    toolPolicy: null,
    lastActivityAt: now,
    messageCount: 2,
  };
}
const PAGE_ITEMS = Array.from({ length: 100 }, (_, i) => listItem(i));

function stream(res: http.ServerResponse, task: FloorTask, lastEventId: number | undefined): void {
  sseHead(res);
  const events: string[] = [];
  if (lastEventId === undefined) {
    events.push(block('history_message', { id: 'msg-1', role: 'user', content: task.message, createdAt: task.createdAt }));
    events.push(block('history_done', { messageCount: 1, isStreaming: true }));
  }
  const answer = `Echo: ${task.message}`;
  const parts = chunk(answer);
  let seq = 0;
  const push = (event: string, data: unknown) => {
    seq++;
    if (lastEventId === undefined || seq > lastEventId) events.push(block(event, data, seq));
  };
  const usage = { inputTokens: 182, outputTokens: 24, totalTokens: 206, reasoningTokens: 0, cachedInputTokens: 0 };
  const sleep = /^sleep (\d+)\n/.exec(task.message);
  const wait = sleep ? task.createdMs + Number(sleep[1]) - performance.now() : 0;
  const turn = () => {
    push('status', { status: 'processing' });
    parts.forEach((text, i) => push('content', { text, isPartial: i < parts.length - 1 }));
    push('usage', usage);
    push('done', { finalResponse: answer, status: 'completed', usage });
    for (const e of events.splice(0)) res.write(e);
    res.end();
  };
  if (wait <= 0) return turn();
  for (const e of events.splice(0)) res.write(e);
  setTimeout(turn, wait);
}

function startFanout(task: FloorTask): void {
  const f = task.fanout!;
  let seq = 0;
  const send = (event: string, data: unknown) => {
    seq++;
    f.emitted[seq] = performance.timeOrigin + performance.now();
    const text = block(event, data, seq);
    for (const res of f.subscribers) res.write(text);
  };
  send('status', { status: 'processing' });
  let i = 0;
  const tick = () => {
    if (i < f.spec.thoughts) {
      send('thought', { subject: 'Thinking', description: `step ${i + 1}` });
      i++;
      setTimeout(tick, f.spec.gapMs);
      return;
    }
    // Kiln's W3 script ends with a tool call and a one-line answer.
    const args = { path: '.' };
    send('tool_call', { callId: 'call_1', toolName: 'list_directory', status: 'executing', args, type: 'tool_call', data: { callId: 'call_1', toolName: 'list_directory', status: 'executing', args } });
    send('tool_result', { callId: 'call_1', toolName: 'list_directory', status: 'success', output: 'downloads/\nuploads/' });
    send('content', { text: 'list_directory: success', isPartial: false });
    const usage = { inputTokens: 500, outputTokens: 6, totalTokens: 506, reasoningTokens: 0, cachedInputTokens: 0 };
    send('usage', usage);
    send('done', { finalResponse: 'list_directory: success', status: 'completed', usage });
    f.ended = true;
    for (const res of f.subscribers) res.end();
    f.subscribers.clear();
  };
  setTimeout(tick, f.spec.gapMs);
}

/** W6's floor: the upload's bytes written once, or a file streamed back. False when the request is not one. */
function transfer(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!filesDir) return false;
  const url = new URL(req.url ?? '/', 'http://floor');
  if (req.method === 'POST' && url.pathname === '/api/v1/tasks' && req.headers['content-type']?.startsWith('multipart/form-data')) {
    pipeline(req, fs.createWriteStream(path.join(filesDir, 'floor-upload.bin'))).then(
      () => json(res, 200, { success: true, data: { id: randomUUID(), status: 'pending' } }),
      (error: Error) => json(res, 500, { success: false, error: { message: error.message, code: 'INTERNAL_ERROR' } }),
    );
    return true;
  }
  const wanted = url.searchParams.get('path');
  if (req.method === 'GET' && url.pathname.endsWith('/artifacts/download') && wanted?.startsWith('uploads/')) {
    const file = path.join(filesDir, path.basename(wanted));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
    return true;
  }
  return false;
}

const server = http.createServer((req, res) => {
  if (transfer(req, res)) return;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://floor');
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && url.pathname === '/healthz') return json(res, 200, { status: 'ok' });
    if (req.method === 'POST' && url.pathname === '/api/v1/tasks') {
      let body: { message?: unknown; fanout?: FanoutSpec };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      } catch {
        return json(res, 400, { success: false, error: { message: 'bad JSON', code: 'VALIDATION_ERROR' } });
      }
      if (typeof body.message !== 'string' || body.message.trim() === '') {
        return json(res, 400, { success: false, error: { message: 'message is required', code: 'VALIDATION_ERROR' } });
      }
      const id = randomUUID();
      const task: FloorTask = { message: body.message, createdAt: new Date().toISOString(), createdMs: performance.now() };
      if (body.fanout) {
        task.fanout = { spec: body.fanout, subscribers: new Set(), emitted: {}, ended: false };
        setTimeout(() => startFanout(task), body.fanout.delayMs);
      }
      tasks.set(id, task);
      return json(res, 200, { success: true, data: { id, status: 'pending' } });
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/tasks') {
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 50)));
      const offset = Math.max(0, Number(url.searchParams.get('offset') ?? 0));
      const total = 100_000;
      return json(res, 200, { success: true, data: PAGE_ITEMS.slice(0, limit), pagination: { total, limit, offset, hasMore: offset + limit < total } });
    }
    if (req.method === 'GET' && parts.length === 5 && parts[3] && parts[4] === 'stream') {
      const task = tasks.get(parts[3]);
      if (!task) return json(res, 404, { success: false, error: { message: 'Task not found', code: 'NOT_FOUND' } });
      const header = req.headers['last-event-id'];
      const lastEventId = typeof header === 'string' && header !== '' ? Number(header) : undefined;
      if (task.fanout && !task.fanout.ended) {
        sseHead(res);
        task.fanout.subscribers.add(res);
        res.on('close', () => task.fanout?.subscribers.delete(res));
        return;
      }
      return stream(res, task, lastEventId);
    }
    if (req.method === 'GET' && parts[0] === 'bench' && parts[1] === 'emitted' && parts[2]) {
      return json(res, 200, tasks.get(parts[2])?.fanout?.emitted ?? {});
    }
    json(res, 404, { success: false, error: { message: 'No such endpoint', code: 'NOT_FOUND' } });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`Floor listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
