import pg from 'pg';
import type { Database, SqlExecutor, SqlValue } from '../../ports/database.js';

// BIGINT (int8) arrives as a string by default; Kiln's counters and sizes fit in a double.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * The database port on PostgreSQL (`pg` pool). `?` placeholders become `$1, $2, ...`. With
 * `schema`, every connection works in that schema (created when missing), so several
 * installations or test runs can share one database.
 */
export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly direct: SqlExecutor;

  constructor(
    connectionString: string,
    private readonly schema?: string,
  ) {
    this.pool = new pg.Pool({ connectionString, max: 10, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
    // A connection that drops while idle is replaced by the pool; the error must not crash the process.
    this.pool.on('error', () => {});
    this.direct = executor((text, values) => this.pool.query(text, values));
  }

  /** Creates the schema when one was asked for. Call once before use. */
  async init(): Promise<void> {
    if (!this.schema) return;
    // CREATE SCHEMA IF NOT EXISTS is not safe against itself: processes starting together take turns.
    await this.transaction(async (tx) => {
      await tx.get('SELECT pg_advisory_xact_lock(7254100000)');
      await tx.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema!)}`);
    });
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.direct.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.direct.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await fn(executor((text, values) => client.query(text, values)));
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** A dedicated connection for LISTEN; the caller releases it. */
  async listener(): Promise<pg.PoolClient> {
    return this.pool.connect();
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function executor(query: (text: string, values: unknown[]) => Promise<pg.QueryResult>): SqlExecutor {
  const run = (sql: string, params: readonly SqlValue[] = []) => query(numbered(sql), params as unknown[]);
  return {
    all: async <T>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await run(sql, params)).rowCount ?? 0 }),
  };
}

const cache = new Map<string, string>();

/** `?` → `$n`, outside string literals (Kiln's SQL never puts `?` inside quotes or identifiers). */
function numbered(sql: string): string {
  let out = cache.get(sql);
  if (out === undefined) {
    let n = 0;
    let quoted = false;
    out = '';
    for (const ch of sql) {
      if (ch === "'") quoted = !quoted;
      out += ch === '?' && !quoted ? `$${++n}` : ch;
    }
    cache.set(sql, out);
  }
  return out;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
