/**
 * `npm run bench` [-- --quick] [-- --peers] [-- --only W1,W2] [-- --cpu-prof]
 *
 * Runs Kiln (offline model, fresh data dir per workload) and the bare-node floor under the same
 * load generator (a separate process), prints one line per workload as it starts and ends, then a
 * table, and writes bench/results/<date>.json. See bench/README.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { PROFILES_DIR, summarizeProfiles } from './profile-summary.js';
import { REPO, RESULTS_DIR, ROOT } from './lib/paths.js';
import { round } from './lib/stats.js';
import { runPeers, type PeerReport } from './peers.js';
import { FULL, QUICK } from './settings.js';
import { w1, w2, w3, w4, w5, w6, w7, w8, w9, type Context, type Row, type WorkloadOutput } from './workloads.js';

const args = process.argv.slice(2);

// Run everything from a snapshot of the build: `npm run build` (by anyone, e.g. `npm test`) empties
// dist/ first, which would pull the code from under a running bench.
if (!process.env.KILN_BENCH_REPO) {
  const snapshot = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-code-'));
  for (const item of ['dist', 'bin', 'package.json']) fs.cpSync(path.join(ROOT, item), path.join(snapshot, item), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(snapshot, 'node_modules'), 'dir');
  const child = spawn(process.execPath, [path.join(snapshot, 'dist', 'bench', 'run.js'), ...args], {
    stdio: 'inherit',
    env: { ...process.env, KILN_BENCH_REPO: ROOT },
  });
  const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  fs.rmSync(snapshot, { recursive: true, force: true });
  process.exit(code);
}
const quick = args.includes('--quick');
const withPeers = args.includes('--peers');
const cpuProf = args.includes('--cpu-prof');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1]! : args[args.indexOf(onlyArg) + 1]!).toUpperCase().split(',') : null;
const unknown = args.filter((a, i) => !['--quick', '--peers', '--cpu-prof'].includes(a) && !a.startsWith('--only') && !(args[i - 1] === '--only'));
if (unknown.length > 0 || args.includes('--help')) {
  process.stdout.write('usage: npm run bench [-- --quick] [--peers] [--only W1,W2,...] [--cpu-prof]\n');
  process.exit(unknown.length > 0 ? 2 : 0);
}
if (quick && withPeers) process.stdout.write('note: --quick skips the peers; run without --quick for them\n');

const settings = quick ? QUICK : FULL;
const started = Date.now();
const stamp = () => `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`;
const log = (line: string) => process.stdout.write(`${stamp()} ${line}\n`);

if (cpuProf) fs.rmSync(PROFILES_DIR, { recursive: true, force: true });
const ctx: Context = {
  settings,
  log,
  kilnNodeArgs: (workload) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROFILES_DIR, workload)}`] : []),
};

const WORKLOADS: [string, string, (c: Context) => Promise<WorkloadOutput>][] = [
  ['W1', 'create + stream, time to first event and to done, c=1', w1],
  ['W2', `closed loop create → stream → done at c=${settings.w2Concurrency.join(', ')}`, w2],
  ['W3', `one task, ${settings.w3Subscribers.join(' and ')} subscribers`, w3],
  ['W4', `${settings.w4Streams} streams dropped at a random event and resumed`, w4],
  ['W5', `GET /api/v1/tasks pages at ${settings.w5Sizes.map((n) => `${n / 1000}k`).join(' and ')} stored tasks`, w5],
  ['W6', `${settings.w6SizesMb.join(', ')} MB upload → artifact → download`, w6],
  ['W7', `${settings.w7Tasks} sequential tasks, RSS and fds`, w7],
  ['W8', `turns in flight at c=${settings.w8Concurrency.join(', ')} with a provider that answers after ${settings.w8DelayMs / 1000} s`, w8],
  ['W9', `W2 at c=${settings.w2Concurrency[settings.w2Concurrency.length - 1]} on SQLite and PostgreSQL (1 process; 1 API + 1 and 2 workers)`, w9],
];

const results: Record<string, unknown> = {};
const rows: Row[] = [];
const notes: string[] = [];
const loadAtStart = os.loadavg().map((l) => round(l, 2));
log(`Kiln bench (${settings.mode}) on ${os.cpus().length} cores, Node ${process.version}, load average ${loadAtStart.join(' ')}; the load client is a separate process; floor = bare node:http`);
if ((loadAtStart[0] ?? 0) > 0.5) log('note: the machine was busy when the bench started (load average above 0.5): figures may be low and noisy');
for (const [id, title, fn] of WORKLOADS) {
  if (only && !only.includes(id)) continue;
  log(`${id} start: ${title}`);
  const t0 = Date.now();
  try {
    const out = await fn(ctx);
    results[id] = { ...out.data, notes: out.notes };
    rows.push(...out.rows);
    notes.push(...out.notes);
    log(`${id} end (${((Date.now() - t0) / 1000).toFixed(1)} s): ${out.rows.filter((r) => r.target).map(brief).join('; ') || out.rows.slice(0, 2).map(brief).join('; ')}`);
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    results[id] = { failed: message };
    notes.push(`${id} FAILED: ${message.split('\n')[0]}`);
    log(`${id} FAILED: ${message}`);
  }
}

let peers: PeerReport | null = null;
if (withPeers && !quick && (!only || only.includes('PEERS'))) {
  log('Peers start: LangGraph.js dev server and Mastra, W1, W2 and W5, inside `unshare -n`');
  const t0 = Date.now();
  peers = await runPeers(settings, log, results as Record<string, any>);
  log(`Peers end (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

let profiles: unknown = null;
if (cpuProf) {
  profiles = summarizeProfiles();
  log(`CPU profiles of Kiln in ${path.relative(REPO, PROFILES_DIR)}/ (summary in the results file)`);
}

// ------------------------------------------------------------------ table

function fmt(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (Number.isInteger(v)) return unit ? `${v.toLocaleString('en-US')} ${unit}` : v.toLocaleString('en-US');
  const s = a >= 1000 ? Math.round(v).toLocaleString('en-US') : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v === 0 ? '0' : v.toFixed(3);
  return unit ? `${s} ${unit}` : s;
}

function fmtRatio(r: Row): string {
  if (r.ratio === null || r.ratio === undefined) return '';
  if (r.ratioLabel?.startsWith('of ')) return `${(r.ratio * 100).toFixed(r.ratio < 0.01 ? 2 : 1)}% ${r.ratioLabel}`;
  return `${fmt(r.ratio)}${r.ratioLabel}`;
}

function brief(r: Row): string {
  const verdict = r.met === undefined || r.met === null ? '' : r.met ? ' (target met)' : ` (target ${r.target} MISSED)`;
  return `${r.metric} ${fmt(r.kiln, r.unit)}${r.note && r.kiln === null ? ` ${r.note}` : ''}${verdict}`;
}

const header = ['', 'metric', 'Kiln', 'floor', 'Kiln vs floor', 'target', ''];
const table = rows.map((r) => [
  r.workload,
  r.metric,
  r.kiln === null && r.note ? r.note : fmt(r.kiln, r.unit),
  r.floor === undefined ? '' : fmt(r.floor, r.unit),
  fmtRatio(r),
  r.target ?? '',
  r.met === undefined || r.met === null ? '' : r.met ? 'met' : 'MISSED',
]);
if (peers) {
  for (const p of peers.rows) {
    table.push([p.workload, p.metric, fmt(p.kiln, p.unit), '', '', '', '']);
    table.push(['', `  ${p.peer}`, p.peerValue === null ? p.note ?? 'n/a' : fmt(p.peerValue, p.unit), '', p.ratio === null ? '' : `Kiln/${p.peer} ${fmt(p.ratio)}`, p.target ?? '', p.met === undefined || p.met === null ? '' : p.met ? 'met' : 'MISSED']);
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
process.stdout.write(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${table.map(line).join('\n')}\n\n`);
for (const n of notes) process.stdout.write(`- ${n}\n`);
if (peers) for (const n of peers.notes) process.stdout.write(`- ${n}\n`);

// ------------------------------------------------------------------ results file

fs.mkdirSync(RESULTS_DIR, { recursive: true });
const date = new Date().toISOString().slice(0, 10);
const file = path.join(RESULTS_DIR, `${date}${quick ? '-quick' : ''}${only ? `-${only.join('-').toLowerCase()}` : ''}.json`);
let commit = '';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
} catch {
  /* not a checkout */
}
const report = {
  date: new Date().toISOString(),
  mode: settings.mode,
  commit,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: round(os.totalmem() / 2 ** 30, 1), node: process.version, kernel: os.release(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)) },
  settings,
  durationS: round((Date.now() - started) / 1000, 1),
  rows,
  peers,
  workloads: results,
  profiles,
};
fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
process.stdout.write(`\nresults: ${path.relative(REPO, file)} (${report.durationS} s)\n`);
// Everything the run started is stopped by now; a stray timer must not keep the process alive.
process.exit(0);
