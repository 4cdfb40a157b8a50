/**
 * Peers (`npm run bench -- --peers`): the LangGraph.js dev server and Mastra's server, installed by
 * the bench into bench/.peers/ (ignored by git, never project dependencies), then run with the
 * same load generator for W1, W2 and W5 inside a fresh network namespace (`unshare -n`), so that
 * nothing they do can leave the machine. A peer that cannot be installed or started is reported
 * as such and the rest goes on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LANGGRAPH_FILES, LANGGRAPH_PACKAGES, MASTRA_FILES, MASTRA_PACKAGES } from './peer-apps.js';
import { DIST_BENCH, PEERS_DIR, REPO, ROOT } from './lib/paths.js';
import { round } from './lib/stats.js';
import type { Settings } from './settings.js';

export type PeerName = 'langgraph' | 'mastra';
export const PEER_TITLES: Record<PeerName, string> = { langgraph: 'LangGraph.js', mastra: 'Mastra' };

export interface PeerRow {
  workload: string;
  metric: string;
  peer: string;
  kiln: number | null;
  peerValue: number | null;
  unit: string;
  /** Kiln ÷ peer for throughput, peer ÷ Kiln for latency and CPU: above 1 means Kiln is ahead. */
  ratio: number | null;
  target?: string;
  met?: boolean | null;
  note?: string;
}

export interface PeerReport {
  rows: PeerRow[];
  notes: string[];
  data: Record<string, unknown>;
}

// ------------------------------------------------------------------ install

function fixtureHash(): string {
  return createHash('sha256')
    .update(JSON.stringify([LANGGRAPH_PACKAGES, MASTRA_PACKAGES, LANGGRAPH_FILES, MASTRA_FILES]))
    .digest('hex')
    .slice(0, 16);
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  return { ok: r.status === 0, output };
}

/** Installs one peer into bench/.peers/<name>/ unless the same versions and app are there already. */
function install(name: PeerName, log: (line: string) => void): { ok: boolean; message: string } {
  const dir = path.join(PEERS_DIR, name);
  const marker = path.join(dir, '.kiln-bench-installed');
  const hash = fixtureHash();
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() === hash) return { ok: true, message: 'already installed' };
  fs.mkdirSync(dir, { recursive: true });
  // Its own package.json, so that npm never walks up into Kiln's.
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `kiln-bench-peer-${name}`, private: true, type: 'module' }, null, 2) + '\n');
  writeFiles(dir, name === 'langgraph' ? LANGGRAPH_FILES : MASTRA_FILES);
  const packages = name === 'langgraph' ? LANGGRAPH_PACKAGES : MASTRA_PACKAGES;
  log(`peers: installing ${PEER_TITLES[name]} (${packages.join(' ')}) into ${path.relative(REPO, dir)}/ with npm`);
  const npm = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--save-exact', ...packages], dir);
  if (!npm.ok) return { ok: false, message: `npm install failed: ${tail(npm.output)}` };
  if (name === 'mastra') {
    // `mastra build` bundles to .mastra/output and runs npm install there: it needs the registry; the built server does not.
    log('peers: building the Mastra app (mastra build)');
    const build = run(path.join(dir, 'node_modules', '.bin', 'mastra'), ['build'], dir, { MASTRA_TELEMETRY_DISABLED: '1' });
    if (!build.ok || !fs.existsSync(path.join(dir, '.mastra', 'output', 'index.mjs'))) return { ok: false, message: `mastra build failed: ${tail(build.output)}` };
  }
  fs.writeFileSync(marker, hash + '\n');
  return { ok: true, message: 'installed' };
}

const tail = (text: string) => text.trim().split('\n').slice(-6).join(' | ').slice(0, 800);

// ------------------------------------------------------------------ run inside unshare -n

export interface PeerJob {
  peers: PeerName[];
  settings: Settings;
}

/** What the peer phase (dist/bench/peer-phase.js, inside the namespace) reports for one peer. */
export interface PeerMeasurements {
  ok: boolean;
  error?: string;
  startupMs?: number;
  runs?: Record<string, any>;
  list?: any;
  seed?: any;
  idleRssKb?: number | null;
}

function runPhase(job: PeerJob, log: (line: string) => void): Promise<Record<string, PeerMeasurements>> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-n', process.execPath, path.join(DIST_BENCH, 'peer-phase.js'), JSON.stringify(job)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let result: string | null = null;
    let buffer = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('@result ')) result = line.slice(8);
        else if (line.startsWith('@log ')) log(line.slice(5));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-5000)));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result === null) reject(new Error(`the peer phase exited (${code}) without a result: ${tail(stderr)}`));
      else resolve(JSON.parse(result));
    });
  });
}

// ------------------------------------------------------------------ report

export async function runPeers(settings: Settings, log: (line: string) => void, kiln: Record<string, any>): Promise<PeerReport> {
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  const rows: PeerRow[] = [];
  const check = spawnSync('unshare', ['-n', 'true']);
  if (check.status !== 0) {
    const message = 'peers skipped: `unshare -n` does not work here (it needs root or user namespaces), and the peers are only run in a network namespace';
    log(message);
    return { rows, notes: [message], data };
  }
  const installed: PeerName[] = [];
  for (const name of ['langgraph', 'mastra'] as PeerName[]) {
    const t0 = Date.now();
    let r: { ok: boolean; message: string };
    try {
      r = install(name, log);
    } catch (error) {
      r = { ok: false, message: String(error) };
    }
    data[`${name}Install`] = { ...r, seconds: round((Date.now() - t0) / 1000, 1) };
    if (r.ok) installed.push(name);
    else {
      const message = `${PEER_TITLES[name]} could not be installed, so it was not measured: ${r.message}`;
      notes.push(message);
      log(message);
    }
  }
  if (installed.length === 0) return { rows, notes, data };

  let measured: Record<string, PeerMeasurements>;
  try {
    measured = await runPhase({ peers: installed, settings }, log);
  } catch (error) {
    const message = `the peers could not be run: ${String((error as Error).message ?? error)}`;
    notes.push(message);
    log(message);
    return { rows, notes, data };
  }
  data.measured = measured;

  const w1 = kiln.W1?.kiln;
  const w2 = kiln.W2 ?? {};
  const w5 = kiln.W5?.n10000;
  for (const name of installed) {
    const m = measured[name];
    const title = PEER_TITLES[name];
    if (!m?.ok) {
      const message = `${title} could not be measured: ${m?.error ?? 'no result'}`;
      notes.push(message);
      continue;
    }
    const faster = (k: number | null | undefined, p: number | null | undefined) => (k == null || p == null || k === 0 ? null : p / k);
    const more = (k: number | null | undefined, p: number | null | undefined) => (k == null || p == null || p === 0 ? null : k / p);
    const c1 = m.runs?.c1;
    rows.push({ workload: 'W1', metric: 'done p50 (c=1)', peer: title, kiln: w1?.doneMs?.p50 ?? null, peerValue: c1?.doneMs?.p50 ?? null, unit: 'ms', ratio: faster(w1?.doneMs?.p50, c1?.doneMs?.p50) });
    rows.push({ workload: 'W1', metric: 'first event p50 (c=1)', peer: title, kiln: w1?.firstEventMs?.p50 ?? null, peerValue: c1?.firstEventMs?.p50 ?? null, unit: 'ms', ratio: faster(w1?.firstEventMs?.p50, c1?.firstEventMs?.p50) });
    for (const c of settings.w2Concurrency) {
      const p = m.runs?.[`c${c}`];
      const k = w2[`c${c}`]?.kiln;
      const row: PeerRow = { workload: 'W2', metric: `tasks/s c=${c}`, peer: title, kiln: k?.perSec ?? null, peerValue: p?.perSec ?? null, unit: '/s', ratio: more(k?.perSec, p?.perSec) };
      if (c === 32) {
        const want = name === 'langgraph' ? 20 : 8;
        Object.assign(row, { target: `Kiln >= ${want}x`, met: row.ratio === null ? null : row.ratio >= want });
      }
      rows.push(row);
      rows.push({ workload: 'W2', metric: `server CPU ms/task c=${c}`, peer: title, kiln: k?.serverCpuMsPerTask ?? null, peerValue: p?.serverCpuMsPerTask ?? null, unit: 'ms', ratio: faster(k?.serverCpuMsPerTask, p?.serverCpuMsPerTask) });
    }
    rows.push({ workload: 'W5', metric: 'page p50 @10k (first page)', peer: title, kiln: w5?.head?.latencyMs?.p50 ?? null, peerValue: m.list?.head?.latencyMs?.p50 ?? null, unit: 'ms', ratio: faster(w5?.head?.latencyMs?.p50, m.list?.head?.latencyMs?.p50) });
    rows.push({ workload: 'W5', metric: 'page p99 @10k (first page)', peer: title, kiln: w5?.head?.latencyMs?.p99 ?? null, peerValue: m.list?.head?.latencyMs?.p99 ?? null, unit: 'ms', ratio: faster(w5?.head?.latencyMs?.p99, m.list?.head?.latencyMs?.p99) });
    rows.push({ workload: 'W5', metric: 'page p99 @10k (random offset)', peer: title, kiln: w5?.random?.latencyMs?.p99 ?? null, peerValue: m.list?.random?.latencyMs?.p99 ?? null, unit: 'ms', ratio: faster(w5?.random?.latencyMs?.p99, m.list?.random?.latencyMs?.p99) });
    const errors = Object.values(m.runs ?? {}).reduce((a: number, r: any) => a + (r?.errors ?? 0), 0);
    const firstError = Object.values(m.runs ?? {}).find((r: any) => r?.firstError) as any;
    notes.push(
      `${title}: started in ${m.startupMs} ms (fresh process per measurement), ${round((m.idleRssKb ?? 0) / 1024, 0)} MB idle; ${round(m.runs?.c1?.eventsPerIter ?? 0, 1)} events per run; ${errors} errors${firstError ? ` (${firstError.firstError})` : ''}; W5 on ${m.seed?.created ?? '?'} threads made through its API in ${round((m.seed?.elapsedMs ?? 0) / 1000, 1)} s`,
    );
  }
  notes.push('Peer ratios read "Kiln is N times better": tasks/s Kiln ÷ peer; latency and CPU peer ÷ Kiln.');
  return { rows, notes, data };
}
