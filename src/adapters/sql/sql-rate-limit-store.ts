import type { Database } from '../../ports/database.js';
import type { RateLimitStore } from '../../ports/storage.js';

/**
 * Token buckets in one table, each taken from with one atomic upsert (the row's lock, or
 * SQLite's single writer, serialises requests of one key across every process).
 */
export class SqlRateLimitStore implements RateLimitStore {
  private readonly sql: string;

  constructor(private readonly db: Database) {
    const least = db.dialect === 'postgres' ? 'LEAST' : 'MIN';
    // The bucket refilled up to now; parameters are typed, as PostgreSQL would take them for integers.
    const refilled = `${least}(CAST(? AS DOUBLE PRECISION), rate_limit_buckets.tokens + (CAST(? AS BIGINT) - rate_limit_buckets.updated_ms) * CAST(? AS DOUBLE PRECISION))`;
    this.sql = `INSERT INTO rate_limit_buckets (api_key_id, tokens, updated_ms, allowed) VALUES (?, CAST(? AS DOUBLE PRECISION), CAST(? AS BIGINT), 1)
      ON CONFLICT (api_key_id) DO UPDATE SET
        tokens = CASE WHEN ${refilled} >= 1 THEN ${refilled} - 1 ELSE ${refilled} END,
        allowed = CASE WHEN ${refilled} >= 1 THEN 1 ELSE 0 END,
        updated_ms = CAST(? AS BIGINT)
      RETURNING tokens, allowed`;
  }

  async take(bucket: string, nowMs: number, perMs: number, burst: number): Promise<{ allowed: boolean; tokens: number }> {
    const refill = [burst, nowMs, perMs];
    // The refilled amount appears four times in the statement.
    const row = await this.db.get<{ tokens: number; allowed: number }>(this.sql, [bucket, burst - 1, nowMs, ...refill, ...refill, ...refill, ...refill, nowMs]);
    return { allowed: Number(row!.allowed) === 1, tokens: Number(row!.tokens) };
  }
}
