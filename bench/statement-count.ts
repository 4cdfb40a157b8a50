/**
 * SQL statements and transactions per task: runs tasks like W2's (create → stream → `done`,
 * offline model) against a Kiln whose database calls are counted (lib/sql-counter.ts), and prints
 * the counts per task by statement shape, with SQLite's time per task in each.
 *
 *   npm run build && node dist/bench/statement-count.js [tasks] [concurrency] [postgres://...] [--live]
 *
 * With a PostgreSQL URL, Kiln runs on it (in a new schema) and every statement is a round trip.
 * With `--live`, each task waits 20 ms before it answers (as W2's live variant), so its first
 * events are written while it runs rather than with its end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { dropSchemas } from './lib/postgres.js';
import { Api } from '../test/helpers/api.js';
import { startKiln } from '../test/helpers/kiln-process.js';

const live = process.argv.includes('--live');
const [tasksArg, concurrencyArg, databaseUrl] = process.argv.slice(2).filter((arg) => arg !== '--live');
const tasks = Number(tasksArg ?? 200);
const concurrency = Number(concurrencyArg ?? 1);
const countsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-sql-')), 'counts.json');
const counter = fileURLToPath(new URL('./lib/sql-counter.js', import.meta.url));
const schema = `statement_count_${process.pid}`;
const kiln = await startKiln({
  env: {
    NODE_OPTIONS: `--import=${counter}`,
    KILN_BENCH_SQL_COUNTS: countsFile,
    KILN_LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, KILN_DB_SCHEMA: schema } : {}),
  },
});
const api = Api.of(kiln);
const message = `${live ? 'sleep 20\n' : ''}hello from the statement count with seventeen words of text to echo back like the bench`;

async function run(n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next++ < n) {
      const id = await api.createTask({ message });
      const events = await api.streamAll(id);
      if (events.at(-1)?.event !== 'done') throw new Error(`task ended with ${JSON.stringify(events.at(-1))}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

await run(20);
process.kill(kiln.child.pid!, 'SIGUSR1');
await run(tasks);
await sleep(500);
process.kill(kiln.child.pid!, 'SIGUSR2');
for (let waited = 0; !fs.existsSync(countsFile); waited += 50) {
  if (waited > 10_000) throw new Error('Kiln did not write its statement counts within 10 s');
  await sleep(50);
}
type Count = { n: number; ns: number; maxNs: number };
const counts = Object.entries(JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Record<string, Count>).sort((a, b) => b[1].n - a[1].n);
const sum = (list: typeof counts, field: keyof Count) => list.reduce((total, [, c]) => total + c[field], 0);
const transactions = sum(
  counts.filter(([sql]) => /^BEGIN/i.test(sql)),
  'n',
);
const ms = (ns: number) => `${(ns / tasks / 1e6).toFixed(3)} ms`;
console.log(
  `${tasks} tasks at c=${concurrency} on ${databaseUrl ? 'PostgreSQL' : 'SQLite'}: ${(sum(counts, 'n') / tasks).toFixed(1)} statements and ${(transactions / tasks).toFixed(2)} transactions per task` +
    (databaseUrl ? '' : `, ${ms(sum(counts, 'ns'))} in SQLite (per task, then the longest single call, by statement)`),
);
const longest = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`.padStart(9);
for (const [sql, c] of counts) console.log(`  ${(c.n / tasks).toFixed(2).padStart(6)}  ${databaseUrl ? '' : `${ms(c.ns).padStart(9)}  ${longest(c.maxNs)}  `}${sql}`);
await kiln.stop();
if (databaseUrl) await dropSchemas(databaseUrl, [schema]);
