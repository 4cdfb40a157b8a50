import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where a test file started directly with `node --test` looks for PostgreSQL. */
export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The PostgreSQL the tests use: `KILN_TEST_DATABASE_URL`, which `npm test` (test/run.ts) sets to
 * a throwaway server of its own unless it is set already. Tests that use it declare
 * `needs(postgres)` (helpers/requirements.ts).
 */
export const TEST_DATABASE_URL = process.env.KILN_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;

/** A fresh schema name for one test, readable in `\dn` when a failed test leaves it behind. */
export function schemaName(label: string): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30);
  return `kiln_t_${slug}_${randomBytes(3).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Runs `fn` with a fresh schema; drops it when `fn` succeeds and keeps it (for a look) when it fails. */
export async function withSchema<T>(label: string, fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = schemaName(label);
  try {
    const result = await fn(schema);
    await dropSchema(schema);
    return result;
  } catch (error) {
    process.stderr.write(`# kept PostgreSQL schema ${schema} of the failed test "${label}"\n`);
    throw error;
  }
}
