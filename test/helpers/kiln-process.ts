import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const CLI = path.join(ROOT, 'bin', 'kiln.js');

export interface StartOptions {
  env?: Record<string, string>;
  dataDir?: string;
  args?: string[];
}

/** A Kiln server running as a real child process on a free port. */
export interface KilnServer {
  url: string;
  /** A key for user `default` (KILN_API_KEY). */
  key: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the server printed so far. */
  logs(): string;
  /** SIGTERM, and wait for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts a new server on the same data dir and key. */
  restart(extra?: StartOptions): Promise<KilnServer>;
}

export function tempDir(prefix = 'kiln-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function newKey(): string {
  return `kiln_${randomBytes(32).toString('hex')}`;
}

export async function startKiln(options: StartOptions = {}, key = newKey()): Promise<KilnServer> {
  const dataDir = options.dataDir ?? tempDir();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...(options.args ?? [])], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: os.tmpdir(),
      KILN_DATA_DIR: dataDir,
      KILN_API_KEY: key,
      KILN_LOG_LEVEL: 'debug',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Kiln did not start within 20 s:\n${output}`)), 20_000);
    const onData = () => {
      const match = /Kiln listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Kiln exited with code ${code} before listening:\n${output}`));
    });
  });

  const server: KilnServer = {
    url,
    key,
    dataDir,
    child,
    logs: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart: (extra = {}) => startKiln({ ...options, ...extra, env: { ...options.env, ...extra.env }, dataDir }, key),
  };
  return server;
}

/** Runs the `kiln` CLI to completion. */
export async function kilnCli(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...env },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Creates a key for `user` with the CLI against the server's data dir. */
export async function createUserKey(server: KilnServer, user: string): Promise<string> {
  const result = await kilnCli(['keys', 'create', '--user', user], { KILN_DATA_DIR: server.dataDir });
  if (result.code !== 0) throw new Error(`kiln keys create failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').pop()!;
}
