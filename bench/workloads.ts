import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cpuBetween, cpuMsOf, openFds, peakRssKb, processesNamed, resetPeakRss, rssKb, sampleRss } from './lib/proc.js';
import { eventTimes, seedTasks } from './lib/seed.js';
import { dropSchemas, vacuumSchemas } from './lib/postgres.js';
import { runLoad, startFloor, startKiln, tempDir, type KilnOptions, type KilnServer, type Server } from './lib/servers.js';
import { startSlowProvider } from './lib/slow-provider.js';
import { percentile, round, summarize } from './lib/stats.js';
import type { Settings } from './settings.js';

/** prom-client's event-loop monitor timer interval (its default), which Kiln keeps. */
const LOOP_DELAY_RESOLUTION_MS = 10;

/** 17 words: with history, status and done, Kiln streams 10 events for it (6 content deltas). */
export const MESSAGE = 'hello from the kiln bench, a short message of seventeen words to echo back in six parts';
export const EXPECT = 'Echo: hello from';
/**
 * The live variant: the turn waits 20 ms before it answers, so the stream is open while it runs
 * (without it, a create → stream exchange mostly replays a turn that already ended).
 */
const LIVE_SLEEP_MS = 20;
const LIVE = { message: `sleep ${LIVE_SLEEP_MS}\n${MESSAGE}`, expect: `Echo: sleep ${LIVE_SLEEP_MS}` };

export interface Row {
  workload: string;
  metric: string;
  kiln: number | null;
  floor?: number | null;
  unit: string;
  /** Kiln ÷ floor, or floor ÷ Kiln, whichever reads as "fraction of the floor" for the metric. */
  ratio?: number | null;
  ratioLabel?: string;
  target?: string;
  met?: boolean | null;
  note?: string;
}

export interface WorkloadOutput {
  rows: Row[];
  data: Record<string, unknown>;
  notes: string[];
}

export interface Context {
  settings: Settings;
  log(line: string): void;
  /** Node flags for Kiln (e.g. --cpu-prof) for the named workload. */
  kilnNodeArgs(workload: string): string[];
}

async function withKiln<T>(ctx: Context, workload: string, options: KilnOptions, fn: (kiln: KilnServer) => Promise<T>): Promise<T> {
  const kiln = await startKiln({ ...options, nodeArgs: [...(options.nodeArgs ?? []), ...ctx.kilnNodeArgs(workload)] });
  try {
    return await fn(kiln);
  } catch (error) {
    const log = kiln.output().trim().split('\n').slice(-8).join('\n');
    if (error instanceof Error && log) error.message += `\n  Kiln's last log lines:\n${log}`;
    throw error;
  } finally {
    await kiln.stop();
    if (!options.dataDir) fs.rmSync(kiln.dataDir, { recursive: true, force: true });
  }
}

async function withFloor<T>(fn: (floor: Server) => Promise<T>): Promise<T> {
  const floor = await startFloor();
  try {
    return await fn(floor);
  } finally {
    await floor.stop();
  }
}

const perTask = (cpu: number | null, n: number) => (cpu === null || n === 0 ? null : cpu / n);

// ------------------------------------------------------------------ W1 + W2

interface RunResult {
  iterations: number;
  errors: number;
  firstError: string | null;
  perSec: number;
  eventsPerIter: number;
  createMs: ReturnType<typeof summarize>;
  firstEventMs: ReturnType<typeof summarize>;
  doneMs: ReturnType<typeof summarize>;
  lastEventMs: ReturnType<typeof summarize>;
  clientCpuPct: number;
}

function runJob(server: { url: string; key?: string }, c: number, spec: { count?: number; durationMs?: number; warmupMs?: number; message?: string; expect?: string; staggerMs?: number }) {
  return { kind: 'run', target: 'kiln', url: server.url, key: server.key, c, message: MESSAGE, expect: EXPECT, ...spec };
}

export async function w1(ctx: Context): Promise<WorkloadOutput> {
  const n = ctx.settings.w1Iterations;
  // The replay and the live variant, each on one Kiln and one floor.
  const measure = async (server: { url: string; key?: string; pid: number }) => [
    await runLoad<RunResult>(runJob(server, 1, { count: n, warmupMs: 500 }), server.pid),
    await runLoad<RunResult>(runJob(server, 1, { count: n, warmupMs: 500, ...LIVE }), server.pid),
  ];
  const [kiln, kilnLive] = await withKiln(ctx, 'w1', {}, measure);
  const [floor, floorLive] = await withFloor(measure);
  const k = kiln!.result;
  const f = floor!.result;
  const kl = kilnLive!.result;
  const fl = floorLive!.result;
  const live = (ms: number | null) => (ms === null ? null : ms - LIVE_SLEEP_MS);
  const rows: Row[] = [
    row('W1', 'first event p50', k.firstEventMs.p50, f.firstEventMs.p50, 'ms', 'x'),
    row('W1', 'first event p99', k.firstEventMs.p99, f.firstEventMs.p99, 'ms', 'x'),
    { ...row('W1', 'done p50', k.doneMs.p50, f.doneMs.p50, 'ms', 'x'), target: '< 5 ms', met: k.doneMs.p50 !== null && k.doneMs.p50 < 5 },
    row('W1', 'done p99', k.doneMs.p99, f.doneMs.p99, 'ms', 'x'),
    row('W1', 'live: first event p50', kl.firstEventMs.p50, fl.firstEventMs.p50, 'ms', 'x'),
    { ...row('W1', `live: done p50 - ${LIVE_SLEEP_MS} ms`, live(kl.doneMs.p50), live(fl.doneMs.p50), 'ms', 'x'), note: `the turn sleeps ${LIVE_SLEEP_MS} ms first` },
    row('W1', `live: done p99 - ${LIVE_SLEEP_MS} ms`, live(kl.doneMs.p99), live(fl.doneMs.p99), 'ms', 'x'),
  ];
  const notes = [
    `W1: ${k.iterations} tasks at c=1, ${round(k.eventsPerIter, 1)} events per stream (floor ${round(f.eventsPerIter, 1)}), ${k.errors} errors${k.firstError ? ` (${k.firstError})` : ''}; create request p50 ${k.createMs.p50} ms`,
    `W1 live: ${kl.iterations} tasks at c=1, ${round(kl.eventsPerIter, 1)} events per stream (floor ${round(fl.eventsPerIter, 1)}), ${kl.errors} errors${kl.firstError ? ` (${kl.firstError})` : ''}`,
  ];
  return { rows, data: { kiln: k, floor: f, live: { kiln: kl, floor: fl } }, notes };
}

export async function w2(ctx: Context): Promise<WorkloadOutput> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const spec = { durationMs: ctx.settings.w2DurationMs, warmupMs: ctx.settings.w2WarmupMs };
  // One Kiln for the three levels (c ascending; the database holds a few thousand tasks by the last one).
  const levels = ctx.settings.w2Concurrency;
  // Then the live variant at the highest level.
  const top = levels[levels.length - 1]!;
  const measure = async (server: { url: string; key?: string; pid: number }) => {
    const out = [];
    for (const c of levels) out.push(await runLoad<RunResult>(runJob(server, c, spec), server.pid));
    out.push(await runLoad<RunResult>(runJob(server, top, { ...spec, ...LIVE }), server.pid));
    return out;
  };
  const kilnRuns = await withKiln(ctx, 'w2', {}, measure);
  const floorRuns = await withFloor(measure);
  for (const [i, c] of levels.entries()) {
    const kiln = kilnRuns[i]!;
    const floor = floorRuns[i]!;
    const k = kiln.result;
    const f = floor.result;
    const kCpu = perTask(kiln.serverCpuMs, k.iterations);
    const fCpu = perTask(floor.serverCpuMs, f.iterations);
    const tput = row('W2', `tasks/s c=${c}`, k.perSec, f.perSec, '/s', 'frac');
    const cpu = row('W2', `server CPU ms/task c=${c}`, kCpu, fCpu, 'ms', 'x');
    if (c === 32) {
      Object.assign(tput, { target: '>= 12% of floor', met: (tput.ratio ?? 0) >= 0.12 });
      Object.assign(cpu, { target: '<= 1 ms', met: kCpu !== null && kCpu <= 1 });
    }
    rows.push(tput, cpu, row('W2', `done p50 c=${c}`, k.doneMs.p50, f.doneMs.p50, 'ms', 'x'));
    data[`c${c}`] = { kiln: { ...k, serverCpuMsPerTask: kCpu, serverCpuPct: pct(kiln.serverCpuMs, kiln.windowMs) }, floor: { ...f, serverCpuMsPerTask: fCpu, serverCpuPct: pct(floor.serverCpuMs, floor.windowMs) } };
    notes.push(
      `W2 c=${c}: Kiln ${k.iterations} tasks, ${k.errors} errors${k.firstError ? ` (${k.firstError})` : ''}, server CPU ${round(pct(kiln.serverCpuMs, kiln.windowMs), 0)}%, client CPU ${round(k.clientCpuPct, 0)}%; floor server CPU ${round(pct(floor.serverCpuMs, floor.windowMs), 0)}%, client CPU ${round(f.clientCpuPct, 0)}%`,
    );
  }
  const kiln = kilnRuns[levels.length]!;
  const floor = floorRuns[levels.length]!;
  const k = kiln.result;
  const f = floor.result;
  const kCpu = perTask(kiln.serverCpuMs, k.iterations);
  rows.push(
    { ...row('W2', `live: tasks/s c=${top}`, k.perSec, f.perSec, '/s', 'frac'), note: `the turn sleeps ${LIVE_SLEEP_MS} ms first` },
    row('W2', `live: server CPU ms/task c=${top}`, kCpu, perTask(floor.serverCpuMs, f.iterations), 'ms', 'x'),
    row('W2', `live: first event p50 c=${top}`, k.firstEventMs.p50, f.firstEventMs.p50, 'ms', 'x'),
    row('W2', `live: done p50 c=${top}`, k.doneMs.p50, f.doneMs.p50, 'ms', 'x'),
  );
  data.live = { c: top, kiln: { ...k, serverCpuMsPerTask: kCpu }, floor: f };
  notes.push(`W2 live c=${top}: Kiln ${k.iterations} tasks, ${k.errors} errors${k.firstError ? ` (${k.firstError})` : ''}, ${round(k.eventsPerIter, 1)} events per stream (floor ${round(f.eventsPerIter, 1)})`);
  return { rows, data, notes };
}

const pct = (cpuMs: number | null, windowMs: number) => (cpuMs === null || windowMs <= 0 ? null : (cpuMs / windowMs) * 100);

// ------------------------------------------------------------------ W3 fan-out

interface FanoutResult {
  taskId: string;
  clientCpuMs: number;
  subscribers: { openedAt: number; terminal: string; events: [number, number][] }[];
}

/** One fan-out run and when each of its events was emitted. */
interface FanoutRun {
  result: FanoutResult;
  emitted: Map<number, number>;
  serverCpuMs: number | null;
}

/** Delivery rate and lag of fan-out runs of one message, pooled: every live delivery of every run counts once. */
function fanoutStats(runs: readonly FanoutRun[]) {
  const lags: number[] = [];
  const bySeq = new Map<number, number[]>();
  let delivered = 0;
  let windowMs = 0;
  let complete = 0;
  let caughtUp = 0;
  let emitSpanMs = 0;
  for (const { result, emitted } of runs) {
    let firstEmit = Infinity;
    let lastRecv = 0;
    for (const s of result.subscribers) {
      if (s.terminal === 'done') complete++;
      for (const [id, at] of s.events) {
        const e = emitted.get(id);
        if (e === undefined) continue;
        // Events written before this subscriber was connected came from the log (catch-up), not live.
        if (e < s.openedAt) {
          caughtUp++;
          continue;
        }
        delivered++;
        lags.push(Math.max(0, at - e));
        // the lag of each event across subscribers: shows whether the tail is one burst or spread out
        let list = bySeq.get(id);
        if (!list) bySeq.set(id, (list = []));
        list.push(at - e);
        if (e < firstEmit) firstEmit = e;
        if (at > lastRecv) lastRecv = at;
      }
    }
    windowMs += lastRecv - firstEmit;
    const emitTimes = [...emitted.values()];
    emitSpanMs = Math.max(emitSpanMs, Math.max(...emitTimes) - Math.min(...emitTimes));
  }
  const lagBySeq = [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([seq, l]) => [seq, round(percentile(l, 50), 1), round(percentile(l, 99), 1)]);
  const cpu = runs.map((r) => r.serverCpuMs);
  return {
    rounds: runs.length,
    subscribers: runs[0]!.result.subscribers.length,
    completeStreams: complete,
    eventsPerStream: Math.max(...runs[0]!.emitted.keys()),
    liveDeliveries: delivered,
    caughtUpDeliveries: caughtUp,
    windowMs,
    eventsPerSec: delivered / (windowMs / 1000),
    emitSpanMs,
    lagMs: summarize(lags),
    clientCpuMs: runs.reduce((sum, r) => sum + r.result.clientCpuMs, 0),
    serverCpuMs: cpu.includes(null) ? null : (cpu as number[]).reduce((a, b) => a + b, 0),
    /** [seq, p50 lag, p99 lag] of each event */
    lagBySeq,
  };
}

/**
 * A wait for the subscribers to connect, then `thoughts` thoughts `gapMs` apart. The step ends in
 * a cheap tool call (`ls`) so that the final answer is one short line ("list_directory: success")
 * rather than an echo of the whole script: the events arrive at a steady pace, not in a burst.
 */
function fanoutMessage(thoughts: number, gapMs: number, delayMs: number): string {
  const lines = [`sleep ${delayMs}`];
  for (let i = 1; i <= thoughts; i++) lines.push(`think step ${i}`, `sleep ${gapMs}`);
  lines.push('ls');
  return lines.join('\n');
}

/** Rounds of each W3 level on each side; even, so that each side goes first as often. */
const W3_ROUNDS = 2;

export async function w3(ctx: Context): Promise<WorkloadOutput> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const { w3Thoughts: thoughts, w3GapMs: gapMs } = ctx.settings;
  const levels = ctx.settings.w3Subscribers;
  // long enough for every subscriber to connect before the first thought
  const delayOf = (subscribers: number) => 600 + subscribers * 3;
  // The first level starts with an unmeasured round (5 thoughts) that warms up both sides.
  const warmup = (i: number, subscribers: number, floor: boolean) =>
    i > 0
      ? undefined
      : { message: fanoutMessage(5, gapMs, delayOf(subscribers)), ...(floor ? { createBody: { fanout: { thoughts: 5, gapMs, delayMs: delayOf(subscribers) } } } : {}) };
  // Kiln's event-loop delay (prom-client's monitorEventLoopDelay at LOOP_DELAY_RESOLUTION_MS, reset at each scrape) during each turn.
  const loopDelay = async (k: KilnServer) => {
    const text = await (await fetch(`${k.url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^kiln_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
    return { maxMs: value('max'), p99Ms: value('p99') };
  };
  // Each level runs W3_ROUNDS rounds on each side, taking turns (which side goes first
  // alternates), and each side's deliveries are pooled: one hiccup of a busy machine in one
  // round no longer decides a p99.
  const kilnRuns = levels.map(() => [] as FanoutRun[]);
  const floorRuns = levels.map(() => [] as FanoutRun[]);
  const kilnDelays = levels.map(() => [] as { maxMs: number; p99Ms: number }[]);
  await withKiln(ctx, 'w3', { env: { KILN_METRICS: 'on' } }, (k) =>
    withFloor(async (f) => {
      for (const [i, subscribers] of levels.entries()) {
        const delayMs = delayOf(subscribers);
        const message = fanoutMessage(thoughts, gapMs, delayMs);
        const onKiln = async (round: number) => {
          // Read (and reset) when every subscriber is connected, then after the round: the turn and the streams' ends.
          let connected: Promise<unknown> | null = null;
          const run = await runLoad<FanoutResult>({ kind: 'fanout', url: k.url, key: k.key, subscribers, message, warmup: warmup(i + round, subscribers, false) }, k.pid, (phase) => {
            if (phase === 'mark 1') connected = loopDelay(k);
          });
          await connected;
          const delay = await loopDelay(k);
          kilnDelays[i]!.push(delay);
          kilnRuns[i]!.push({ result: run.result, emitted: eventTimes(k.dataDir, run.result.taskId), serverCpuMs: run.serverCpuMs });
        };
        const onFloor = async (round: number) => {
          const run = await runLoad<FanoutResult>(
            { kind: 'fanout', url: f.url, subscribers, message, createBody: { fanout: { thoughts, gapMs, delayMs } }, warmup: warmup(i + round, subscribers, true) },
            f.pid,
          );
          const emitted = (await (await fetch(`${f.url}/bench/emitted/${run.result.taskId}`)).json()) as Record<string, number>;
          floorRuns[i]!.push({ result: run.result, emitted: new Map(Object.entries(emitted).map(([id, at]) => [Number(id), at])), serverCpuMs: run.serverCpuMs });
        };
        for (let round = 0; round < W3_ROUNDS; round++) {
          const sides = round % 2 === 0 ? [onKiln, onFloor] : [onFloor, onKiln];
          for (const side of sides) await side(round);
        }
      }
    }),
  );
  for (const [i, subscribers] of levels.entries()) {
    // The longest stall of any round, and each round's (in the results file).
    const delays = kilnDelays[i]!;
    const kiln = { ...fanoutStats(kilnRuns[i]!), loopDelay: { maxMs: Math.max(...delays.map((d) => d.maxMs)), p99Ms: Math.max(...delays.map((d) => d.p99Ms)) }, loopDelayByRound: delays };
    const floor = fanoutStats(floorRuns[i]!);
    const lag = row('W3', `p99 lag ${subscribers} subs`, kiln.lagMs.p99, floor.lagMs.p99, 'ms', 'x');
    // The histogram records whole intervals of its 10 ms timer: a loop blocked for B ms records B to B + 10.
    const longestStallMs = Math.max(0, kiln.loopDelay.maxMs - LOOP_DELAY_RESOLUTION_MS);
    const stall: Row = {
      workload: 'W3',
      metric: `Kiln event-loop stall, longest ${subscribers} subs`,
      kiln: longestStallMs,
      unit: 'ms',
      note: `delay max ${round(kiln.loopDelay.maxMs, 1)} ms less the monitor's ${LOOP_DELAY_RESOLUTION_MS} ms interval (p99 ${round(kiln.loopDelay.p99Ms, 1)} ms), from the last connect to the streams' ends`,
    };
    if (subscribers === 500) {
      Object.assign(lag, { target: '<= 1.3x floor', met: lag.ratio != null && lag.ratio <= 1.3 });
      Object.assign(stall, { target: '<= 20 ms', met: longestStallMs <= 20 });
    }
    rows.push(row('W3', `events/s delivered ${subscribers} subs`, kiln.eventsPerSec, floor.eventsPerSec, '/s', 'frac'), row('W3', `p50 lag ${subscribers} subs`, kiln.lagMs.p50, floor.lagMs.p50, 'ms', 'x'), lag, stall);
    data[`subs${subscribers}`] = { kiln, floor };
    notes.push(
      `W3 ${subscribers} subscribers, ${kiln.rounds} rounds on each side: ${kiln.eventsPerStream} events per stream, ${kiln.completeStreams}/${subscribers * kiln.rounds} streams ended with done, ${kiln.liveDeliveries} live deliveries (${kiln.caughtUpDeliveries} from catch-up excluded), emitted over ${round(kiln.emitSpanMs, 0)} ms at most; Kiln server CPU ${round(kiln.serverCpuMs, 0)} ms, floor ${round(floor.serverCpuMs, 0)} ms`,
    );
  }
  return { rows, data, notes };
}

// ------------------------------------------------------------------ W4 drop and resume

interface ResumeResult {
  streams: number;
  dropped: number;
  noDrop: number;
  lost: number;
  duplicated: number;
  withoutTerminal: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  resumeFirstEventMs: ReturnType<typeof summarize>;
  resumeDoneMs: ReturnType<typeof summarize>;
}

function resumeMessage(thoughts: number, gapMs: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= thoughts; i++) lines.push(`think r${i}`, `sleep ${gapMs}`);
  return lines.join('\n');
}

/** Number of logged events (with ids) of one turn of `message`: runs it once and reads its log. */
async function countEvents(k: KilnServer, message: string): Promise<number> {
  const headers = { authorization: `Bearer ${k.key}`, 'content-type': 'application/json' };
  const created = (await (await fetch(`${k.url}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ message }) })).json()) as { data: { id: string } };
  const text = await (await fetch(`${k.url}/api/v1/tasks/${created.data.id}/stream`, { headers: { ...headers, 'last-event-id': '0' } })).text();
  return (text.match(/^id: /gm) ?? []).length;
}

export async function w4(ctx: Context): Promise<WorkloadOutput> {
  const streams = ctx.settings.w4Streams;
  const message = resumeMessage(8, 10);
  let dropMax = 0;
  const job = (s: { url: string; key?: string }) => ({ kind: 'resume', url: s.url, key: s.key, c: ctx.settings.w4Concurrency, streams, message, dropMax, seed: 42 });
  const kiln = await withKiln(ctx, 'w4', {}, async (k) => {
    dropMax = await countEvents(k, message);
    return runLoad<ResumeResult>(job(k), k.pid);
  });
  // The floor answers at once: at c=16 it would measure the load client's own queueing; one stream at a time shows the bare reconnect.
  const floor = await withFloor((f) => runLoad<ResumeResult>({ ...job(f), c: 1, streams: Math.min(streams, 100) }, f.pid));
  const k = kiln.result;
  const f = floor.result;
  const rows: Row[] = [
    { workload: 'W4', metric: 'lost events', kiln: k.lost, floor: f.lost, unit: '', target: '0', met: k.lost === 0 && k.withoutTerminal === 0 && k.errors === 0 },
    { workload: 'W4', metric: 'duplicated events', kiln: k.duplicated, floor: f.duplicated, unit: '', target: '0', met: k.duplicated === 0 && k.errors === 0 },
    row('W4', 'resume to first event p50', k.resumeFirstEventMs.p50, f.resumeFirstEventMs.p50, 'ms', 'x'),
    row('W4', 'resume to first event p99', k.resumeFirstEventMs.p99, f.resumeFirstEventMs.p99, 'ms', 'x'),
    row('W4', 'resume to done p50', k.resumeDoneMs.p50, f.resumeDoneMs.p50, 'ms', 'x'),
  ];
  const notes = [
    `W4: ${k.streams} streams of ${dropMax} events (client c=${ctx.settings.w4Concurrency}), ${k.dropped} dropped and resumed, ${k.noDrop} ended before their drop point, ${k.withoutTerminal} without a terminal event, ${k.errors} errors${k.firstError ? ` (${k.firstError})` : ''}; floor (c=1, its streams are shorter: no thoughts): ${f.dropped} of ${f.streams} resumed`,
  ];
  return { rows, data: { kiln: k, floor: f }, notes };
}

// ------------------------------------------------------------------ W5 list pages

interface ListResult {
  requests: number;
  errors: number;
  firstError: string | null;
  perSec: number;
  latencyMs: ReturnType<typeof summarize>;
  bytesPerResponse: number;
}

export async function w5(ctx: Context): Promise<WorkloadOutput> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const limit = 50;
  const spec = { c: 1, count: ctx.settings.w5Requests, warmupMs: 300 };
  const floorFirst = await withFloor((f) => runLoad<ListResult>({ kind: 'list', target: 'kiln', url: f.url, limit, offsets: 'first', total: 100_000, ...spec }, f.pid));
  for (const count of ctx.settings.w5Sizes) {
    const dataDir = tempDir('kiln-bench-w5-');
    try {
      // Kiln creates the schema and the user, then stops; the tasks are written straight into its database.
      const first = await startKiln({ dataDir });
      const key = first.key;
      await first.stop();
      const seeded = seedTasks(dataDir, count);
      const results = await withKiln(ctx, `w5-${count}`, { dataDir, key }, async (k) => {
        const head = await runLoad<ListResult>({ kind: 'list', target: 'kiln', url: k.url, key: k.key, limit, offsets: 'first', total: count, ...spec }, k.pid);
        const random = await runLoad<ListResult>({ kind: 'list', target: 'kiln', url: k.url, key: k.key, limit, offsets: 'random', total: count, ...spec }, k.pid);
        return { head: head.result, random: random.result };
      });
      const label = count >= 1000 ? `${count / 1000}k` : String(count);
      const p99 = row('W5', `page p99 @${label} (first page)`, results.head.latencyMs.p99, floorFirst.result.latencyMs.p99, 'ms', 'x');
      const p99r = row('W5', `page p99 @${label} (random offset)`, results.random.latencyMs.p99, floorFirst.result.latencyMs.p99, 'ms', 'x');
      if (count === 100_000) {
        for (const r of [p99, p99r]) Object.assign(r, { target: '< 10 ms, <= 2x floor', met: r.kiln != null && r.kiln < 10 && r.ratio != null && r.ratio <= 2 });
      }
      rows.push(
        row('W5', `page p50 @${label} (first page)`, results.head.latencyMs.p50, floorFirst.result.latencyMs.p50, 'ms', 'x'),
        p99,
        row('W5', `page p50 @${label} (random offset)`, results.random.latencyMs.p50, floorFirst.result.latencyMs.p50, 'ms', 'x'),
        p99r,
      );
      data[`n${count}`] = { seededMs: seeded.ms, ...results };
      notes.push(
        `W5 ${label} tasks (seeded into SQLite in ${round(seeded.ms / 1000, 1)} s): ${results.head.requests} + ${results.random.requests} requests of ${limit} items at c=1, ${results.head.errors + results.random.errors} errors${results.head.firstError ?? results.random.firstError ? ` (${results.head.firstError ?? results.random.firstError})` : ''}, ${round(results.head.bytesPerResponse / 1024, 1)} KiB per page`,
      );
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  data.floor = floorFirst.result;
  return { rows, data, notes };
}

// ------------------------------------------------------------------ W6 upload → artifact → download

interface UploadResult {
  taskId: string;
  bytes: number;
  uploadMs: number;
  downloadMs: number | null;
  downloads: { name: string; ms: number; bytes: number; sha256ok: boolean }[];
  unavailable: { status: number; body: string } | null;
}

const MB = 1024 * 1024;
const MAX_PART = 50 * MB;

async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const out = fs.createWriteStream(file);
  const block = randomBytes(MB);
  async function* blocks() {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, MB);
      yield n === MB ? block : block.subarray(0, n);
      left -= n;
    }
  }
  await pipeline(blocks, out);
}

/** The plain file copy on the same disk: read stream → write stream, as Kiln's staging does. */
async function plainCopy(from: string, to: string): Promise<number> {
  const t0 = performance.now();
  await pipeline(fs.createReadStream(from, { highWaterMark: MB }), fs.createWriteStream(to));
  return performance.now() - t0;
}

export async function w6(ctx: Context): Promise<WorkloadOutput> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const work = tempDir('kiln-bench-w6-');
  // The same transfers with a bare node:http server in the same run: what HTTP on this machine allows.
  const floor = await startFloor(work);
  try {
    await withKiln(ctx, 'w6', {}, async (k) => {
      // one unmeasured 1 MB round first, so that the first size does not pay for cold code paths
      const warmFile = path.join(work, 'warm.bin');
      await writeRandomFile(warmFile, MB);
      await runLoad<UploadResult>({ kind: 'upload', url: k.url, key: k.key, files: [{ path: warmFile, name: 'warm.bin' }], downloadDir: work }, null);
      for (const sizeMb of ctx.settings.w6SizesMb) {
        const bytes = sizeMb * MB;
        // Kiln takes at most 50 MB per file: larger sizes go as several parts of one request.
        const parts: { path: string; name: string }[] = [];
        for (let i = 0, left = bytes; left > 0; i++, left -= MAX_PART) {
          const p = path.join(work, `w6-${sizeMb}mb-${i + 1}.bin`);
          await writeRandomFile(p, Math.min(left, MAX_PART));
          parts.push({ path: p, name: path.basename(p) });
        }
        // Baseline on the same disk (the data dir's): copy every part, twice (upload and download each move the bytes once).
        // The copy is timed three times and the median kept: page-cache write-back makes single copies noisy.
        const copies: number[] = [];
        for (let round = 0; round < 3; round++) {
          let ms = 0;
          for (const part of parts) {
            ms += await plainCopy(part.path, path.join(k.dataDir, `copy-${part.name}`));
            fs.rmSync(path.join(k.dataDir, `copy-${part.name}`));
          }
          copies.push(ms);
        }
        const copyMs = percentile(copies, 50)!;
        const copyMBs = sizeMb / (copyMs / 1000);
        const idle = rssKb(k.pid);
        resetPeakRss(k.pid);
        let sampler: { stop(): number } | null = null;
        let sampled: number | null = null;
        let run: Awaited<ReturnType<typeof runLoad<UploadResult>>>;
        try {
          run = await runLoad<UploadResult>({ kind: 'upload', url: k.url, key: k.key, files: parts, downloadDir: work }, k.pid, (phase) => {
            if (phase === 'start') sampler = sampleRss(k.pid, 5);
          });
        } finally {
          sampled = (sampler as { stop(): number } | null)?.stop() ?? null;
        }
        const peak = Math.max(sampled ?? 0, peakRssKb(k.pid) ?? 0);
        const r = run.result;
        const upMBs = sizeMb / (r.uploadMs / 1000);
        const downMBs = r.downloadMs === null ? null : sizeMb / (r.downloadMs / 1000);
        const growthMb = idle === null ? null : (peak - idle) / 1024;
        const label = `${sizeMb} MB${parts.length > 1 ? ` (${parts.length} parts)` : ''}`;
        const bare = (await runLoad<UploadResult>({ kind: 'upload', url: floor.url, files: parts, downloadDir: work }, floor.pid)).result;
        const bareUpMBs = sizeMb / (bare.uploadMs / 1000);
        const bareDownMBs = bare.downloadMs === null ? null : sizeMb / (bare.downloadMs / 1000);
        rows.push({ workload: 'W6', metric: `upload MB/s ${label}`, kiln: upMBs, floor: copyMBs, unit: 'MB/s', ratio: upMBs / copyMBs, ratioLabel: 'of copy', target: '>= 50% of copy', met: upMBs / copyMBs >= 0.5 });
        rows.push({ workload: 'W6', metric: `upload MB/s ${label} vs bare HTTP`, kiln: upMBs, floor: bareUpMBs, unit: 'MB/s', ratio: upMBs / bareUpMBs, ratioLabel: 'of bare HTTP', note: `bare node:http upload ${round((bareUpMBs / copyMBs) * 100, 0)}% of the copy` });
        if (r.unavailable) {
          rows.push({ workload: 'W6', metric: `download ${label}`, kiln: null, unit: '', note: 'skipped: artifacts not available' });
          notes.push(`W6 ${label}: download skipped: artifacts not available (GET .../artifacts/download answered ${r.unavailable.status}: ${r.unavailable.body.slice(0, 120)})`);
        } else {
          const okAll = r.downloads.every((d) => d.sha256ok && d.bytes > 0);
          rows.push({ workload: 'W6', metric: `download MB/s ${label}`, kiln: downMBs, floor: copyMBs, unit: 'MB/s', ratio: downMBs! / copyMBs, ratioLabel: 'of copy', target: '>= 50% of copy', met: downMBs! / copyMBs >= 0.5 && okAll });
          if (bareDownMBs !== null) {
            rows.push({ workload: 'W6', metric: `download MB/s ${label} vs bare HTTP`, kiln: downMBs, floor: bareDownMBs, unit: 'MB/s', ratio: downMBs! / bareDownMBs, ratioLabel: 'of bare HTTP', note: `bare node:http download ${round((bareDownMBs / copyMBs) * 100, 0)}% of the copy` });
          }
          if (!okAll) notes.push(`W6 ${label}: downloaded bytes differ from the upload`);
        }
        rows.push({ workload: 'W6', metric: `peak RSS over idle ${label}`, kiln: growthMb, unit: 'MB', note: `idle ${round((idle ?? 0) / 1024, 1)} MB, peak ${round(peak / 1024, 1)} MB`, target: 'flat (< 32 MB)', met: growthMb !== null && growthMb < 32 });
        data[`${sizeMb}mb`] = { ...r, copyMs, copyMBs, uploadMBs: upMBs, downloadMBs: downMBs, idleRssKb: idle, peakRssKb: peak, bareUploadMBs: bareUpMBs, bareDownloadMBs: bareDownMBs };
        for (const part of parts) fs.rmSync(part.path, { force: true });
      }
    });
    if (rows.some((r) => r.note === 'skipped: artifacts not available')) {
      notes.push('W6: the download half needs the artifacts endpoint (GET /api/v1/tasks/{id}/artifacts/download?path=uploads/<name>); it answered 404, so it was skipped.');
    }
  } finally {
    await floor.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { rows, data, notes };
}

// ------------------------------------------------------------------ W7 many sequential tasks

export async function w7(ctx: Context): Promise<WorkloadOutput> {
  const count = ctx.settings.w7Tasks;
  const warmTasks = ctx.settings.w7WarmTasks;
  const reading = (pid: number) => ({ rssKb: rssKb(pid), fds: openFds(pid) });
  const measure = async (server: { url: string; key?: string; pid: number }) => {
    const before = reading(server.pid);
    // A reading after the first tasks separates warm-up (lazy loading, JIT, heap sizing) from growth with the task count.
    let warm: ReturnType<typeof reading> | null = null;
    const run = await runLoad<RunResult>({ ...runJob(server, 1, { count }), marks: warmTasks ? [warmTasks] : [] }, server.pid, (phase) => {
      if (phase === `mark ${warmTasks}`) warm = reading(server.pid);
    });
    const after = reading(server.pid);
    await new Promise((r) => setTimeout(r, ctx.settings.w7SettleMs));
    const settled = reading(server.pid);
    return { before, warm: warm as ReturnType<typeof reading> | null, after, settled, run: run.result, serverCpuMs: run.serverCpuMs };
  };
  const kiln = await withKiln(ctx, 'w7', {}, measure);
  const floor = await withFloor(measure);
  const growth = (m: typeof kiln, from: 'before' | 'warm' = 'before') => ((m.settled.rssKb ?? 0) - (m[from]?.rssKb ?? 0)) / 1024;
  const rows: Row[] = [
    { workload: 'W7', metric: `RSS growth, ${count} tasks from start`, kiln: growth(kiln), floor: growth(floor), unit: 'MB', ratio: null, note: `Kiln ${mb(kiln.before.rssKb)} → ${mb(kiln.settled.rssKb)} MB; floor ${mb(floor.before.rssKb)} → ${mb(floor.settled.rssKb)} MB`, target: '< 50 MB', met: growth(kiln) < 50 },
    ...(kiln.warm ? [{ workload: 'W7', metric: `RSS growth from task ${warmTasks} to the last`, kiln: growth(kiln, 'warm'), floor: floor.warm ? growth(floor, 'warm') : null, unit: 'MB', note: `Kiln ${mb(kiln.warm.rssKb)} → ${mb(kiln.settled.rssKb)} MB` }] : []),
    { workload: 'W7', metric: `open fds after ${count} tasks`, kiln: kiln.settled.fds, floor: floor.settled.fds, unit: '', note: `Kiln ${kiln.before.fds} → ${kiln.settled.fds}; floor ${floor.before.fds} → ${floor.settled.fds}`, target: `<= before (${kiln.before.fds})`, met: kiln.settled.fds !== null && kiln.before.fds !== null && kiln.settled.fds <= kiln.before.fds },
    row('W7', `tasks/s (sequential)`, kiln.run.perSec, floor.run.perSec, '/s', 'frac'),
  ];
  const notes = [
    `W7: ${kiln.run.iterations} tasks one after another, ${kiln.run.errors} errors${kiln.run.firstError ? ` (${kiln.run.firstError})` : ''}; RSS ${mb(kiln.before.rssKb)} MB at start${kiln.warm ? `, ${mb(kiln.warm.rssKb)} MB after ${warmTasks} tasks` : ''}, ${mb(kiln.after.rssKb)} MB right after the last, ${mb(kiln.settled.rssKb)} MB ${ctx.settings.w7SettleMs / 1000} s later (no forced GC); fds ${kiln.before.fds} → ${kiln.settled.fds}`,
  ];
  return { rows, data: { kiln, floor }, notes };
}

const mb = (kb: number | null) => (kb === null ? '?' : (kb / 1024).toFixed(1));

// ------------------------------------------------------------------ W8 turns in flight

/**
 * Turns that wait on a model: an OpenAI-compatible provider answers each request after
 * `w8DelayMs`; closed loops of c clients keep c turns in flight, their first tasks spread over
 * that delay (as independent users would be, not in waves of c creates at once). Latency should
 * stay at the provider's delay whatever c is, and Kiln's CPU per turn should not grow with c.
 * A streamed variant has the provider send its answer a character at a time, 20 ms apart (about
 * 50 tokens a second, as a model streams), to show what each streamed piece costs Kiln.
 */
export async function w8(ctx: Context): Promise<WorkloadOutput> {
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const delayMs = ctx.settings.w8DelayMs;
  const provider = await startSlowProvider(delayMs);
  try {
    const runs = await withKiln(ctx, 'w8', { env: onProvider(provider.url) }, async (k) => {
      const out = [];
      for (const c of ctx.settings.w8Concurrency) {
        const run = await runLoad<RunResult>(runJob(k, c, { durationMs: ctx.settings.w8DurationMs, warmupMs: delayMs + 500, staggerMs: delayMs }), k.pid);
        out.push({ c, run, peak: provider.takePeak() });
      }
      return out;
    });
    const base = runs[0]!.run.result.doneMs.p50;
    for (const { c, run, peak } of runs) {
      const r = run.result;
      const cpu = perTask(run.serverCpuMs, r.iterations);
      const p50 = row('W8', `done p50 c=${c}`, r.doneMs.p50, base, 'ms', 'x');
      p50.ratioLabel = '× c=1';
      if (c >= 200) Object.assign(p50, { target: '>= 200 in flight, flat latency', met: peak >= 200 && r.doneMs.p50 !== null && base !== null && r.doneMs.p50 <= base * 1.1 });
      rows.push(
        { workload: 'W8', metric: `turns in flight c=${c}`, kiln: peak, unit: '', note: 'most provider requests held at once' },
        p50,
        { workload: 'W8', metric: `done p99 c=${c}`, kiln: r.doneMs.p99, unit: 'ms' },
        { workload: 'W8', metric: `tasks/s c=${c}`, kiln: r.perSec, unit: '/s', note: 'over the window and its tail: the clients start spread over one delay and the last turns end after it, so below c per delay' },
        { workload: 'W8', metric: `server CPU ms/task c=${c}`, kiln: cpu, unit: 'ms' },
      );
      data[`c${c}`] = { ...r, peakInFlight: peak, serverCpuMsPerTask: cpu, serverCpuPct: pct(run.serverCpuMs, run.windowMs) };
      notes.push(`W8 c=${c}: ${r.iterations} turns, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, ${peak} provider requests at most in flight, server CPU ${round(pct(run.serverCpuMs, run.windowMs), 0)}%`);
    }
  } finally {
    await provider.stop();
  }
  const streamed = await w8Streamed(ctx);
  rows.push(...streamed.rows);
  notes.push(...streamed.notes);
  return { rows, data: { delayMs, ...data, streamed: streamed.data }, notes };
}

/** Kiln's settings for W8: the provider's model, and one user's turns all at once. */
function onProvider(url: string): Record<string, string> {
  return { KILN_MODEL: 'openai-compatible:slow', KILN_MODEL_BASE_URL: url, KILN_USER_CONCURRENCY: '256' };
}

const STREAMED_DELAY_MS = 500;
const STREAMED_GAP_MS = 20;

async function w8Streamed(ctx: Context): Promise<{ rows: Row[]; data: unknown; notes: string[] }> {
  const c = ctx.settings.w8StreamedConcurrency;
  const provider = await startSlowProvider(STREAMED_DELAY_MS, { charsPerPiece: 1, gapMs: STREAMED_GAP_MS });
  try {
    const pieces = `Echo: ${MESSAGE}`.length;
    const expectedMs = STREAMED_DELAY_MS + pieces * STREAMED_GAP_MS;
    const run = await withKiln(ctx, 'w8-streamed', { env: onProvider(provider.url) }, (k) =>
      runLoad<RunResult>(runJob(k, c, { durationMs: ctx.settings.w8DurationMs, warmupMs: expectedMs + 500, staggerMs: expectedMs }), k.pid),
    );
    const r = run.result;
    const cpu = perTask(run.serverCpuMs, r.iterations);
    // The provider's own time per answer in this run (its timers run late on a busy machine too).
    const answerMs = summarize(provider.takeAnswerMs()).p50;
    const done = row('W8', `streamed: done p50 c=${c}`, r.doneMs.p50, answerMs, 'ms', 'x');
    done.ratioLabel = '× provider';
    return {
      rows: [
        { ...done, note: `${pieces} pieces ${STREAMED_GAP_MS} ms apart after ${STREAMED_DELAY_MS} ms` },
        { workload: 'W8', metric: `streamed: server CPU ms/task c=${c}`, kiln: cpu, unit: 'ms' },
        { workload: 'W8', metric: `streamed: server CPU us per piece c=${c}`, kiln: cpu === null ? null : (cpu * 1000) / pieces, unit: 'us' },
      ],
      data: { ...r, pieces, answerMs, serverCpuMsPerTask: cpu, serverCpuPct: pct(run.serverCpuMs, run.windowMs) },
      notes: [
        `W8 streamed c=${c}: ${r.iterations} turns, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, ${round(r.eventsPerIter, 1)} events per stream for ${pieces} pieces, server CPU ${round(pct(run.serverCpuMs, run.windowMs), 0)}%`,
      ],
    };
  } finally {
    await provider.stop();
  }
}

// ------------------------------------------------------------------ W9 W2 on PostgreSQL

/** Where W9 finds PostgreSQL (each layout gets a schema of its own, dropped afterwards). */
const BENCH_DATABASE_URL = process.env.KILN_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

async function onPostgres<T>(fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = `kiln_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    return await fn(schema);
  } finally {
    await dropSchemas(BENCH_DATABASE_URL, [schema]);
  }
}

/** Paired rounds per PostgreSQL layout in W9: SQLite and the layout take turns, so that drift hits both; even, so that each goes first as often. */
const W9_ROUNDS = 4;

/** One W9 deployment's measured runs, summed over its rounds. */
interface W9Tally {
  /** Whether the deployment runs on PostgreSQL (whose CPU then counts). */
  onPostgres: boolean;
  iterations: number;
  errors: number;
  firstError: string | null;
  windowMs: number;
  kilnCpuMs: number;
  postgresCpuMs: number;
  clientCpuPct: number[];
}

/**
 * W2 at the highest concurrency on SQLite and on PostgreSQL with one process, one API process
 * and one worker, and one API process and two workers: tasks/s, and the CPU shares of Kiln's
 * processes, PostgreSQL's (every `postgres` process on the machine) and the load generator.
 *
 * The SQLite deployment runs throughout. Each PostgreSQL layout is measured in rounds that take
 * turns with SQLite (which goes first alternates), and its ratio is to the SQLite rounds paired
 * with it: a machine that slows down over minutes (a busy neighbour, a throttled host) slows both
 * sides of a ratio alike, where one SQLite figure taken first flattered it. The layout waiting
 * its turn stays up, idle (its listeners and sweeps cost next to nothing).
 */
export async function w9(ctx: Context): Promise<WorkloadOutput> {
  const c = ctx.settings.w2Concurrency[ctx.settings.w2Concurrency.length - 1]!;
  const roundSpec = { durationMs: Math.round(ctx.settings.w2DurationMs / W9_ROUNDS), warmupMs: 500 };
  try {
    const client = new pg.Client({ connectionString: BENCH_DATABASE_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.end();
  } catch (error) {
    const why = `no PostgreSQL at ${BENCH_DATABASE_URL.replace(/\/\/[^@/]*@/, '//')} (${(error as Error).message}); set KILN_BENCH_DATABASE_URL`;
    return { rows: [{ workload: 'W9', metric: 'skipped', kiln: null, unit: '', note: why }], data: { skipped: why }, notes: [`W9 skipped: ${why}`] };
  }

  const tally = (onPostgres: boolean): W9Tally => ({ onPostgres, iterations: 0, errors: 0, firstError: null, windowMs: 0, kilnCpuMs: 0, postgresCpuMs: 0, clientCpuPct: [] });
  /**
   * A warm-up of the same number of tasks in every deployment comes first (a warm-up by time left
   * the slower layouts measured while V8 was still compiling their code); on PostgreSQL the
   * schema is then vacuumed and analyzed (see vacuumSchemas).
   */
  const warm = async (servers: KilnServer[], schema?: string) => {
    await runLoad(runJob(servers[0]!, c, { count: ctx.settings.w9WarmupTasks, warmupMs: 0 }), null);
    if (schema) await vacuumSchemas(BENCH_DATABASE_URL, [schema]);
  };
  /** One round of load against the first server, adding its figures and the CPU of all of them (and of PostgreSQL, for a layout on it) to each tally. */
  const measure = async (servers: KilnServer[], tallies: W9Tally[]) => {
    const { onPostgres } = tallies[0]!;
    let start = { kiln: new Map<number, number>(), postgres: new Map<number, number>() };
    let end = start;
    const read = () => ({ kiln: cpuMsOf(servers.map((s) => s.pid)), postgres: onPostgres ? cpuMsOf(processesNamed('postgres')) : new Map<number, number>() });
    const run = await runLoad<RunResult>(runJob(servers[0]!, c, roundSpec), null, (phase) => {
      if (phase === 'start') start = read();
      else if (phase === 'end') end = read();
    });
    for (const into of tallies) {
      into.iterations += run.result.iterations;
      into.errors += run.result.errors;
      into.firstError ??= run.result.firstError;
      into.windowMs += run.windowMs;
      into.kilnCpuMs += cpuBetween(start.kiln, end.kiln) ?? 0;
      into.postgresCpuMs += cpuBetween(start.postgres, end.postgres) ?? 0;
      into.clientCpuPct.push(run.result.clientCpuPct);
    }
  };
  const postgresLayouts: { label: string; start: (fn: (servers: KilnServer[], schema: string) => Promise<void>) => Promise<void> }[] = [
    {
      label: 'PostgreSQL, 1 process',
      start: (fn) => onPostgres((schema) => withKiln(ctx, 'w9-pg', { env: { DATABASE_URL: BENCH_DATABASE_URL, KILN_DB_SCHEMA: schema } }, (k) => fn([k], schema))),
    },
    ...[1, 2].map((workers) => ({
      label: `PostgreSQL, 1 API + ${workers} worker${workers > 1 ? 's' : ''}`,
      start: (fn: (servers: KilnServer[], schema: string) => Promise<void>) =>
        onPostgres(async (schema) => {
          const env = { DATABASE_URL: BENCH_DATABASE_URL, KILN_DB_SCHEMA: schema, KILN_SIGNING_KEY: 'ab'.repeat(32) };
          // The API process migrates first; workers share its key.
          await withKiln(ctx, 'w9-api', { env, args: ['--role', 'api'] }, async (api) => {
            const started = await Promise.all(Array.from({ length: workers }, () => startKiln({ env, key: api.key, args: ['--role', 'worker'] })));
            try {
              await fn([api, ...started], schema);
            } finally {
              await Promise.all(started.map(async (w) => {
                await w.stop();
                fs.rmSync(w.dataDir, { recursive: true, force: true });
              }));
            }
          });
        }),
    })),
  ];

  const measured: { label: string; layout: W9Tally; sqlite: W9Tally }[] = [];
  const sqliteAll = tally(false);
  await withKiln(ctx, 'w9-sqlite', {}, async (sqliteKiln) => {
    await warm([sqliteKiln]);
    for (const { label, start } of postgresLayouts) {
      await start(async (servers, schema) => {
        await warm(servers, schema);
        const pair = { label, layout: tally(true), sqlite: tally(false) };
        for (let r = 0; r < W9_ROUNDS; r++) {
          const sides: [KilnServer[], W9Tally[]][] = [[[sqliteKiln], [pair.sqlite, sqliteAll]], [servers, [pair.layout]]];
          for (const [side, tallies] of r % 2 === 0 ? sides : sides.reverse()) await measure(side, tallies);
        }
        measured.push(pair);
      });
    }
  });

  const rows: Row[] = [];
  const data: Record<string, unknown> = { c, rounds: W9_ROUNDS, roundMs: roundSpec.durationMs };
  const notes: string[] = [];
  const perSec = (t: W9Tally) => (t.windowMs > 0 ? (t.iterations / t.windowMs) * 1000 : 0);
  const share = (ms: number, t: W9Tally) => (t.windowMs > 0 ? (ms / t.windowMs) * 100 : null);
  const describe = (label: string, t: W9Tally) => {
    const client = t.clientCpuPct.reduce((a, b) => a + b, 0) / Math.max(1, t.clientCpuPct.length);
    notes.push(
      `W9 ${label}: ${t.iterations} tasks in ${round(t.windowMs / 1000, 1)} s, ${t.errors} errors${t.firstError ? ` (${t.firstError})` : ''}; CPU: Kiln ${round(share(t.kilnCpuMs, t), 0)}%${t.onPostgres ? `, PostgreSQL ${round(share(t.postgresCpuMs, t), 0)}%` : ''}, load generator ${round(client, 0)}% (of one core; the machine has ${os.availableParallelism()})`,
    );
    return { iterations: t.iterations, errors: t.errors, perSec: perSec(t), kilnCpuPct: share(t.kilnCpuMs, t), postgresCpuPct: share(t.postgresCpuMs, t), kilnCpuMsPerTask: perTask(t.kilnCpuMs, t.iterations), clientCpuPct: client };
  };
  const sqliteLabel = 'SQLite, 1 process';
  data[sqliteLabel] = describe(`${sqliteLabel} (all its rounds)`, sqliteAll);
  rows.push(
    { workload: 'W9', metric: `tasks/s c=${c}, ${sqliteLabel}`, kiln: perSec(sqliteAll), unit: '/s', note: `${measured.length * W9_ROUNDS} rounds of ${round(roundSpec.durationMs / 1000, 1)} s` },
    { workload: 'W9', metric: `Kiln CPU ms/task c=${c}, ${sqliteLabel}`, kiln: perTask(sqliteAll.kilnCpuMs, sqliteAll.iterations), unit: 'ms' },
  );
  for (const { label, layout, sqlite } of measured) {
    const paired = perSec(sqlite);
    const tput: Row = { workload: 'W9', metric: `tasks/s c=${c}, ${label}`, kiln: perSec(layout), floor: paired, unit: '/s', ratio: paired ? perSec(layout) / paired : null, ratioLabel: 'of SQLite' };
    if (label === 'PostgreSQL, 1 process') Object.assign(tput, { target: '>= 50% of SQLite', met: paired > 0 && perSec(layout) >= paired * 0.5 });
    rows.push(tput, { workload: 'W9', metric: `Kiln CPU ms/task c=${c}, ${label}`, kiln: perTask(layout.kilnCpuMs, layout.iterations), unit: 'ms' });
    data[label] = { ...describe(label, layout), pairedSqlite: describe(`${sqliteLabel}, paired with ${label}`, sqlite) };
  }
  return { rows, data, notes };
}

/** A row with its ratio to the floor: 'x' = how many times the floor (latency, CPU), 'frac' = fraction of the floor (throughput). */
function row(workload: string, metric: string, kiln: number | null, floor: number | null, unit: string, kind: 'x' | 'frac'): Row {
  const ratio = kiln === null || floor === null || floor === 0 ? null : kiln / floor;
  return { workload, metric, kiln, floor, unit, ratio, ratioLabel: kind === 'x' ? '× floor' : 'of floor' };
}

export { percentile };
