import { createHash } from 'node:crypto';
import pg from 'pg';
import { InvalidInput, StorageFull } from '../../core/errors.js';
import { PipelinedConnection } from './pipelined-connection.js';
import type { Database, NotificationChannels, SqlExecutor, SqlValue, Statement } from '../../ports/database.js';

/** How long the pipelined connection may go without an answer before new statements go around it. */
const PIPELINE_STALL_MS = 20;

/** How long start-up waits for PostgreSQL to answer before it says it cannot reach it. */
const CONNECT_TIMEOUT_MS = 10_000;

/** PostgreSQL cannot be reached or refuses Kiln at start-up; the message says what to do. */
export class DatabaseUnreachable extends Error {
  override name = 'DatabaseUnreachable';
}

// BIGINT (int8) arrives as a string by default; Kiln's counters and sizes fit in a double.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * The database port on PostgreSQL (`pg` pool). `?` placeholders become `$1, $2, ...`. With
 * `schema`, every connection works in that schema (created when missing), so several
 * installations or test runs can share one database.
 */
export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly channels: NotificationChannels;
  /** Connections for transactions (and LISTEN). */
  private readonly pool: pg.Pool;
  /** Statements outside transactions, while it keeps moving. */
  private readonly pipeline: PipelinedConnection;
  private readonly direct: SqlExecutor;
  readonly scans: SqlExecutor;
  /** PostgreSQL server processes of this process's connections (pooled and pipelined). */
  private readonly backends = new Set<number>();

  constructor(
    private readonly connectionString: string,
    private readonly schema?: string,
  ) {
    const config = { connectionString, ...(schema ? { options: `-c search_path=${schema}` } : {}) };
    this.pool = new pg.Pool({ ...config, max: 10 });
    this.channels = channelsOf(schema);
    // A connection that drops while idle is replaced by the pool; the error must not crash the process.
    this.pool.on('error', () => {});
    // node-pg keeps the server process id of each connection (it cancels queries with it).
    const backend = (client: pg.PoolClient) => (client as pg.PoolClient & { processID?: number }).processID;
    this.pool.on('connect', (client) => {
      const pid = backend(client);
      if (pid) this.backends.add(pid);
    });
    this.pool.on('remove', (client) => {
      const pid = backend(client);
      if (pid) this.backends.delete(pid);
    });
    this.pipeline = new PipelinedConnection(config, { opened: (pid) => this.backends.add(pid), closed: (pid) => this.backends.delete(pid) });
    // A statement that waits (for a lock, or on a busy server) holds up those sent after it on the
    // pipelined connection: while it has gone too long without an answer, new ones take pooled connections.
    this.direct = executor((query) => (this.pipeline.stalledMs() < PIPELINE_STALL_MS ? this.pipeline.query(query) : this.pool.query(query)), false);
    this.scans = executor((query) => this.pool.query(query), false);
  }

  /**
   * Checks that PostgreSQL answers (throwing {@link DatabaseUnreachable} when it does not), then
   * creates the schema when one was asked for. Call once before use.
   */
  async init(): Promise<void> {
    await this.checkReachable();
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

  async runAll(statements: readonly Statement[]): Promise<void> {
    // More than one statement's worth of parameters: the pieces need a transaction to stay one unit.
    if (inPieces(statements).length > 1) await this.transaction((tx) => tx.runAll(statements));
    else await this.direct.runAll(statements);
  }

  async runGuarded(guard: Statement, statements: readonly Statement[]): Promise<boolean> {
    if (inPieces([guard, ...statements]).length > 1) return this.transaction((tx) => tx.runGuarded(guard, statements));
    // One statement: the guard's rows are counted in the main query, which divides by that count,
    // so a guard that changed nothing fails the whole statement and none of it is written.
    try {
      await this.direct.run(...guardedStatement(guard, statements));
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === DIVISION_BY_ZERO) return false;
      throw error;
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await fn(executor((query) => client.query(query), true));
      await client.query('COMMIT').catch((error: unknown) => {
        throw (error as { code?: string }).code === DISK_FULL ? new StorageFull() : error;
      });
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * One connection with a time limit, before the pool is used: the pool waits for a connection
   * without one, and a bare `ECONNREFUSED` tells a newcomer nothing.
   */
  private async checkReachable(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      throw new DatabaseUnreachable(unreachableMessage(this.connectionString, error));
    } finally {
      await client.end().catch(() => {});
    }
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** True when a notification's sender (a server process id) is one of this pool's connections. */
  sentByThisProcess(serverProcessId: number): boolean {
    return this.backends.has(serverProcessId);
  }

  /** A dedicated connection for LISTEN; the caller releases it. */
  async listener(): Promise<pg.PoolClient> {
    return this.pool.connect();
  }

  async close(): Promise<void> {
    await this.pipeline.close();
    await this.pool.end();
  }
}

/**
 * PostgreSQL's errors for a value it cannot take (SQLite stores them all): a NUL character or
 * bytes that are not UTF-8 in text, a number out of a column's range, text where a number or a
 * JSON value is expected. The edge refuses such input first; these are the last line, so that
 * a value slipping past it is the caller's 400 and not a 500.
 */
const UNSTORABLE_VALUE = new Set(['22021', '22P05', '22003', '22P02']);

/** PostgreSQL's division_by_zero: a guarded statement whose guard changed no row (see runGuarded). */
const DIVISION_BY_ZERO = '22012';

/** PostgreSQL's disk_full: the server's disk is out of space. */
const DISK_FULL = '53100';

/**
 * PostgreSQL's feature_not_supported, which a prepared statement gets once the type of a column
 * it returns has changed (a migration run by a newer process during a rolling upgrade).
 */
const FEATURE_NOT_SUPPORTED = '0A000';

function executor(query: (query: pg.QueryConfig) => Promise<pg.QueryResult>, inTransaction: boolean): SqlExecutor {
  /** Statements without parameters go as simple queries (which may hold several statements); the others prepared, where they may be. */
  const send = async (sql: string, params: readonly SqlValue[]) => {
    if (params.length === 0) return query({ text: sql });
    const statement = prepared(sql, params.length);
    const values = params as unknown[];
    try {
      return await query({ ...statement, values });
    } catch (error) {
      if ((error as { code?: string }).code !== FEATURE_NOT_SUPPORTED || !statement.name) throw error;
      // Prepared before the schema changed: from now on the statement goes unprepared. Outside a
      // transaction it runs again at once; a transaction has failed with it.
      unprepare(sql);
      if (inTransaction) throw error;
      return query({ text: statement.text, values });
    }
  };
  const run = async (sql: string, params: readonly SqlValue[] = []) => {
    try {
      return await send(sql, params);
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (UNSTORABLE_VALUE.has(code)) {
        throw new InvalidInput('The request contains a value that cannot be stored (a NUL character, text that is not UTF-8, or a number out of range).');
      }
      if (code === DISK_FULL) throw new StorageFull();
      throw error;
    }
  };
  return {
    all: async <T>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await run(sql, params)).rowCount ?? 0 }),
    runAll: async (statements: readonly Statement[]) => {
      for (const piece of inPieces(statements)) await run(...combined(piece));
    },
    // In a transaction (PostgresDatabase runs a guarded unit outside one as a single statement).
    runGuarded: async (guard: Statement, statements: readonly Statement[]) => {
      if (((await run(...guard)).rowCount ?? 0) === 0) return false;
      for (const piece of inPieces(statements)) await run(...combined(piece));
      return true;
    },
  };
}

/** Parameters in one combined statement at most (PostgreSQL's protocol takes 65,535). */
const PIECE_PARAMETERS = 30_000;

/** Consecutive statements grouped so that each group's parameters fit in one statement. */
function inPieces(statements: readonly Statement[]): Statement[][] {
  const pieces: Statement[][] = [];
  let size = Infinity;
  for (const statement of statements) {
    if (size + statement[1].length > PIECE_PARAMETERS) {
      pieces.push([]);
      size = 0;
    }
    pieces.at(-1)!.push(statement);
    size += statement[1].length;
  }
  return pieces;
}

function isSelect(sql: string): boolean {
  return /^\s*SELECT\b/i.test(sql);
}

/**
 * Statements as one: each write becomes a data-modifying WITH query (PostgreSQL runs every one of
 * them, once, in the statement's snapshot), the last write is the main query, and SELECTs run for
 * their effect are evaluated in the main query's select list.
 */
function combined(statements: readonly Statement[]): Statement {
  if (statements.length === 1) return statements[0]!;
  const writes = statements.filter(([sql]) => !isSelect(sql));
  const selects = statements.filter(([sql]) => isSelect(sql));
  if (statements.some(([sql]) => /^\s*WITH\b/i.test(sql))) throw new Error('runAll: a statement cannot start with its own WITH');
  const parts = selects.length > 0 ? writes : writes.slice(0, -1);
  const main: Statement = selects.length > 0 ? [`SELECT ${selects.map(([sql]) => `(${sql})`).join(', ')}`, selects.flatMap(([, p]) => p)] : writes.at(-1)!;
  if (parts.length === 0) return main;
  return [`WITH ${parts.map(([sql], i) => `w${i} AS (${sql})`).join(', ')} ${main[0]}`, [...parts.flatMap(([, p]) => p), ...main[1]]];
}

/** The guard as a WITH query returning a row for each row it changed or found, then the statements; see runGuarded. */
function guardedStatement(guard: Statement, statements: readonly Statement[]): Statement {
  const [sql, params] = combined([...statements, ['SELECT 1 / (SELECT COUNT(*) FROM guard)', []]]);
  const body = sql.startsWith('WITH ') ? `, ${sql.slice('WITH '.length)}` : ` ${sql}`;
  const rows = isSelect(guard[0]) ? guard[0] : `${guard[0]} RETURNING 1`;
  return [`WITH guard AS (${rows})${body}`, [...guard[1], ...params]];
}

/**
 * Statement texts numbered so far, with their prepared-statement names: each connection parses
 * a named statement once, then only binds and runs it. Only statements of up to
 * PREPARED_PARAMETERS parameters are named (large batches are rare shapes), and only the first
 * CACHE_LIMIT shapes: past those, texts are numbered each time and sent unnamed, so what each
 * connection keeps prepared stays bounded.
 */
const cache = new Map<string, { text: string; name?: string }>();
const CACHE_LIMIT = 256;
const PREPARED_PARAMETERS = 200;

/** `?` → `$n`, outside string literals (Kiln's SQL never puts `?` inside quotes or identifiers). */
function prepared(sql: string, parameters: number): { text: string; name?: string } {
  const known = cache.get(sql);
  if (known) return known;
  let n = 0;
  let quoted = false;
  let text = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    text += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  if (cache.size >= CACHE_LIMIT || parameters > PREPARED_PARAMETERS) return { text };
  const entry = { text, name: `kiln_${cache.size}` };
  cache.set(sql, entry);
  return entry;
}

/** Sends `sql` unnamed from now on (its name is not reused: connections may still hold it). */
function unprepare(sql: string): void {
  const known = cache.get(sql);
  if (known?.name) cache.set(sql, { text: known.text });
}

/** Names the setting, the server (never the password) and the reason, and says what to do. */
function unreachableMessage(connectionString: string, error: unknown): string {
  const e = error as { code?: string; message?: string };
  let where = 'the server it names';
  let database = '';
  try {
    const url = new URL(connectionString);
    where = `${url.hostname || 'localhost'}:${url.port || '5432'}`;
    database = decodeURIComponent(url.pathname.slice(1));
  } catch {
    // An unusual but valid connection string: keep the generic wording.
  }
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'the connection was refused (nothing listens there)',
    ENOTFOUND: 'that host name is unknown',
    EAI_AGAIN: 'that host name could not be resolved',
    ETIMEDOUT: 'the connection timed out',
    EHOSTUNREACH: 'that host is unreachable',
    ENETUNREACH: 'that network is unreachable',
    '28P01': 'the password was refused',
    '28000': 'the server refused this user',
    '3D000': `database "${database}" does not exist`,
  };
  const reason = (e.code && reasons[e.code]) ?? (/timeout/i.test(e.message ?? '') ? 'the connection timed out' : (e.message ?? String(error)));
  const advice =
    e.code === '3D000'
      ? `Create it (\`createdb ${database}\`) or fix DATABASE_URL.`
      : 'Start PostgreSQL there, or fix DATABASE_URL (unset it to keep state in SQLite in the data dir).';
  return `cannot connect to PostgreSQL at ${where} (DATABASE_URL): ${reason}. ${advice}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The default installation keeps the plain names (`kiln_queued`, ...); one in a schema adds a
 * hash of the schema's name, which keeps the channel within PostgreSQL's 63-byte limit.
 */
function channelsOf(schema: string | undefined): NotificationChannels {
  const suffix = schema ? `_${createHash('sha256').update(schema).digest('hex').slice(0, 12)}` : '';
  return { events: `kiln_events${suffix}`, queued: `kiln_queued${suffix}`, stop: `kiln_stop${suffix}`, turnEnded: `kiln_turn_ended${suffix}` };
}
