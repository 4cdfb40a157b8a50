/**
 * Copies the pages of a SQLite write-ahead log into the database file, in a thread of its own:
 * done inside a commit on the server's thread, a checkpoint of thousands of pages stalls it for
 * tens of milliseconds. Passive, so it never blocks the writer; the writer's own checkpoint, every
 * few thousand pages, then finds little left to copy and lets the log start again from its
 * beginning (a passive checkpoint beside a busy writer may never catch up with it alone).
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

export interface CheckpointSetup {
  file: string;
  intervalMs: number;
}

const { file, intervalMs } = workerData as CheckpointSetup;
const db = new BetterSqlite3(file, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or failing now: the writer's own checkpoint still runs, and the next attempt may succeed.
  }
}, intervalMs);

parentPort!.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
