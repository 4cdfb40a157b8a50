import { randomUUID } from 'node:crypto';
import type { Database } from '../../ports/database.js';
import type { ApiKeyRecord, KeyOwner, NewApiKey, User, UserStore, UserSummary } from '../../ports/storage.js';

const KEY_COLUMNS = `k.id AS "id", k.name AS "name", k.user_id AS "userId", k.admin AS "admin",
  k.created_at AS "createdAt", k.last_used_at AS "lastUsedAt"`;

type KeyRow = Omit<ApiKeyRecord, 'admin'> & { admin: number };

export class SqlUserStore implements UserStore {
  constructor(private readonly db: Database) {}

  async ensureUser(name: string, now: string): Promise<User> {
    await this.db.run('INSERT INTO users (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', [randomUUID(), name, now]);
    const row = await this.db.get<User>('SELECT id, name FROM users WHERE name = ?', [name]);
    if (!row) throw new Error(`user ${name} vanished right after it was created`);
    return row;
  }

  async findUser(idOrName: string): Promise<User | undefined> {
    return (
      (await this.db.get<User>('SELECT id, name FROM users WHERE id = ?', [idOrName])) ??
      (await this.db.get<User>('SELECT id, name FROM users WHERE name = ?', [idOrName]))
    );
  }

  async listUsers(): Promise<UserSummary[]> {
    const rows = await this.db.all<Omit<UserSummary, 'keyCount'> & { keyCount: number | string }>(
      `SELECT u.id AS "id", u.name AS "name", u.created_at AS "createdAt",
              (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS "keyCount"
         FROM users u ORDER BY u.created_at, u.name`,
    );
    return rows.map((row) => ({ ...row, keyCount: Number(row.keyCount) }));
  }

  async insertKey(key: NewApiKey): Promise<void> {
    await this.db.run('INSERT INTO api_keys (id, user_id, key_hash, source, name, admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      key.id,
      key.userId,
      key.hash,
      key.source,
      key.name,
      key.admin ? 1 : 0,
      key.now,
    ]);
  }

  async replaceEnvKey(hash: string | null, userId: string, now: string): Promise<{ revoked: boolean }> {
    return this.db.transaction(async (tx) => {
      const current = await tx.get<{ key_hash: string; revoked_at: string | null }>("SELECT key_hash, revoked_at FROM api_keys WHERE source = 'env'");
      if (current && current.key_hash === hash) return { revoked: current.revoked_at !== null };
      await tx.run("DELETE FROM api_keys WHERE source = 'env'");
      if (hash) {
        await tx.run("INSERT INTO api_keys (id, user_id, key_hash, source, name, admin, created_at) VALUES (?, ?, ?, 'env', 'KILN_API_KEY', 1, ?)", [
          randomUUID(),
          userId,
          hash,
          now,
        ]);
      }
      return { revoked: false };
    });
  }

  async findKey(hash: string): Promise<(KeyOwner & { apiKeyId: string; lastUsedAt: string | null }) | undefined> {
    const row = await this.db.get<{ apiKeyId: string; userId: string; username: string; admin: number; lastUsedAt: string | null }>(
      `SELECT k.id AS "apiKeyId", u.id AS "userId", u.name AS "username", k.admin AS "admin", k.last_used_at AS "lastUsedAt"
         FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.key_hash = ? AND k.revoked_at IS NULL`,
      [hash],
    );
    return row && { ...row, admin: Number(row.admin) === 1 };
  }

  async findKeyById(id: string): Promise<KeyOwner | undefined> {
    const row = await this.db.get<Omit<KeyOwner, 'admin'> & { admin: number }>(
      `SELECT k.id AS "apiKeyId", u.id AS "userId", u.name AS "username", k.admin AS "admin"
         FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.id = ? AND k.revoked_at IS NULL`,
      [id],
    );
    return row && { ...row, admin: Number(row.admin) === 1 };
  }

  async touchKey(id: string, now: string, staleBefore: string): Promise<void> {
    await this.db.run('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)', [now, id, staleBefore]);
  }

  async listKeys(userId: string | null): Promise<ApiKeyRecord[]> {
    const rows =
      userId === null
        ? await this.db.all<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.revoked_at IS NULL ORDER BY k.created_at, k.id`)
        : await this.db.all<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.user_id = ? AND k.revoked_at IS NULL ORDER BY k.created_at, k.id`, [userId]);
    return rows.map((row) => ({ ...row, admin: Number(row.admin) === 1 }));
  }

  async revokeKey(id: string, userId: string | null, now: string): Promise<boolean> {
    const { changes } =
      userId === null
        ? await this.db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id])
        : await this.db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL', [now, id, userId]);
    return changes === 1;
  }
}
