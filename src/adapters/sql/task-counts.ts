import type { SqlExecutor, Statement } from '../../ports/database.js';

/**
 * How many tasks each user has, kept as they are made and purged so a task list knows its total
 * without counting the index. A user's count is spread over slots: on PostgreSQL a transaction
 * that changes a row holds it until it commits, so a single row would make a user's creates
 * commit one after another.
 */
const SLOTS = 16;

/** Adds `delta` to the user's count in a random slot; the transaction that runs it holds that slot until it ends. */
export function taskCountChange(userId: string, delta: number): Statement {
  return [
    'INSERT INTO task_counts (user_id, slot, n) VALUES (?, ?, ?) ON CONFLICT (user_id, slot) DO UPDATE SET n = task_counts.n + excluded.n',
    [userId, Math.floor(Math.random() * SLOTS), delta],
  ];
}

export async function taskCount(db: SqlExecutor, userId: string): Promise<number> {
  const row = await db.get<{ n: number | string | null }>('SELECT SUM(n) AS n FROM task_counts WHERE user_id = ?', [userId]);
  return Math.max(0, Number(row?.n ?? 0));
}
