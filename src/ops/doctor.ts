import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ModelRegistry } from '../adapters/models/model-registry.js';
import { BubblewrapRunner, sandboxProgramsMissing } from '../adapters/sandbox/bubblewrap-runner.js';
import { pendingMigrations, unknownMigrations } from '../adapters/sql/migrations.js';
import { openBlobStore, openDatabase } from '../backends.js';
import type { Config } from '../config.js';
import { errorMessage } from '../logger.js';
import { blobStoreTakesWrites } from './readiness.js';

/** One finding: `ok`, `warn` (works, but look) or `fail` (Kiln cannot work so), with what to do. */
export interface Finding {
  check: string;
  level: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const MIN_NODE = [20, 19];

/**
 * Checks what a machine needs to run Kiln with these settings: Node, the sandbox (bubblewrap
 * and user namespaces), the database, the blob store, the model settings and the port. Reads
 * and probes only; it creates nothing but a probe file it removes again.
 */
export async function diagnose(config: Config): Promise<Finding[]> {
  return [checkNode(), await checkSandbox(config), await checkDatabase(config), await checkBlobs(config), checkModel(config), await checkPort(config)];
}

function checkNode(): Finding {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const ok = major > MIN_NODE[0]! || (major === MIN_NODE[0] && minor >= MIN_NODE[1]!);
  if (!ok) return { check: 'node', level: 'fail', detail: `Node ${process.versions.node}`, fix: 'install Node 20.19 or newer (22 or 24 recommended)' };
  if (major === 20) return { check: 'node', level: 'warn', detail: `Node ${process.versions.node} works, but Node 20 is past its end of life`, fix: 'move to Node 22 or 24' };
  return { check: 'node', level: 'ok', detail: `Node ${process.versions.node}` };
}

async function checkSandbox(config: Config): Promise<Finding> {
  if (config.sandbox === 'unsandboxed') {
    return { check: 'sandbox', level: 'warn', detail: 'KILN_SANDBOX=unsandboxed: commands run on this host without isolation', fix: 'install bubblewrap and unset KILN_SANDBOX' };
  }
  const namespaces = await userNamespaceProblem();
  const asRoot = process.getuid?.() === 0;
  const missing = await sandboxProgramsMissing(asRoot);
  if (missing) {
    return { check: 'sandbox', level: 'fail', detail: missing, fix: `install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap util-linux)${namespaces ? `; ${namespaces}` : ''}` };
  }
  const runner = new BubblewrapRunner(
    { cpuSeconds: config.commandCpuSeconds, memoryMb: config.commandMemoryMb, processes: config.commandProcesses, fileMb: config.commandFileMb, workspaceMb: config.workspaceMb },
    config.sandboxNetwork,
  );
  const problem = await runner.probe();
  if (problem) {
    return {
      check: 'sandbox',
      level: 'fail',
      detail: `bubblewrap cannot start a sandbox: ${problem}`,
      fix:
        namespaces ??
        'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 kernel.apparmor_restrict_unprivileged_userns=0); ' +
          'in a container run with --security-opt seccomp=unconfined --security-opt apparmor=unconfined (see deploy/README.md)',
    };
  }
  return { check: 'sandbox', level: 'ok', detail: `bubblewrap runs commands${asRoot ? ' (as a per-task user id)' : " (as Kiln's own user)"}; network: ${config.sandboxNetwork}` };
}

/** Kernel settings that turn unprivileged user namespaces off, as a fix to apply; null when none does. */
async function userNamespaceProblem(): Promise<string | null> {
  const read = async (file: string) => (await fs.readFile(file, 'utf8').catch(() => null))?.trim();
  if ((await read('/proc/sys/user/max_user_namespaces')) === '0') return 'user namespaces are off: sysctl user.max_user_namespaces=15000';
  if ((await read('/proc/sys/kernel/unprivileged_userns_clone')) === '0') return 'unprivileged user namespaces are off: sysctl kernel.unprivileged_userns_clone=1';
  if ((await read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')) === '1') {
    return 'AppArmor restricts unprivileged user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for bwrap)';
  }
  return null;
}

async function checkDatabase(config: Config): Promise<Finding> {
  if (!config.databaseUrl && !(await exists(path.join(config.dataDir, 'kiln.db')))) {
    const writable = await writableDir(config.dataDir);
    if (writable) return { check: 'database', level: 'fail', detail: `cannot create the data dir ${config.dataDir}: ${writable}`, fix: 'set KILN_DATA_DIR to a folder Kiln may write' };
    return { check: 'database', level: 'ok', detail: `SQLite: ${path.join(config.dataDir, 'kiln.db')} will be created at the first start` };
  }
  const where = config.databaseUrl ? 'PostgreSQL' : `SQLite ${path.join(config.dataDir, 'kiln.db')}`;
  try {
    const db = await openDatabase(config);
    try {
      await db.get('SELECT 1 AS one');
      const pending = await pendingMigrations(db);
      // No table yet (a fresh database) means nothing unknown.
      const unknown = await unknownMigrations(db).catch(() => []);
      if (unknown.length > 0) {
        return { check: 'database', level: 'warn', detail: `${where}: migrations ${unknown.join(', ')} come from a newer Kiln`, fix: 'run that newer version of Kiln' };
      }
      return { check: 'database', level: 'ok', detail: `${where} answers${pending.length > 0 ? `; ${pending.length} migration(s) will run at start` : ', schema up to date'}` };
    } finally {
      await db.close();
    }
  } catch (error) {
    return {
      check: 'database',
      level: 'fail',
      detail: `${where}: ${errorMessage(error)}`,
      fix: config.databaseUrl ? 'check DATABASE_URL (host, port, user, password, database) and that PostgreSQL accepts connections from here' : 'check KILN_DATA_DIR and its permissions',
    };
  }
}

async function checkBlobs(config: Config): Promise<Finding> {
  if (!config.blobStore) {
    const problem = await writableDir(path.join(config.dataDir, 'blobs'));
    if (problem) return { check: 'blob store', level: 'fail', detail: `${path.join(config.dataDir, 'blobs')}: ${problem}`, fix: 'make the data dir writable by Kiln' };
    return { check: 'blob store', level: 'ok', detail: `local, in ${path.join(config.dataDir, 'blobs')}` };
  }
  try {
    const blobs = await openBlobStore(config);
    await blobStoreTakesWrites(blobs);
    return { check: 'blob store', level: 'ok', detail: `${config.blobStore} takes writes` };
  } catch (error) {
    return {
      check: 'blob store',
      level: 'fail',
      detail: `${config.blobStore}: ${errorMessage(error)}`,
      fix: 'check the bucket, S3_ENDPOINT, S3_REGION and the AWS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or a profile)',
    };
  }
}

function checkModel(config: Config): Finding {
  try {
    const choice = new ModelRegistry(config.providers).resolve(config.model);
    if (choice.name === 'offline') return { check: 'model', level: 'warn', detail: 'offline: canned answers, no real model', fix: 'set KILN_MODEL (e.g. openai:gpt-4.1) and its provider key' };
    return { check: 'model', level: 'ok', detail: choice.name };
  } catch (error) {
    return { check: 'model', level: 'fail', detail: errorMessage(error), fix: 'set KILN_MODEL and the variables the message names' };
  }
}

async function checkPort(config: Config): Promise<Finding> {
  if (config.port === 0) return { check: 'port', level: 'ok', detail: 'PORT=0: a free port is picked at start' };
  const server = net.createServer();
  const problem = await new Promise<string | null>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE' ? 'in use by another program (a Kiln already running?)' : errorMessage(error)));
    server.listen(config.port, config.host, () => server.close(() => resolve(null)));
  });
  if (problem) return { check: 'port', level: 'fail', detail: `${config.host}:${config.port} ${problem}`, fix: 'stop the other program or set PORT (and HOST)' };
  return { check: 'port', level: 'ok', detail: `${config.host}:${config.port} is free` };
}

/** Null when a file can be written in `dir` (or in the nearest folder above it that exists); else why not. */
async function writableDir(dir: string): Promise<string | null> {
  let existing = dir;
  while (!(await exists(existing)) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  const probe = path.join(existing, `.kiln-doctor-${process.pid}`);
  try {
    await fs.writeFile(probe, '');
    await fs.rm(probe);
    return null;
  } catch (error) {
    return errorMessage(error);
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
