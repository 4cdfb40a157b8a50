import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FLOOR_SERVER, KILN_CLI, LOAD_CLIENT, ROOT } from './paths.js';
import { cpuMs } from './proc.js';

export interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function newKey(): string {
  return `kiln_${randomBytes(32).toString('hex')}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Polls `url` until it answers 2xx (or the process exits, or the time is up). */
export async function waitHttp(url: string, child: ChildProcess | null, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before answering ${url}:\n${output().slice(-2000)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${timeoutMs} ms:\n${output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Spawns a process, keeps the tail of its output, and stops it by PID (SIGTERM, then SIGKILL). */
export function spawnServer(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const stop = async (graceMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { child, output: () => out, stop, exited };
}

export interface KilnServer extends Server {
  key: string;
  dataDir: string;
}

export interface KilnOptions {
  dataDir?: string;
  key?: string;
  env?: Record<string, string>;
  /** node flags, e.g. --cpu-prof */
  nodeArgs?: string[];
  /** more arguments of `kiln serve`, e.g. ['--role', 'worker'] */
  args?: string[];
  /** another checkout's `bin/kiln.js` (built), to compare two versions */
  cli?: string;
}

/** Starts Kiln (offline model) as a child process on a free port; ready when /healthz answers. */
export async function startKiln(options: KilnOptions = {}): Promise<KilnServer> {
  const dataDir = options.dataDir ?? tempDir('kiln-bench-');
  const key = options.key ?? newKey();
  const port = await freePort();
  const proc = spawnServer('kiln', process.execPath, [...(options.nodeArgs ?? []), options.cli ?? KILN_CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', ...(options.args ?? [])], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: os.tmpdir(),
      KILN_DATA_DIR: dataDir,
      KILN_API_KEY: key,
      KILN_MODEL: 'offline',
      KILN_LOG_LEVEL: 'warn',
      // The load generator is one address with up to 500 streams open (W3).
      KILN_MAX_CONNECTIONS_PER_ADDRESS: '1024',
      ...options.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, proc.child, 30_000, proc.output);
  return { name: 'kiln', url, key, dataDir, pid: proc.child.pid!, child: proc.child, output: proc.output, stop: () => proc.stop() };
}

/** The floor server; `filesDir` turns on W6's transfer floor (see floor-server.ts). */
export async function startFloor(filesDir?: string): Promise<Server> {
  const port = await freePort();
  const proc = spawnServer('floor', process.execPath, [FLOOR_SERVER, String(port), ...(filesDir ? [filesDir] : [])], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, proc.child, 10_000, proc.output);
  return { name: 'floor', url, pid: proc.child.pid!, child: proc.child, output: proc.output, stop: () => proc.stop() };
}

export interface LoadRun<T> {
  result: T;
  /** Server CPU used in the measured window (ms), when a server pid was given. */
  serverCpuMs: number | null;
  windowMs: number;
}

/**
 * Runs the load client (a separate process) with one job. Server CPU is read when the client
 * says the measured window starts and ends. `onPhase` lets callers sample more at those points.
 */
export async function runLoad<T = any>(job: object, serverPid: number | null, onPhase?: (phase: 'start' | 'end' | `mark ${number}`) => void): Promise<LoadRun<T>> {
  const child = spawn(process.execPath, [LOAD_CLIENT, JSON.stringify(job)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let cpuStart: number | null = null;
  let cpuEnd: number | null = null;
  let tStart = 0;
  let tEnd = 0;
  let result: string | null = null;
  let stderr = '';
  let buffer = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === '@phase start') {
        tStart = performance.now();
        if (serverPid) cpuStart = cpuMs(serverPid);
        onPhase?.('start');
      } else if (line === '@phase end') {
        tEnd = performance.now();
        if (serverPid) cpuEnd = cpuMs(serverPid);
        onPhase?.('end');
      } else if (line.startsWith('@mark ')) {
        onPhase?.(`mark ${Number(line.slice(6))}`);
      } else if (line.startsWith('@result ')) {
        result = line.slice(8);
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (result === null) throw new Error(`load client exited (${code}) without a result:\n${stderr.slice(-3000)}`);
  const parsed = JSON.parse(result) as T & { failed?: string };
  if (parsed.failed) throw new Error(`load client failed: ${parsed.failed}`);
  return { result: parsed, serverCpuMs: cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null, windowMs: tEnd - tStart };
}
