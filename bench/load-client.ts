/**
 * The load generator: a separate process from the server under test. It gets one job as JSON
 * (argv[2]), talks HTTP to a loopback URL with node:http only, and prints to stdout:
 *   `@phase start` / `@phase end` around the measured window (the runner reads server CPU then),
 *   `@result <json>` at the end.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client, TERMINAL_EVENTS, type SseBlock } from './lib/http-client.js';
import { summarize } from './lib/stats.js';

export type Target = 'kiln' | 'langgraph' | 'mastra';

export type Job =
  | {
      kind: 'run';
      target: Target;
      url: string;
      key?: string;
      c: number;
      durationMs?: number;
      count?: number;
      warmupMs?: number;
      message: string;
      expect: string;
      /** print `@mark N` when N iterations are done (the runner takes readings then) */
      marks?: number[];
      /** spread the workers' first iterations evenly over this many ms (instead of all at once) */
      staggerMs?: number;
    }
  | { kind: 'list'; target: Target; url: string; key?: string; c: number; durationMs?: number; count?: number; warmupMs?: number; limit: number; offsets: 'first' | 'random'; total: number }
  | {
      kind: 'fanout';
      url: string;
      key?: string;
      subscribers: number;
      message: string;
      createBody?: Record<string, unknown>;
      warmup?: { message: string; createBody?: Record<string, unknown> };
    }
  | { kind: 'resume'; url: string; key?: string; c: number; streams: number; message: string; dropMax: number; seed: number }
  | { kind: 'upload'; url: string; key?: string; files: { path: string; name: string }[]; downloadDir: string }
  | { kind: 'seed'; target: Target; url: string; c: number; count: number };

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const headers: Record<string, string> = 'key' in job && job.key ? { authorization: `Bearer ${job.key}` } : {};

function phase(name: 'start' | 'end'): void {
  process.stdout.write(`@phase ${name}\n`);
}

/** Wall-clock milliseconds (fractional) of a performance.now() reading. */
const wall = (t: number) => performance.timeOrigin + t;

// ---------------------------------------------------------------- closed loop

interface IterationResult {
  /** create request (ms), or null when the target has no separate create */
  create: number | null;
  first: number;
  done: number;
  lastEvent: number;
  events: number;
}

async function runOnce(client: Client, target: Target, message: string, expect: string): Promise<IterationResult> {
  const t0 = performance.now();
  let first = -1;
  let last = -1;
  let events = 0;
  let text = '';
  let terminal: SseBlock | null = null;
  const onEvent = (e: SseBlock) => {
    if (first < 0) first = e.t;
    last = e.t;
    events++;
    if (target === 'kiln') {
      if (TERMINAL_EVENTS.has(e.event)) terminal = e;
    } else {
      text += e.data;
    }
  };
  let create: number | null = null;
  let r: { status: number; body?: string };
  if (target === 'kiln') {
    const created = await client.json<{ data: { id: string } }>('POST', '/api/v1/tasks', { message });
    create = performance.now() - t0;
    r = await client.stream(`/api/v1/tasks/${created.data.id}/stream`, onEvent);
  } else if (target === 'langgraph') {
    const thread = await client.json<{ thread_id: string }>('POST', '/threads', {});
    create = performance.now() - t0;
    r = await client.stream(`/threads/${thread.thread_id}/runs/stream`, onEvent, {
      method: 'POST',
      body: { assistant_id: 'agent', input: { messages: [{ role: 'user', content: message }] } },
    });
  } else {
    r = await client.stream(`/api/agents/fakeAgent/stream`, onEvent, {
      method: 'POST',
      body: { messages: [{ role: 'user', content: message }], memory: { thread: randomUUID(), resource: 'bench' } },
    });
  }
  const end = performance.now();
  if (r.status !== 200) throw new Error(`stream: HTTP ${r.status} ${r.body?.slice(0, 200)}`);
  if (target === 'kiln') {
    const t = terminal as SseBlock | null;
    if (!t) throw new Error('stream closed without a terminal event');
    if (t.event !== 'done' || !t.data.includes(expect)) throw new Error(`unexpected terminal event: ${t.event} ${t.data.slice(0, 200)}`);
  } else if (!text.includes(expect)) {
    throw new Error(`stream lacks the canned reply: ${text.slice(-200)}`);
  }
  return { create, first: first - t0, done: (target === 'kiln' ? last : end) - t0, lastEvent: last - t0, events };
}

/** Runs `c` workers over `fn` for a duration or a count, after an unmeasured warm-up. */
async function closedLoop<T>(
  spec: { c: number; durationMs?: number; count?: number; warmupMs?: number; marks?: number[]; staggerMs?: number },
  fn: () => Promise<T>,
): Promise<{ results: T[]; errors: number; firstError: string | null; elapsedMs: number; clientCpuPct: number }> {
  const run = async (deadline: number, count: number | undefined, keep: boolean) => {
    const results: T[] = [];
    let started = 0;
    let errors = 0;
    let firstError: string | null = null;
    const worker = async (_: unknown, index: number) => {
      if (spec.staggerMs) await new Promise((resolve) => setTimeout(resolve, (index * spec.staggerMs!) / spec.c));
      while (performance.now() < deadline && (count === undefined || started < count)) {
        started++;
        try {
          const r = await fn();
          if (keep) {
            results.push(r);
            if (spec.marks?.includes(results.length)) process.stdout.write(`@mark ${results.length}\n`);
          }
        } catch (error) {
          errors++;
          firstError ??= String((error as Error).message ?? error);
          if (errors > 1000) break;
        }
      }
    };
    await Promise.all(Array.from({ length: spec.c }, worker));
    return { results, errors, firstError };
  };
  if (spec.warmupMs) await run(performance.now() + spec.warmupMs, undefined, false);
  phase('start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = spec.durationMs ? t0 + spec.durationMs : Infinity;
  const out = await run(deadline, spec.count, true);
  const elapsedMs = performance.now() - t0;
  phase('end');
  const cpu = process.cpuUsage(cpu0);
  return { ...out, elapsedMs, clientCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100 };
}

async function runJob(j: Extract<Job, { kind: 'run' }>) {
  const client = new Client(j.url, headers, j.c + 4);
  const loop = await closedLoop(j, () => runOnce(client, j.target, j.message, j.expect));
  client.close();
  const r = loop.results;
  const n = r.length;
  return {
    iterations: n,
    errors: loop.errors,
    firstError: loop.firstError,
    elapsedMs: loop.elapsedMs,
    perSec: (n / loop.elapsedMs) * 1000,
    eventsPerIter: n ? r.reduce((a, x) => a + x.events, 0) / n : 0,
    createMs: summarize(r.filter((x) => x.create !== null).map((x) => x.create!)),
    firstEventMs: summarize(r.map((x) => x.first)),
    doneMs: summarize(r.map((x) => x.done)),
    lastEventMs: summarize(r.map((x) => x.lastEvent)),
    clientCpuPct: loop.clientCpuPct,
  };
}

// ---------------------------------------------------------------- list pages

async function listJob(j: Extract<Job, { kind: 'list' }>) {
  const client = new Client(j.url, headers, j.c + 4);
  let bytes = 0;
  let seq = 0;
  const once = async () => {
    const offset = j.offsets === 'first' ? 0 : Math.floor(Math.random() * Math.max(1, j.total - j.limit));
    const t = performance.now();
    let r: { status: number; body: string };
    if (j.target === 'kiln') r = await client.request('GET', `/api/v1/tasks?limit=${j.limit}&offset=${offset}`);
    else if (j.target === 'langgraph') r = await client.request('POST', '/threads/search', { limit: j.limit, offset });
    else r = await client.request('GET', `/api/memory/threads?agentId=fakeAgent&resourceId=bench&perPage=${j.limit}&page=${Math.floor(offset / j.limit)}`);
    const ms = performance.now() - t;
    if (r.status !== 200) throw new Error(`list: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    if (seq++ === 0) {
      const body = JSON.parse(r.body);
      const items = Array.isArray(body) ? body : (body.data ?? body.threads ?? []);
      if (!Array.isArray(items) || items.length === 0) throw new Error(`list returned no items: ${r.body.slice(0, 200)}`);
    }
    bytes += r.body.length;
    return ms;
  };
  const loop = await closedLoop(j, once);
  client.close();
  return {
    requests: loop.results.length,
    errors: loop.errors,
    firstError: loop.firstError,
    elapsedMs: loop.elapsedMs,
    perSec: (loop.results.length / loop.elapsedMs) * 1000,
    latencyMs: summarize(loop.results),
    bytesPerResponse: loop.results.length ? bytes / (loop.results.length + 1) : 0,
    clientCpuPct: loop.clientCpuPct,
  };
}

// ---------------------------------------------------------------- fan-out

async function fanoutJob(j: Extract<Job, { kind: 'fanout' }>) {
  const client = new Client(j.url, headers, j.subscribers + 8);
  // A first, unmeasured round with the same subscribers warms up both sides (JIT, sockets).
  if (j.warmup) await fanoutRound(client, j.subscribers, j.warmup.message, j.warmup.createBody);
  phase('start');
  const cpu0 = process.cpuUsage();
  // `@mark 1` tells the runner every subscriber is connected (the turn has not started yet).
  const { id, subs } = await fanoutRound(client, j.subscribers, j.message, j.createBody, () => process.stdout.write('@mark 1\n'));
  phase('end');
  const cpu = process.cpuUsage(cpu0);
  client.close();
  return { taskId: id, clientCpuMs: (cpu.user + cpu.system) / 1000, subscribers: subs };
}

async function fanoutRound(client: Client, subscribers: number, message: string, createBody?: Record<string, unknown>, onAllOpen?: () => void) {
  const created = await client.json<{ data: { id: string } }>('POST', '/api/v1/tasks', { message, ...createBody });
  const id = created.data.id;
  let opened = 0;
  const subs = await Promise.all(
    Array.from({ length: subscribers }, async () => {
      const events: [number, number][] = [];
      let openedAt = 0;
      let terminal = '';
      await client.stream(
        `/api/v1/tasks/${id}/stream`,
        (e) => {
          if (e.id !== undefined) events.push([e.id, Math.round(wall(e.t) * 100) / 100]);
          if (TERMINAL_EVENTS.has(e.event)) terminal = e.event;
        },
        {
          onOpen: (t) => {
            openedAt = wall(t);
            if (++opened === subscribers) onAllOpen?.();
          },
        },
      );
      return { openedAt, terminal, events };
    }),
  );
  return { id, subs };
}

// ---------------------------------------------------------------- drop and resume

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function resumeJob(j: Extract<Job, { kind: 'resume' }>) {
  const client = new Client(j.url, headers, j.c + 4);
  const random = mulberry32(j.seed);
  let dropped = 0;
  let noDrop = 0;
  let lost = 0;
  let duplicated = 0;
  let badTerminal = 0;
  const resumeFirst: number[] = [];
  const resumeDone: number[] = [];
  let started = 0;
  const one = async () => {
    const dropAt = 1 + Math.floor(random() * Math.max(1, j.dropMax - 1));
    const created = await client.json<{ data: { id: string } }>('POST', '/api/v1/tasks', { message: j.message });
    const path = `/api/v1/tasks/${created.data.id}/stream`;
    const seen: number[] = [];
    let idEvents = 0;
    let terminalId: number | undefined;
    const first = await client.stream(path, (e) => {
      if (e.id === undefined) return;
      seen.push(e.id);
      if (TERMINAL_EVENTS.has(e.event)) terminalId = e.id;
      if (++idEvents === dropAt && terminalId === undefined) return 'drop';
    });
    if (!first.dropped) {
      noDrop++;
    } else {
      dropped++;
      const lastId = seen[seen.length - 1]!;
      const t0 = performance.now();
      let firstAt = -1;
      await client.stream(
        path,
        (e) => {
          if (e.id === undefined) return;
          if (firstAt < 0) firstAt = e.t;
          seen.push(e.id);
          if (TERMINAL_EVENTS.has(e.event)) terminalId = e.id;
        },
        { headers: { 'last-event-id': String(lastId) } },
      );
      resumeFirst.push(firstAt - t0);
      resumeDone.push(performance.now() - t0);
    }
    if (terminalId === undefined) {
      badTerminal++;
      return;
    }
    // A stream opened while the turn ran replays the turn from its first event (id 1 for a new
    // task); every id from there to the terminal one must arrive exactly once.
    const from = Math.min(...seen);
    const counts = new Map<number, number>();
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (let id = from; id <= terminalId; id++) if (!counts.has(id)) lost++;
    for (const n of counts.values()) if (n > 1) duplicated += n - 1;
    for (const id of counts.keys()) if (id > terminalId) duplicated++;
  };
  phase('start');
  const t0 = performance.now();
  let errors = 0;
  let firstError: string | null = null;
  await Promise.all(
    Array.from({ length: j.c }, async () => {
      while (started < j.streams) {
        started++;
        try {
          await one();
        } catch (error) {
          errors++;
          firstError ??= String((error as Error).message ?? error);
        }
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  phase('end');
  client.close();
  return {
    streams: j.streams,
    dropped,
    noDrop,
    lost,
    duplicated,
    withoutTerminal: badTerminal,
    errors,
    firstError,
    elapsedMs,
    resumeFirstEventMs: summarize(resumeFirst),
    resumeDoneMs: summarize(resumeDone),
  };
}

// ---------------------------------------------------------------- upload and download

async function uploadJob(j: Extract<Job, { kind: 'upload' }>) {
  const url = new URL(j.url);
  const boundary = `----kilnbench${randomUUID().replace(/-/g, '')}`;
  const field = `--${boundary}\r\ncontent-disposition: form-data; name="message"\r\n\r\nhello\r\n`;
  const fileHeads = j.files.map(
    (f) => `--${boundary}\r\ncontent-disposition: form-data; name="files"; filename="${f.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`,
  );
  const tail = `--${boundary}--\r\n`;
  const sizes = j.files.map((f) => fs.statSync(f.path).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const length = Buffer.byteLength(field) + fileHeads.reduce((a, h) => a + Buffer.byteLength(h) + 2, 0) + total + Buffer.byteLength(tail);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  phase('start');
  const t0 = performance.now();
  const created = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: Number(url.port),
        method: 'POST',
        path: '/api/v1/tasks',
        agent,
        headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    (async () => {
      req.write(field);
      for (let i = 0; i < j.files.length; i++) {
        req.write(fileHeads[i]!);
        await new Promise<void>((done, fail) => {
          const rs = fs.createReadStream(j.files[i]!.path, { highWaterMark: 1024 * 1024 });
          rs.on('end', () => done());
          rs.on('error', fail);
          rs.pipe(req, { end: false });
        });
        req.write('\r\n');
      }
      req.end(tail);
    })().catch(reject);
  });
  const uploadMs = performance.now() - t0;
  if (created.status !== 200) throw new Error(`upload: HTTP ${created.status} ${created.body.slice(0, 300)}`);
  const id = (JSON.parse(created.body) as { data: { id: string } }).data.id;

  const downloads: { name: string; ms: number; bytes: number; sha256ok: boolean }[] = [];
  let unavailable: { status: number; body: string } | null = null;
  const t1 = performance.now();
  for (const f of j.files) {
    const out = path.join(j.downloadDir, `${f.name}.down`);
    const ts = performance.now();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: Number(url.port), method: 'GET', agent, path: `/api/v1/tasks/${id}/artifacts/download?path=${encodeURIComponent(`uploads/${f.name}`)}`, headers },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      unavailable = { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString().slice(0, 300) };
      break;
    }
    await pipeline(res, fs.createWriteStream(out));
    const ms = performance.now() - ts;
    const bytes = fs.statSync(out).size;
    downloads.push({ name: f.name, ms, bytes, sha256ok: (await sha256(out)) === (await sha256(f.path)) });
    fs.rmSync(out, { force: true });
  }
  // the transfers only: the SHA-256 checks after each one are not part of it
  const downloadMs = downloads.reduce((a, d) => a + d.ms, 0);
  void t1;
  phase('end');
  agent.destroy();
  return { taskId: id, bytes: total, uploadMs, downloadMs: unavailable ? null : downloadMs, downloads, unavailable };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

// ---------------------------------------------------------------- seeding peers

async function seedJob(j: Extract<Job, { kind: 'seed' }>) {
  const client = new Client(j.url, headers, j.c + 4);
  let n = 0;
  const loop = await closedLoop({ c: j.c, count: j.count }, async () => {
    const i = n++;
    if (j.target === 'langgraph') await client.json('POST', '/threads', { metadata: { i } });
    else await client.json('POST', '/api/memory/threads?agentId=fakeAgent', { resourceId: 'bench', threadId: randomUUID(), title: `thread ${i}` });
  });
  client.close();
  return { created: loop.results.length, errors: loop.errors, firstError: loop.firstError, elapsedMs: loop.elapsedMs };
}

const jobs = {
  run: runJob,
  list: listJob,
  fanout: fanoutJob,
  resume: resumeJob,
  upload: uploadJob,
  seed: seedJob,
} as Record<Job['kind'], (j: any) => Promise<unknown>>;

try {
  const fn = jobs[job.kind];
  if (!fn) throw new Error(`unknown job kind ${String(job.kind)}`);
  const result = await fn(job);
  process.stdout.write(`@result ${JSON.stringify(result)}\n`);
} catch (error) {
  process.stdout.write(`@result ${JSON.stringify({ failed: String((error as Error).stack ?? error) })}\n`);
  process.exitCode = 1;
}
