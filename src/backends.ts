import fs from 'node:fs/promises';
import path from 'node:path';
import { LocalBlobStore } from './adapters/fs/local-blob-store.js';
import { LocalSignals } from './adapters/memory/local-signals.js';
import { PgNotifications } from './adapters/postgres/pg-notifications.js';
import { PostgresDatabase } from './adapters/postgres/postgres-database.js';
import { LocalCommandRunner } from './adapters/process/local-command-runner.js';
import { parseS3Url, S3BlobStore } from './adapters/s3/s3-blob-store.js';
import { BubblewrapRunner, sandboxProgramsMissing } from './adapters/sandbox/bubblewrap-runner.js';
import { UnavailableRunner } from './adapters/sandbox/unavailable-runner.js';
import { openSqlStorage } from './adapters/sql/sql-storage.js';
import { SqliteDatabase } from './adapters/sqlite/sqlite-database.js';
import type { Config } from './config.js';
import type { EventHub } from './core/events/event-hub.js';
import type { Logger } from './logger.js';
import type { BlobStore } from './ports/blob-store.js';
import type { CommandRunner } from './ports/command-runner.js';
import type { Database } from './ports/database.js';
import type { Storage } from './ports/storage.js';
import type { TaskSignals } from './ports/task-signals.js';

/**
 * The adapters the config asks for: SQLite or PostgreSQL, local disk or S3, in-process or
 * PostgreSQL signals, bubblewrap or no sandbox. Nothing else in Kiln picks an adapter.
 */
export async function openDatabase(config: Config): Promise<Database> {
  if (config.databaseUrl) {
    const db = new PostgresDatabase(config.databaseUrl, config.databaseSchema);
    await db.init();
    return db;
  }
  await fs.mkdir(config.dataDir, { recursive: true });
  return new SqliteDatabase(path.join(config.dataDir, 'kiln.db'));
}

/** Opens the storage the config names (creating and migrating it as needed). */
export async function openStorage(config: Config): Promise<{ db: Database; storage: Storage }> {
  const db = await openDatabase(config);
  return { db, storage: await openSqlStorage(db, { webhookRetryMs: config.webhookRetrySeconds * 1000 }) };
}

export async function openBlobStore(config: Config): Promise<BlobStore> {
  if (config.blobStore) return new S3BlobStore(parseS3Url(config.blobStore), { region: config.s3Region, ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}) });
  const store = new LocalBlobStore(config.dataDir);
  await store.init();
  return store;
}

/** In one process, signals stay in memory; with PostgreSQL they travel through LISTEN/NOTIFY. */
export async function openSignals(db: Database, deps: { hub: EventHub; storage: Storage; logger: Logger }): Promise<{ signals: TaskSignals; close(): Promise<void> }> {
  if (db instanceof PostgresDatabase) {
    const signals = new PgNotifications(db, { hub: deps.hub, tasks: deps.storage.tasks, logger: deps.logger });
    await signals.start();
    return { signals, close: () => signals.close() };
  }
  return { signals: new LocalSignals(), close: async () => {} };
}

/** The command runner the config asks for; says loudly when commands cannot be isolated. */
export async function openCommandRunner(config: Config, logger: Logger): Promise<CommandRunner> {
  if (config.sandbox === 'unsandboxed') {
    logger.warn("KILN_SANDBOX=unsandboxed: commands run directly on this host, as the server's user, with no isolation");
    return new LocalCommandRunner();
  }
  const runner = new BubblewrapRunner(
    {
      cpuSeconds: config.commandCpuSeconds,
      memoryMb: config.commandMemoryMb,
      processes: config.commandProcesses,
      fileMb: config.commandFileMb,
      workspaceMb: config.workspaceMb,
    },
    config.sandboxNetwork,
  );
  const problem = (await sandboxProgramsMissing(process.getuid?.() === 0)) ?? (await runner.probe());
  if (problem) {
    logger.error(
      `COMMANDS ARE DISABLED: the bubblewrap sandbox cannot run here (${problem}). Every run_command call will be refused. ` +
        'Install bubblewrap and allow user namespaces, or set KILN_SANDBOX=unsandboxed to run commands without isolation.',
    );
    return new UnavailableRunner(problem);
  }
  logger.info('commands run in a bubblewrap sandbox', { network: config.sandboxNetwork });
  if (config.sandboxNetwork === 'host') logger.warn('KILN_SANDBOX_NETWORK=host: commands can reach the network, including services on this host');
  return runner;
}
