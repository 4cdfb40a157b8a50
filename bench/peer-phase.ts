/**
 * The peer measurements, run by peers.ts as `unshare -n node dist/bench/peer-phase.js JOB`: inside
 * a fresh network namespace with only loopback, so neither peer can reach anything outside.
 * Every measurement gets a freshly started peer (their in-memory stores grow with every run).
 * Prints `@log <line>` for progress and `@result <json>` at the end.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PeerJob, PeerMeasurements, PeerName } from './peers.js';
import { PEER_TITLES } from './peers.js';
import { PEERS_DIR } from './lib/paths.js';
import { cmdline, descendants, rssKb } from './lib/proc.js';
import { runLoad, spawnServer, waitHttp } from './lib/servers.js';
import { EXPECT, MESSAGE } from './workloads.js';

const job = JSON.parse(process.argv[2] ?? '{}') as PeerJob;
const log = (line: string) => process.stdout.write(`@log ${line}\n`);

interface Running {
  url: string;
  /** the process doing the work (for CPU and RSS) */
  pid: number;
  startupMs: number;
  stop(): Promise<void>;
}

const ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: os.tmpdir(),
  LANGGRAPH_CLI_NO_ANALYTICS: '1',
  LANGSMITH_TRACING: 'false',
  LANGCHAIN_TRACING_V2: 'false',
  LANGSMITH_TRACING_V2: 'false',
  LANGCHAIN_TRACING: 'false',
  BROWSER: 'none',
  LOG_LEVEL: 'warn',
  MASTRA_TELEMETRY_DISABLED: '1',
  NODE_ENV: 'production',
};

/** Stops a process tree by PID: children first, SIGTERM, then SIGKILL after a grace period. */
async function stopTree(root: number): Promise<void> {
  const pids = [...descendants(root).reverse(), root];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const alive = () => pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  for (let i = 0; i < 40 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 250));
  for (const pid of alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function startLangGraph(): Promise<Running> {
  const dir = path.join(PEERS_DIR, 'langgraph');
  // The dev server saves its "in-memory" state here and reloads it on start: every start must be fresh.
  fs.rmSync(path.join(dir, '.langgraph_api'), { recursive: true, force: true });
  const t0 = performance.now();
  const proc = spawnServer('langgraph', path.join(dir, 'node_modules', '.bin', 'langgraphjs'), ['dev', '--port', '2024', '--host', '127.0.0.1', '--no-browser'], { cwd: dir, env: ENV });
  const url = 'http://127.0.0.1:2024';
  try {
    await waitHttp(`${url}/ok`, proc.child, 120_000, proc.output);
  } catch (error) {
    await stopTree(proc.child.pid!);
    throw error;
  }
  const startupMs = performance.now() - t0;
  // CLI → tsx watch → server: measure the innermost process, the one running langgraph-api's entrypoint.
  const server = descendants(proc.child.pid!).find((pid) => cmdline(pid).includes('entrypoint.mjs') && !cmdline(pid).includes('tsx/dist/cli.mjs'));
  return { url, pid: server ?? proc.child.pid!, startupMs, stop: () => stopTree(proc.child.pid!) };
}

async function startMastra(): Promise<Running> {
  const dir = path.join(PEERS_DIR, 'mastra');
  const t0 = performance.now();
  const proc = spawnServer('mastra', process.execPath, [path.join(dir, '.mastra', 'output', 'index.mjs')], { cwd: dir, env: { ...ENV, PORT: '4111' } });
  const url = 'http://127.0.0.1:4111';
  try {
    await waitHttp(`${url}/api/agents`, proc.child, 60_000, proc.output);
  } catch (error) {
    await stopTree(proc.child.pid!);
    throw error;
  }
  return { url, pid: proc.child.pid!, startupMs: performance.now() - t0, stop: () => stopTree(proc.child.pid!) };
}

const start = (name: PeerName) => (name === 'langgraph' ? startLangGraph() : startMastra());

async function measure(name: PeerName): Promise<PeerMeasurements> {
  const s = job.settings;
  const out: PeerMeasurements = { ok: true, runs: {} };
  const quick = s.mode === 'quick';
  for (const c of s.w2Concurrency) {
    const peer = await start(name);
    out.startupMs ??= Math.round(peer.startupMs);
    if (c === s.w2Concurrency[0]) {
      await new Promise((r) => setTimeout(r, 1000));
      out.idleRssKb = rssKb(peer.pid);
    }
    try {
      log(`peers: ${PEER_TITLES[name]} create → stream at c=${c}`);
      const durationMs = c === 1 ? Math.max(s.w2DurationMs, 10_000) : s.w2DurationMs;
      const run = await runLoad({ kind: 'run', target: name, url: peer.url, c, durationMs, warmupMs: quick ? 1000 : 3000, message: MESSAGE, expect: EXPECT }, peer.pid);
      const r = run.result as { iterations: number };
      out.runs![`c${c}`] = { ...run.result, serverCpuMsPerTask: run.serverCpuMs === null || r.iterations === 0 ? null : run.serverCpuMs / r.iterations };
    } finally {
      await peer.stop();
    }
  }
  const peer = await start(name);
  try {
    const count = s.w5Sizes[0] ?? 10_000;
    log(`peers: ${PEER_TITLES[name]} storing ${count} threads through its API for W5`);
    out.seed = (await runLoad({ kind: 'seed', target: name, url: peer.url, c: 16, count }, null)).result;
    const spec = { c: 1, count: s.w5Requests, warmupMs: 300, limit: 50, total: count };
    const head = await runLoad({ kind: 'list', target: name, url: peer.url, offsets: 'first', ...spec }, peer.pid);
    const random = await runLoad({ kind: 'list', target: name, url: peer.url, offsets: 'random', ...spec }, peer.pid);
    out.list = { head: head.result, random: random.result };
  } finally {
    await peer.stop();
  }
  return out;
}

const results: Record<string, PeerMeasurements> = {};
try {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
} catch (error) {
  log(`peers: could not bring up loopback in the namespace: ${String(error)}`);
}
for (const name of job.peers) {
  try {
    results[name] = await measure(name);
  } catch (error) {
    results[name] = { ok: false, error: String((error as Error).message ?? error).slice(0, 2000) };
    log(`peers: ${PEER_TITLES[name]} failed: ${String((error as Error).message ?? error).split('\n')[0]}`);
  }
}
process.stdout.write(`@result ${JSON.stringify(results)}\n`);
