import { randomUUID } from 'node:crypto';
import type { Database } from '../../ports/database.js';
import type { KeyOwner, User, UserStore } from '../../ports/storage.js';

export class SqlUserStore implements UserStore {
  constructor(private readonly db: Database) {}

  async ensureUser(name: string, now: string): Promise<User> {
    await this.db.run('INSERT INTO users (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', [randomUUID(), name, now]);
    const row = await this.db.get<User>('SELECT id, name FROM users WHERE name = ?', [name]);
    if (!row) throw new Error(`user ${name} vanished right after it was created`);
    return row;
  }

  async insertKey(key: { id: string; userId: string; hash: string; source: 'cli' | 'env'; now: string }): Promise<void> {
    await this.db.run('INSERT INTO api_keys (id, user_id, key_hash, source, created_at) VALUES (?, ?, ?, ?, ?)', [
      key.id,
      key.userId,
      key.hash,
      key.source,
      key.now,
    ]);
  }

  async replaceEnvKey(hash: string | null, userId: string, now: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const current = await tx.get<{ key_hash: string }>("SELECT key_hash FROM api_keys WHERE source = 'env'");
      if (current?.key_hash === hash) return;
      await tx.run("DELETE FROM api_keys WHERE source = 'env'");
      if (hash) {
        await tx.run("INSERT INTO api_keys (id, user_id, key_hash, source, created_at) VALUES (?, ?, ?, 'env', ?)", [randomUUID(), userId, hash, now]);
      }
    });
  }

  async findKey(hash: string): Promise<KeyOwner | undefined> {
    return this.db.get<KeyOwner>(
      `SELECT k.id AS "apiKeyId", u.id AS "userId", u.name AS "username"
         FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.key_hash = ?`,
      [hash],
    );
  }
}
