import { Readable } from 'node:stream';
import { pendingMigrations } from '../adapters/sql/migrations.js';
import { errorMessage } from '../logger.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Database } from '../ports/database.js';

/** The answer of `/readyz`: every check by name, `ok` or what failed. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

/** A check that resolves when its part works and throws, saying why, when it does not. */
export type ReadinessCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 3000;

/**
 * The checks of `/readyz`: the database answers, its schema is this version's, the blob store
 * takes a write, and (in a process with the worker role) the worker pool runs.
 */
export function readinessChecks(deps: { db: Database; blobs: BlobStore; workersRunning: (() => boolean) | null }): Record<string, ReadinessCheck> {
  const checks: Record<string, ReadinessCheck> = {
    database: async () => {
      await deps.db.get('SELECT 1 AS one');
    },
    migrations: async () => {
      const pending = await pendingMigrations(deps.db);
      if (pending.length > 0) throw new Error(`migrations ${pending.join(', ')} are not applied`);
    },
    blobs: () => blobStoreTakesWrites(deps.blobs),
  };
  const running = deps.workersRunning;
  if (running) {
    checks.workers = async () => {
      if (!running()) throw new Error('the worker pool is not running');
    };
  }
  return checks;
}

/** Stores the empty blob: written (and renamed or uploaded) like any other blob, it changes nothing. */
export async function blobStoreTakesWrites(blobs: BlobStore): Promise<void> {
  await blobs.put(Readable.from([]));
}

/** Runs every check at once, each bounded in time, so a hung dependency makes the answer "not ready" rather than no answer. */
export async function checkReadiness(checks: Record<string, ReadinessCheck>): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS))),
        ]);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, `failed: ${errorMessage(error)}`] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, result]) => result === 'ok'), checks: Object.fromEntries(results) };
}
