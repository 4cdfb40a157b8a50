import BetterSqlite3 from 'better-sqlite3';
import { StorageFull } from '../../core/errors.js';
import type { Database, SqlExecutor, SqlValue } from '../../ports/database.js';

const STATEMENT_CACHE = 256;

/**
 * The database port on one SQLite file (WAL mode).
 *
 * better-sqlite3 is synchronous, so a transaction whose body awaits would let other callers'
 * statements slip into it between awaits. Transactions therefore run one at a time, and plain
 * statements wait while one is open.
 */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private readonly db: BetterSqlite3.Database;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private txTail: Promise<unknown> = Promise.resolve();
  private openTx: Promise<unknown> | null = null;
  private readonly direct: SqlExecutor;

  constructor(file: string) {
    this.db = new BetterSqlite3(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.direct = {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => translated(() => this.prepare(sql).all(...params) as T[]),
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => translated(() => this.prepare(sql).get(...params) as T | undefined),
      run: async (sql: string, params: readonly SqlValue[] = []) => translated(() => ({ changes: this.prepare(sql).run(...params).changes })),
    };
  }

  async all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    await this.outsideTransactions();
    return this.direct.all<T>(sql, params);
  }

  async get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    await this.outsideTransactions();
    return this.direct.get<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    await this.outsideTransactions();
    return this.direct.run(sql, params);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const result = this.txTail.then(async () => {
      translated(() => this.db.exec('BEGIN IMMEDIATE'));
      try {
        const value = await fn(this.direct);
        translated(() => this.db.exec('COMMIT'));
        return value;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.txTail = settled;
    this.openTx = settled;
    void settled.then(() => {
      if (this.openTx === settled) this.openTx = null;
    });
    return result;
  }

  poolStats(): null {
    return null;
  }

  async close(): Promise<void> {
    await this.txTail;
    if (this.db.open) this.db.close();
  }

  private async outsideTransactions(): Promise<void> {
    while (this.openTx) await this.openTx;
  }

  /** Prepared statements, most recently used last; bounded, as lists of `?` make many shapes. */
  private prepare(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (statement) {
      this.statements.delete(sql);
    } else {
      statement = this.db.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE) this.statements.delete(this.statements.keys().next().value!);
    }
    this.statements.set(sql, statement);
    return statement;
  }
}

/** Runs a statement; a full disk (SQLITE_FULL) becomes {@link StorageFull}, so callers need not know SQLite's codes. */
function translated<T>(statement: () => T): T {
  try {
    return statement();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_FULL') throw new StorageFull();
    throw error;
  }
}
