import type { Database, SqlExecutor } from '../../ports/database.js';
import type { RetentionStore } from '../../ports/storage.js';
import { taskCountChange } from './task-counts.js';

const IDLE = `('completed', 'failed', 'cancelled')`;
const DAY_MS = 86_400_000;

/** Retention over SQL: each batch deletes by primary key from a bounded subquery. */
export class SqlRetentionStore implements RetentionStore {
  constructor(private readonly db: Database) {}

  async expired(now: Date, defaultDays: number | null, limit: number): Promise<string[]> {
    const cutoff = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
    const found = await this.db.all<{ id: string }>('SELECT id FROM tasks WHERE purging_since IS NOT NULL LIMIT ?', [limit]);
    if (defaultDays !== null && found.length < limit) {
      found.push(
        ...(await this.db.all<{ id: string }>(
          `SELECT t.id FROM tasks t LEFT JOIN agents a ON a.id = t.agent_id
            WHERE t.last_activity_at < ? AND t.status IN ${IDLE} AND t.purging_since IS NULL AND a.retention_days IS NULL
            ORDER BY t.last_activity_at LIMIT ?`,
          [cutoff(defaultDays), limit - found.length],
        )),
      );
    }
    const overrides = await this.db.all<{ days: number }>('SELECT DISTINCT retention_days AS days FROM agents WHERE retention_days IS NOT NULL');
    for (const { days } of overrides) {
      if (found.length >= limit) break;
      found.push(
        ...(await this.db.all<{ id: string }>(
          `SELECT t.id FROM tasks t JOIN agents a ON a.id = t.agent_id
            WHERE a.retention_days = ? AND t.last_activity_at < ? AND t.status IN ${IDLE} AND t.purging_since IS NULL
            ORDER BY t.last_activity_at LIMIT ?`,
          [days, cutoff(Number(days)), limit - found.length],
        )),
      );
    }
    return found.map((r) => r.id);
  }

  async beginPurge(taskId: string, userId: string | null, now: string): Promise<'marked' | 'executing' | 'missing'> {
    const owner = userId === null ? '' : ' AND user_id = ?';
    const params = userId === null ? [taskId] : [taskId, userId];
    const marked = await this.db.run(
      `UPDATE tasks SET purging_since = COALESCE(purging_since, ?) WHERE id = ?${owner} AND status IN ${IDLE}`,
      [now, ...params],
    );
    if (marked.changes === 1) return 'marked';
    return (await this.db.get(`SELECT id FROM tasks WHERE id = ?${owner}`, params)) ? 'executing' : 'missing';
  }

  async purgeBatch(taskId: string, limit: number): Promise<{ removed: number; blobs: string[] }> {
    return this.db.transaction(async (tx) => {
      let left = limit;
      const blobs: string[] = [];
      const versions = await tx.all<{ id: string; sha256: string }>(
        `SELECT v.id, v.sha256 FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.task_id = ? LIMIT ?`,
        [taskId, left],
      );
      if (versions.length > 0) {
        await tx.run(`DELETE FROM artifact_versions WHERE id IN (${versions.map(() => '?').join(', ')})`, versions.map((v) => v.id));
        blobs.push(...new Set(versions.map((v) => v.sha256)));
        left -= versions.length;
      }
      left -= await deleteSome(tx, 'events', 'seq', taskId, left);
      left -= await deleteSome(tx, 'model_messages', 'seq', taskId, left);
      left -= await deleteSome(tx, 'messages', 'seq', taskId, left);
      left -= await deleteSome(tx, 'webhook_deliveries', 'id', taskId, left);
      return { removed: limit - left, blobs };
    });
  }

  async finishPurge(taskId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const task = await tx.get<{ user_id: string }>('SELECT user_id FROM tasks WHERE id = ? AND purging_since IS NOT NULL', [taskId]);
      if (!task) return;
      await tx.run('DELETE FROM artifacts WHERE task_id = ? AND NOT EXISTS (SELECT 1 FROM artifact_versions v WHERE v.artifact_id = artifacts.id)', [taskId]);
      await tx.run('DELETE FROM tasks WHERE id = ?', [taskId]);
      await tx.run(...taskCountChange(task.user_id, -1));
    });
  }
}

/** Deletes up to `limit` rows of `table` belonging to the task (by their key column); returns how many. */
async function deleteSome(tx: SqlExecutor, table: string, key: string, taskId: string, limit: number): Promise<number> {
  if (limit <= 0) return 0;
  const deleted = await tx.run(`DELETE FROM ${table} WHERE task_id = ? AND ${key} IN (SELECT ${key} FROM ${table} WHERE task_id = ? LIMIT ?)`, [
    taskId,
    taskId,
    limit,
  ]);
  return deleted.changes;
}
