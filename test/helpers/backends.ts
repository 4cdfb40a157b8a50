import pg from 'pg';
import { dropSchema, schemaName, TEST_DATABASE_URL } from './postgres.js';
import { needs, postgres } from './requirements.js';
import { S3_CREDENTIALS, startS3 } from './s3.js';

/** The storage a Kiln under test keeps its state in. */
export type BackendName = 'sqlite' | 'postgres';

/** Both storage backends, each with the options that skip its suite where it cannot run. */
export const BACKENDS: { name: BackendName; options: { skip?: string } }[] = [
  { name: 'sqlite', options: {} },
  { name: 'postgres', options: needs(postgres) },
];

/** Environment for Kiln processes on one backend, and its clean-up. */
export interface Backend {
  name: BackendName;
  env: Record<string, string>;
  /** With PostgreSQL: a query in the test's schema. */
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Drops the PostgreSQL schema (kept when the suite failed) and stops S3. */
  finish(passed: boolean): Promise<void>;
}

/**
 * A fresh backend for a suite: nothing for SQLite (each Kiln gets its own data dir), a schema of
 * its own for PostgreSQL, with an S3 server for blobs when `s3` is set.
 */
export async function openBackend(name: BackendName, label: string, options: { s3?: boolean } = {}): Promise<Backend> {
  if (name === 'sqlite') {
    return {
      name,
      env: {},
      query: () => Promise.reject(new Error('query() is for PostgreSQL; read the SQLite file of the data dir instead')),
      finish: async () => {},
    };
  }
  const schema = schemaName(label);
  const s3 = options.s3 ? await startS3() : null;
  const env: Record<string, string> = { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema };
  if (s3) Object.assign(env, { KILN_BLOB_STORE: `s3://${s3.bucket}/kiln`, S3_ENDPOINT: s3.endpoint, ...S3_CREDENTIALS });
  return {
    name,
    env,
    async query<T>(sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end();
      }
    },
    async finish(passed: boolean) {
      await s3?.stop();
      if (passed) await dropSchema(schema);
      else process.stderr.write(`# kept PostgreSQL schema ${schema} of the failed suite "${label}"\n`);
    },
  };
}

/**
 * Marks `state.failed` when the test body throws, so that `after` knows whether to keep the
 * suite's PostgreSQL schema for a look.
 */
export function tracked<A extends unknown[]>(state: { failed: boolean }, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      state.failed = true;
      throw error;
    }
  };
}
