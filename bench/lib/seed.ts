import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { taskCountChange } from '../../src/adapters/sql/task-counts.js';

/**
 * Writes `count` completed tasks (each with its two messages and its three events, as a
 * finished "hello" task has) straight into a stopped Kiln's SQLite file, for user `default`.
 * The schema is Kiln's own: the data dir must have been created by a Kiln start first.
 */
export function seedTasks(dataDir: string, count: number): { ms: number } {
  const t0 = performance.now();
  const db = new Database(path.join(dataDir, 'kiln.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const user = db.prepare("SELECT id FROM users WHERE name = 'default'").get() as { id: string } | undefined;
    const key = db.prepare("SELECT id FROM api_keys WHERE source = 'env'").get() as { id: string } | undefined;
    if (!user) throw new Error('no user "default" in the database: start Kiln once with KILN_API_KEY before seeding');
    const insertTask = db.prepare(
      `INSERT INTO tasks (id, user_id, api_key_id, session_id, conversation_id, status, message, system_prompt, show_in_history,
         auto_execute, env, tool_policy, error, created_at, started_at, completed_at, last_activity_at, message_count, turn,
         turn_start_seq, last_event_seq, queued_at, lease_owner, lease_expires_at)
       VALUES (?, ?, ?, ?, ?, 'completed', ?, NULL, 1, 1, NULL, NULL, NULL, ?, ?, ?, ?, 2, 1, 0, 3, NULL, NULL, NULL)`,
    );
    const insertMessage = db.prepare(
      'INSERT INTO messages (task_id, seq, turn, role, content, created_at, attached_files, thoughts, tool_calls) VALUES (?, ?, 1, ?, ?, ?, NULL, NULL, NULL)',
    );
    const insertEvent = db.prepare('INSERT INTO events (task_id, seq, turn, type, data, created_at) VALUES (?, ?, 1, ?, ?, ?)');
    const start = Date.now() - count * 1000;
    const write = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const id = randomUUID();
        const created = new Date(start + i * 1000).toISOString();
        const ended = new Date(start + i * 1000 + 40).toISOString();
        const message = `hello ${i}`;
        const answer = `Echo: ${message}`;
        insertTask.run(id, user.id, key?.id ?? null, randomUUID(), `${start + i}-${i.toString(36).padStart(9, '0')}`, message, created, created, ended, ended);
        insertMessage.run(id, 1, 'user', message, created);
        insertMessage.run(id, 2, 'assistant', answer, ended);
        insertEvent.run(id, 1, 'status', '{"status":"processing"}', created);
        insertEvent.run(id, 2, 'content', JSON.stringify({ text: answer, isPartial: false }), ended);
        insertEvent.run(id, 3, 'done', JSON.stringify({ finalResponse: answer, status: 'completed' }), ended);
      }
    });
    for (let i = 0; i < count; i += 10_000) write(i, Math.min(count, i + 10_000));
    const [countSql, countParams] = taskCountChange(user.id, count);
    db.prepare(countSql).run(...countParams);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return { ms: performance.now() - t0 };
}

/** created_at of each event of a task, as wall-clock ms, read from a Kiln data dir (read-only). */
export function eventTimes(dataDir: string, taskId: string): Map<number, number> {
  const db = new Database(path.join(dataDir, 'kiln.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT seq, created_at FROM events WHERE task_id = ? ORDER BY seq').all(taskId) as { seq: number; created_at: string }[];
    return new Map(rows.map((r) => [Number(r.seq), Date.parse(r.created_at)]));
  } finally {
    db.close();
  }
}
