import { constants as fsConstants, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { LocalBlobStore } from '../adapters/fs/local-blob-store.js';
import { SqliteDatabase } from '../adapters/sqlite/sqlite-database.js';
import { openSqlStorage } from '../adapters/sql/sql-storage.js';
import { restoreWorkspace } from '../core/artifacts/artifact-recorder.js';
import { Workspaces } from '../core/workspace/workspaces.js';
import { KILN_VERSION } from '../version.js';

/** What a backup holds, written last into it (a backup without it is incomplete). */
export interface BackupManifest {
  format: 1;
  kilnVersion: string;
  createdAt: string;
  schemaVersion: number;
  tasks: number;
  blobs: number;
  blobBytes: number;
  /** False when the signing key came from KILN_SIGNING_KEY (keep that value yourself). */
  signingKey: boolean;
}

/** A backup or restore that cannot be done as asked; the message says why and what to do. */
export class BackupError extends Error {
  override name = 'BackupError';
}

const DB_FILE = 'kiln.db';
const MANIFEST = 'manifest.json';
const SIGNING_KEY = 'signing-key';
/** Pages copied per step of the online backup: small steps let the server write in between. */
const PAGES_PER_STEP = 256;

type Progress = (line: string) => void;

/**
 * Backs up a SQLite installation while it runs: SQLite's online backup of the database (a
 * consistent snapshot; the server goes on writing), then the blobs it refers to (blobs never
 * change, and are written before any version refers to them, so every blob of the snapshot is
 * there), then the signing key. Workspaces are not copied: restore rebuilds them from the
 * artifacts. PostgreSQL and S3 installations use their own tools (see docs/deploy.md).
 */
export async function backup(options: { dataDir: string; postgres: boolean; s3: boolean; to: string; progress: Progress }): Promise<BackupManifest> {
  if (options.postgres || options.s3) {
    throw new BackupError(
      'kiln backup copies a SQLite data dir with local blobs. With PostgreSQL use pg_dump (or continuous archiving), ' +
        'and for an S3 blob store bucket versioning or replication (e.g. `aws s3 sync`); see docs/deploy.md, "Backups".',
    );
  }
  const source = path.join(options.dataDir, DB_FILE);
  if (!(await exists(source))) throw new BackupError(`no Kiln database at ${source}: is --data-dir (KILN_DATA_DIR) right?`);
  await requireEmptyDir(options.to, 'the backup folder', false);
  await fs.mkdir(options.to, { recursive: true });

  const db = new BetterSqlite3(source, { fileMustExist: true });
  let snapshot: { schemaVersion: number; tasks: number; referenced: Set<string> };
  try {
    db.pragma('busy_timeout = 5000');
    let last = 0;
    const { totalPages } = await db.backup(path.join(options.to, DB_FILE), {
      progress({ totalPages, remainingPages }) {
        const percent = Math.floor(((totalPages - remainingPages) / Math.max(1, totalPages)) * 100);
        if (percent >= last + 10) {
          last = percent;
          options.progress(`database: ${percent}% of ${totalPages} pages`);
        }
        return PAGES_PER_STEP;
      },
    });
    options.progress(`database: 100% of ${totalPages} pages`);
  } finally {
    db.close();
  }
  const copy = new BetterSqlite3(path.join(options.to, DB_FILE), { fileMustExist: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the database copy failed its integrity check: ${String(check)}`);
    snapshot = {
      schemaVersion: Number((copy.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v),
      tasks: Number((copy.prepare('SELECT COUNT(*) AS n FROM tasks').get() as { n: number }).n),
      referenced: new Set((copy.prepare('SELECT DISTINCT sha256 FROM artifact_versions').all() as { sha256: string }[]).map((r) => r.sha256)),
    };
  } finally {
    copy.close();
  }

  const blobs = await copyBlobs(path.join(options.dataDir, 'blobs'), path.join(options.to, 'blobs'), snapshot.referenced, options.progress);
  const keyFile = path.join(options.dataDir, SIGNING_KEY);
  const signingKey = await exists(keyFile);
  if (signingKey) await fs.copyFile(keyFile, path.join(options.to, SIGNING_KEY));
  const manifest: BackupManifest = {
    format: 1,
    kilnVersion: KILN_VERSION,
    createdAt: new Date().toISOString(),
    schemaVersion: snapshot.schemaVersion,
    tasks: snapshot.tasks,
    blobs: blobs.count,
    blobBytes: blobs.bytes,
    signingKey,
  };
  await fs.writeFile(path.join(options.to, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Copies the blobs the snapshot refers to (only those: others are unreferenced or newer than the
 * snapshot), and fails when one is missing.
 */
async function copyBlobs(from: string, to: string, referenced: Set<string>, progress: Progress): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  let reported = Date.now();
  for (const sha of referenced) {
    const relative = path.join(sha.slice(0, 2), sha.slice(2, 4), sha);
    const target = path.join(to, relative);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.copyFile(path.join(from, relative), target, fsConstants.COPYFILE_FICLONE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError(`blob ${sha} is referenced by the database but missing from ${from}`);
      throw error;
    }
    count++;
    bytes += (await fs.stat(target)).size;
    if (Date.now() - reported >= 1000) {
      reported = Date.now();
      progress(`blobs: ${count} of ${referenced.size} (${megabytes(bytes)})`);
    }
  }
  progress(`blobs: ${count} of ${referenced.size} (${megabytes(bytes)})`);
  return { count, bytes };
}

/**
 * Restores a backup into a new data dir: the database, every blob (each checked against its
 * SHA-256 name), the signing key, and the task workspaces rebuilt from the artifacts.
 */
export async function restore(options: { from: string; dataDir: string; workspaceMb: number; force: boolean; progress: Progress }): Promise<BackupManifest> {
  const manifest = await readManifest(options.from);
  await requireEmptyDir(options.dataDir, 'the data dir', options.force);
  if (options.force) await fs.rm(options.dataDir, { recursive: true, force: true });
  await fs.mkdir(options.dataDir, { recursive: true });

  await fs.copyFile(path.join(options.from, DB_FILE), path.join(options.dataDir, DB_FILE));
  options.progress('database: restored');
  const blobs = new LocalBlobStore(options.dataDir);
  await blobs.init();
  let count = 0;
  let reported = Date.now();
  for (const file of await blobFiles(path.join(options.from, 'blobs'))) {
    const stored = await blobs.put(createReadStream(file));
    if (stored.sha256 !== path.basename(file)) throw new BackupError(`the backup's blob ${path.basename(file)} is damaged: its content does not match its name`);
    count++;
    if (Date.now() - reported >= 1000) {
      reported = Date.now();
      progress(options.progress, count, manifest.blobs);
    }
  }
  progress(options.progress, count, manifest.blobs);
  if (count !== manifest.blobs) throw new BackupError(`the backup lists ${manifest.blobs} blobs but holds ${count}`);
  if (manifest.signingKey) await fs.copyFile(path.join(options.from, SIGNING_KEY), path.join(options.dataDir, SIGNING_KEY));

  const db = new SqliteDatabase(path.join(options.dataDir, DB_FILE));
  // Opening migrates a backup taken by an older Kiln, as its next start would.
  const storage = await openSqlStorage(db);
  try {
    const workspaces = new Workspaces(options.dataDir, options.workspaceMb * 1024 * 1024);
    await workspaces.init();
    // Every task gets its workspace back (queued tasks run in it at the first start), with its files.
    const tasks = (await db.all<{ id: string }>('SELECT id FROM tasks')).map((r) => r.id);
    for (const taskId of tasks) await restoreWorkspace({ artifacts: storage.artifacts, blobs, workspaces }, taskId);
    options.progress(`workspaces: ${tasks.length} rebuilt from their artifacts`);
  } finally {
    await storage.close();
  }
  return manifest;
}

async function readManifest(dir: string): Promise<BackupManifest> {
  const text = await fs.readFile(path.join(dir, MANIFEST), 'utf8').catch(() => null);
  if (text === null) throw new BackupError(`${dir} is not a complete Kiln backup (no ${MANIFEST}).`);
  const manifest = JSON.parse(text) as BackupManifest;
  if (manifest.format !== 1) throw new BackupError(`${dir} is a backup of an unknown format (${String(manifest.format)}).`);
  return manifest;
}

async function requireEmptyDir(dir: string, what: string, force: boolean): Promise<void> {
  const entries = await fs.readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0 && !force) throw new BackupError(`${what} ${dir} is not empty; choose an empty folder${what === 'the data dir' ? ' (or pass --force to replace its contents)' : ''}.`);
}

async function blobFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => path.join(e.parentPath, e.name));
}

function progress(report: Progress, count: number, total: number): void {
  report(`blobs: ${count} of ${total} restored`);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
