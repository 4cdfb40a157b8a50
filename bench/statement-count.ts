/**
 * SQL statements and transactions per task: runs tasks like W2's (create → stream → `done`,
 * offline model) against a Kiln whose database calls are counted (lib/sql-counter.ts), and prints
 * the counts per task by statement shape.
 *
 *   npm run build && node dist/bench/statement-count.js [tasks] [concurrency] [postgres://...]
 *
 * With a PostgreSQL URL, Kiln runs on it (in a new schema) and every statement is a round trip.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api } from '../test/helpers/api.js';
import { startKiln } from '../test/helpers/kiln-process.js';

const tasks = Number(process.argv[2] ?? 200);
const concurrency = Number(process.argv[3] ?? 1);
const databaseUrl = process.argv[4];
const countsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-sql-')), 'counts.json');
const counter = fileURLToPath(new URL('./lib/sql-counter.js', import.meta.url));
const kiln = await startKiln({
  env: {
    NODE_OPTIONS: `--import=${counter}`,
    KILN_BENCH_SQL_COUNTS: countsFile,
    KILN_LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, KILN_DB_SCHEMA: `statement_count_${process.pid}` } : {}),
  },
});
const api = Api.of(kiln);
const message = 'hello from the statement count with seventeen words of text to echo back like the bench';

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
await new Promise((r) => setTimeout(r, 500));
process.kill(kiln.child.pid!, 'SIGUSR2');
await new Promise((r) => setTimeout(r, 500));
const counts = Object.entries(JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Record<string, number>).sort((a, b) => b[1] - a[1]);
const total = counts.reduce((sum, [, n]) => sum + n, 0);
const transactions = counts.filter(([sql]) => /^BEGIN/i.test(sql)).reduce((sum, [, n]) => sum + n, 0);
console.log(`${tasks} tasks at c=${concurrency} on ${databaseUrl ? 'PostgreSQL' : 'SQLite'}: ${(total / tasks).toFixed(1)} statements and ${(transactions / tasks).toFixed(2)} transactions per task`);
for (const [sql, n] of counts) console.log(`  ${(n / tasks).toFixed(2).padStart(6)}  ${sql}`);
await kiln.stop();
