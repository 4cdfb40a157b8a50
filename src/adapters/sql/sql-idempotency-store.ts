import type { Database } from '../../ports/database.js';
import type { IdempotencyRecord, IdempotencyStore, StoredAnswer } from '../../ports/storage.js';

interface Row {
  fingerprint: string;
  locked_until: string | null;
  status_code: number | null;
  content_type: string | null;
  body: string | null;
}

/**
 * Idempotency keys in one table whose primary key is (user, key): of two requests racing with
 * the same key, in one process or in several, exactly one inserts the row and does the work.
 */
export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Database) {}

  async claim(
    userId: string,
    key: string,
    fingerprint: string,
    owner: string,
    now: string,
    lockedUntil: string,
    expiresAt: string,
  ): Promise<IdempotencyRecord | null> {
    // An expired record no longer holds its key (the periodic clean-up may not have reached it yet).
    await this.db.run('DELETE FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ? AND expires_at < ?', [userId, key, now]);
    const inserted = await this.db.run(
      `INSERT INTO idempotency_keys (user_id, idempotency_key, fingerprint, owner, locked_until, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, idempotency_key) DO NOTHING`,
      [userId, key, fingerprint, owner, lockedUntil, now, expiresAt],
    );
    if (inserted.changes === 1) return null;
    // The worker of an unanswered claim died (its claim ran out): the same request takes over.
    const taken = await this.db.run(
      `UPDATE idempotency_keys SET owner = ?, locked_until = ?
        WHERE user_id = ? AND idempotency_key = ? AND fingerprint = ? AND status_code IS NULL AND locked_until < ?`,
      [owner, lockedUntil, userId, key, fingerprint, now],
    );
    if (taken.changes === 1) return null;
    const row = await this.db.get<Row>(
      'SELECT fingerprint, locked_until, status_code, content_type, body FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ?',
      [userId, key],
    );
    // Released (or removed) between the insert and this read: try again.
    if (!row) return this.claim(userId, key, fingerprint, owner, now, lockedUntil, expiresAt);
    return {
      fingerprint: row.fingerprint,
      lockedUntil: row.locked_until,
      answer: row.status_code === null ? null : { status: Number(row.status_code), contentType: row.content_type ?? 'application/json', body: row.body ?? '' },
    };
  }

  async renew(userId: string, key: string, owner: string, lockedUntil: string): Promise<void> {
    await this.db.run(
      'UPDATE idempotency_keys SET locked_until = ? WHERE user_id = ? AND idempotency_key = ? AND owner = ? AND status_code IS NULL',
      [lockedUntil, userId, key, owner],
    );
  }

  async complete(userId: string, key: string, owner: string, answer: StoredAnswer): Promise<void> {
    await this.db.run(
      `UPDATE idempotency_keys SET status_code = ?, content_type = ?, body = ?, owner = NULL, locked_until = NULL
        WHERE user_id = ? AND idempotency_key = ? AND owner = ? AND status_code IS NULL`,
      [answer.status, answer.contentType, answer.body, userId, key, owner],
    );
  }

  async release(userId: string, key: string, owner: string): Promise<void> {
    await this.db.run('DELETE FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ? AND owner = ? AND status_code IS NULL', [
      userId,
      key,
      owner,
    ]);
  }

  async removeExpired(now: string, limit: number): Promise<number> {
    const removed = await this.db.run(
      `DELETE FROM idempotency_keys WHERE (user_id, idempotency_key) IN
         (SELECT user_id, idempotency_key FROM idempotency_keys WHERE expires_at < ? LIMIT ?)`,
      [now, limit],
    );
    return removed.changes;
  }
}
