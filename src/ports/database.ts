/**
 * The database port: parameterised SQL and transactions, nothing more.
 * SQL is written with `?` placeholders; adapters translate them for their driver.
 * Values always travel as parameters; identifiers come only from code.
 *
 * @example
 * const row = await db.get<{ n: number }>('SELECT count(*) AS n FROM tasks WHERE user_id = ?', [userId]);
 * await db.transaction(async (tx) => { await tx.run('UPDATE ...', [...]); });
 */
export type SqlValue = string | number | bigint | null | Buffer;

export type Dialect = 'sqlite' | 'postgres';

/** A statement with its parameters. */
export type Statement = readonly [sql: string, params: readonly SqlValue[]];

export interface SqlExecutor {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /**
   * Runs INSERT, UPDATE and DELETE statements (and, on PostgreSQL, SELECTs called for their effect,
   * such as `pg_notify`) together: all of them or none. PostgreSQL gets them as one statement, in
   * one round trip, so none of them sees what another writes: they must not depend on each
   * other's rows, and none may start with its own WITH.
   */
  runAll(statements: readonly Statement[]): Promise<void>;
  /**
   * Runs `guard` (an UPDATE, or a SELECT) and, when it changed or found a row, `statements` with
   * it, as {@link runAll} does: all of them or none. When the guard changed or found no row,
   * nothing is written. Returns whether the guard held. On PostgreSQL this is one round trip; `statements` must not touch the guard's rows.
   */
  runGuarded(guard: Statement, statements: readonly Statement[]): Promise<boolean>;
}

/**
 * Names of the PostgreSQL LISTEN/NOTIFY channels one installation uses. Channels belong to a
 * database, not to a schema: installations in different schemas of one database need their own.
 */
export interface NotificationChannels {
  events: string;
  queued: string;
  stop: string;
  turnEnded: string;
}

export interface Database extends SqlExecutor {
  readonly dialect: Dialect;
  /** The notification channels of this installation (PostgreSQL only). */
  readonly channels?: NotificationChannels;
  /**
   * For statements that may read many rows (filtered lists and their counts, searches, reports):
   * on PostgreSQL they run on a connection of their own, so that they hold up no other statement.
   */
  readonly scans: SqlExecutor;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Connections of a pool, for metrics; null when there is no pool (SQLite's one connection). */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  close(): Promise<void>;
}
