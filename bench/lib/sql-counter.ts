/**
 * Loaded into a Kiln process with `NODE_OPTIONS=--import=<this file>` by statement-count.ts:
 * counts the SQL statements and transactions Kiln runs (better-sqlite3 statements and `exec`s,
 * pg queries), grouped by their first words, and the time better-sqlite3 spends in each shape
 * (SQLite runs on the main thread, so that time is Kiln's CPU). SIGUSR1 resets the counts; SIGUSR2 writes them as
 * JSON to the file named by KILN_BENCH_SQL_COUNTS.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
let counts = new Map<string, { n: number; ns: number; maxNs: number }>();
const shape = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 60);
const count = (sql: string, ns = 0) => {
  const entry = counts.get(shape(sql)) ?? { n: 0, ns: 0, maxNs: 0 };
  entry.n++;
  entry.ns += ns;
  entry.maxNs = Math.max(entry.maxNs, ns);
  counts.set(shape(sql), entry);
};
const timed = <T>(sql: string, fn: () => T): T => {
  const start = process.hrtime.bigint();
  try {
    return fn();
  } finally {
    count(sql, Number(process.hrtime.bigint() - start));
  }
};

const Sqlite = require('better-sqlite3');
const prepare = Sqlite.prototype.prepare;
let patched = false;
Sqlite.prototype.prepare = function (this: unknown, sql: string) {
  const statement = prepare.call(this, sql);
  if (!patched) {
    patched = true;
    const proto = Object.getPrototypeOf(statement);
    for (const method of ['run', 'get', 'all'] as const) {
      const original = proto[method];
      proto[method] = function (this: { source: string }, ...args: unknown[]) {
        return timed(this.source, () => original.apply(this, args));
      };
    }
  }
  return statement;
};
const exec = Sqlite.prototype.exec;
Sqlite.prototype.exec = function (this: unknown, sql: string) {
  return timed(sql, () => exec.call(this, sql));
};

try {
  const pg = require('pg');
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
    count(typeof config === 'string' ? config : ((config as { text?: string })?.text ?? '?'));
    return query.call(this, config, ...rest);
  };
} catch {
  // pg is optional here: SQLite runs alone.
}

process.on('SIGUSR1', () => {
  counts = new Map();
});
process.on('SIGUSR2', () => {
  // Written whole, then renamed: the reader waits for the file to appear.
  const file = process.env.KILN_BENCH_SQL_COUNTS!;
  fs.writeFileSync(`${file}.part`, JSON.stringify(Object.fromEntries(counts)));
  fs.renameSync(`${file}.part`, file);
});
