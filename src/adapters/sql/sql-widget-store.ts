import type { WidgetAppRecord } from '../../core/widgets/widget-types.js';
import type { Database } from '../../ports/database.js';
import type { WidgetStore } from '../../ports/storage.js';

interface AppRow {
  id: string;
  user_id: string;
  name: string;
  allowed_origins: string;
  agent_id: string | null;
  auto_execute: number | null;
  sealed_variables: string | null;
  secret_hash: string;
  generation: number | string;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'a.id, a.user_id, a.name, a.allowed_origins, a.agent_id, a.auto_execute, a.sealed_variables, a.secret_hash, a.generation, a.created_at, a.updated_at';

function fromRow(row: AppRow): WidgetAppRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    allowedOrigins: JSON.parse(row.allowed_origins) as string[],
    agentId: row.agent_id,
    autoExecute: row.auto_execute === null ? null : Boolean(Number(row.auto_execute)),
    sealedVariables: row.sealed_variables,
    secretHash: row.secret_hash,
    generation: Number(row.generation),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class SqlWidgetStore implements WidgetStore {
  constructor(private readonly db: Database) {}

  async createApp(app: WidgetAppRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO widget_apps (id, user_id, name, allowed_origins, agent_id, auto_execute, sealed_variables, secret_hash, generation, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        app.id,
        app.userId,
        app.name,
        JSON.stringify(app.allowedOrigins),
        app.agentId,
        app.autoExecute === null ? null : app.autoExecute ? 1 : 0,
        app.sealedVariables,
        app.secretHash,
        app.generation,
        app.createdAt,
        app.updatedAt,
      ],
    );
  }

  async getApp(id: string): Promise<(WidgetAppRecord & { username: string }) | undefined> {
    const row = await this.db.get<AppRow & { username: string }>(`SELECT ${COLUMNS}, u.name AS username FROM widget_apps a JOIN users u ON u.id = a.user_id WHERE a.id = ?`, [id]);
    return row ? { ...fromRow(row), username: row.username } : undefined;
  }

  async listApps(userId: string): Promise<WidgetAppRecord[]> {
    const rows = await this.db.all<AppRow>(`SELECT ${COLUMNS} FROM widget_apps a WHERE a.user_id = ? ORDER BY a.created_at, a.id`, [userId]);
    return rows.map(fromRow);
  }

  async updateApp(app: WidgetAppRecord): Promise<void> {
    await this.db.run(
      `UPDATE widget_apps SET name = ?, allowed_origins = ?, agent_id = ?, auto_execute = ?, sealed_variables = ?, secret_hash = ?, generation = ?, updated_at = ?
       WHERE id = ? AND user_id = ?`,
      [
        app.name,
        JSON.stringify(app.allowedOrigins),
        app.agentId,
        app.autoExecute === null ? null : app.autoExecute ? 1 : 0,
        app.sealedVariables,
        app.secretHash,
        app.generation,
        app.updatedAt,
        app.id,
        app.userId,
      ],
    );
  }

  async deleteApp(id: string, userId: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const deleted = await tx.run('DELETE FROM widget_apps WHERE id = ? AND user_id = ?', [id, userId]);
      if (deleted.changes === 0) return false;
      await tx.run('DELETE FROM widget_token_variables WHERE app_id = ?', [id]);
      return true;
    });
  }

  async forgetTokens(appId: string): Promise<void> {
    await this.db.run('DELETE FROM widget_token_variables WHERE app_id = ?', [appId]);
  }

  async saveTokenVariables(token: { id: string; appId: string; sealed: string; expiresAt: string }, now: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM widget_token_variables WHERE expires_at < ?', [now]);
      await tx.run('INSERT INTO widget_token_variables (token_id, app_id, sealed, expires_at) VALUES (?, ?, ?, ?)', [token.id, token.appId, token.sealed, token.expiresAt]);
    });
  }

  async tokenVariables(tokenId: string): Promise<string | undefined> {
    const row = await this.db.get<{ sealed: string }>('SELECT sealed FROM widget_token_variables WHERE token_id = ?', [tokenId]);
    return row?.sealed;
  }
}
