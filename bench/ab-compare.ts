/**
 * This checkout's Kiln against another checkout's, W2-style (closed loops of create → stream →
 * done, offline model), in alternating runs on one machine: a change too small to stand out from
 * the noise between two bench runs shows in the mean of several alternating pairs. Both Kilns run
 * the whole time, each on its own new data dir; only the one under load is busy.
 *
 *   npm run build && node dist/bench/ab-compare.js OTHER_CHECKOUT [--rounds 6] [--seconds 8] [--c 32] [--database-url postgres://...]
 *
 * OTHER_CHECKOUT must be built (`npx tsc -p .` there; a git worktree with node_modules linked
 * will do). Prints each run, then the means and this checkout's ratio to the other. With
 * `--database-url`, both run on that PostgreSQL, each in a new schema dropped at the end, and
 * both schemas are vacuumed and analyzed after each round (see lib/postgres.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropSchemas, vacuumSchemas } from './lib/postgres.js';
import { runLoad, startKiln, type KilnServer } from './lib/servers.js';
import { round } from './lib/stats.js';
import { EXPECT, MESSAGE } from './workloads.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '8' }, c: { type: 'string', default: '32' }, 'database-url': { type: 'string' } },
});
const other = positionals[0];
const otherCli = other ? path.resolve(other, 'bin', 'kiln.js') : '';
if (!other || !fs.existsSync(otherCli) || !fs.existsSync(path.resolve(other, 'dist', 'src'))) {
  console.error('usage: node dist/bench/ab-compare.js OTHER_CHECKOUT [--rounds N] [--seconds S] [--c N] [--database-url URL]\n(OTHER_CHECKOUT: a built Kiln checkout, with bin/kiln.js and dist/src)');
  process.exit(2);
}
const rounds = Number(values.rounds);
const durationMs = Number(values.seconds) * 1000;
const c = Number(values.c);

interface Side {
  name: string;
  kiln: KilnServer;
  runs: { perSec: number; cpuMs: number }[];
}

const databaseUrl = values['database-url'];
const schemas = ['this', 'other'].map((name) => `kiln_ab_${name}_${process.pid}`);
const onDatabase = (schema: string) => (databaseUrl ? { env: { DATABASE_URL: databaseUrl, KILN_DB_SCHEMA: schema } } : {});
const vacuum = () => (databaseUrl ? vacuumSchemas(databaseUrl, schemas) : Promise.resolve());
const sides: Side[] = [
  { name: 'this', kiln: await startKiln(onDatabase(schemas[0]!)), runs: [] },
  { name: 'other', kiln: await startKiln({ cli: otherCli, ...onDatabase(schemas[1]!) }), runs: [] },
];
try {
  console.log(`W2-style at c=${c} on ${databaseUrl ? 'PostgreSQL' : 'SQLite'}, ${rounds} rounds of ${values.seconds} s per side; this = ${process.cwd()}, other = ${path.resolve(other)}`);
  const load = (side: Side, ms: number, warmupMs: number) =>
    runLoad<{ perSec: number; iterations: number; errors: number; firstError: string | null }>(
      { kind: 'run', target: 'kiln', url: side.kiln.url, key: side.kiln.key, c, message: MESSAGE, expect: EXPECT, durationMs: ms, warmupMs },
      side.kiln.pid,
    );
  // A first run of each, not counted: code compiled, caches filled.
  for (const side of sides) await load(side, 2000, 0);
  await vacuum();
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first, so that neither always runs on a machine the other just warmed.
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
      const run = await load(side, durationMs, 1000);
      const cpuMs = (run.serverCpuMs ?? Number.NaN) / run.result.iterations;
      side.runs.push({ perSec: run.result.perSec, cpuMs });
      const errors = run.result.errors ? `, ${run.result.errors} errors (${run.result.firstError})` : '';
      console.log(`  round ${r + 1} ${side.name.padEnd(5)} ${round(run.result.perSec, 0)} tasks/s, ${round(cpuMs, 3)} ms CPU per task${errors}`);
    }
    await vacuum();
  }
  const mean = (side: Side, key: 'perSec' | 'cpuMs') => side.runs.reduce((sum, run) => sum + run[key], 0) / side.runs.length;
  const [mine, theirs] = sides as [Side, Side];
  for (const side of sides) console.log(`${side.name.padEnd(5)} mean ${round(mean(side, 'perSec'), 0)} tasks/s, ${round(mean(side, 'cpuMs'), 3)} ms CPU per task`);
  console.log(`this / other: tasks/s ${round(mean(mine, 'perSec') / mean(theirs, 'perSec'), 3)}x, CPU per task ${round(mean(mine, 'cpuMs') / mean(theirs, 'cpuMs'), 3)}x`);
} finally {
  for (const side of sides) await side.kiln.stop();
  if (databaseUrl) await dropSchemas(databaseUrl, schemas);
}
