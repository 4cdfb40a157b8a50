/**
 * Loaded into a Kiln process with `NODE_OPTIONS=--import=<this file>` by statement-count.ts:
 * counts the SQL statements and transactions Kiln runs (better-sqlite3 statements and `exec`s,
 * pg queries), grouped by their first words. SIGUSR1 resets the counts; SIGUSR2 writes them as
 * JSON to the file named by KILN_BENCH_SQL_COUNTS.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
let counts = new Map<string, number>();
const shape = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 60);
const count = (sql: string) => counts.set(shape(sql), (counts.get(shape(sql)) ?? 0) + 1);

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
        count(this.source);
        return original.apply(this, args);
      };
    }
  }
  return statement;
};
const exec = Sqlite.prototype.exec;
Sqlite.prototype.exec = function (this: unknown, sql: string) {
  count(sql);
  return exec.call(this, sql);
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
  fs.writeFileSync(process.env.KILN_BENCH_SQL_COUNTS!, JSON.stringify(Object.fromEntries(counts)));
});
