/**
 * `npm test`: runs the test files with Node's test runner, after what they share is set up once:
 * a throwaway PostgreSQL (unless KILN_TEST_DATABASE_URL names one) and the check whether the
 * sandbox can run. Ends with one line that lists what was skipped and why.
 *
 *   node dist/test/run.js [name ...]   e.g. `npm test -- storage-contract scale-out`
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './helpers/embedded-postgres.js';
import { onCi, RUN_ENV, sandboxProblem } from './helpers/requirements.js';
import type { SkipRecord } from './helpers/skip-reporter.js';

const TEST_DIR = path.dirname(new URL(import.meta.url).pathname);
/**
 * Node 20's `--test-timeout` bounds each test file as a whole (a file that runs over is cancelled
 * and counts as failed): long enough for the slowest file on two busy cores, short enough that a
 * test waiting forever cannot hold the run.
 */
const FILE_TIMEOUT_MS = 300_000;
const CONCURRENCY = 2;

function testFiles(names: string[]): string[] {
  const all = fs.readdirSync(TEST_DIR).filter((f) => f.endsWith('.test.js')).sort();
  if (names.length === 0) return all.map((f) => path.join(TEST_DIR, f));
  return names.map((name) => {
    const file = `${path.basename(name).replace(/\.test\.(ts|js)$/, '').replace(/\.(ts|js)$/, '')}.test.js`;
    if (!all.includes(file)) {
      process.stderr.write(`no test file ${file}; there are: ${all.map((f) => f.replace('.test.js', '')).join(', ')}\n`);
      process.exit(2);
    }
    return path.join(TEST_DIR, file);
  });
}

/** Starts the run's PostgreSQL unless one is named; when none can start, the tests that need it learn why. */
async function postgresForRun(env: NodeJS.ProcessEnv): Promise<TestPostgres | null> {
  if (env.KILN_TEST_DATABASE_URL) {
    const where = env.KILN_TEST_DATABASE_URL.replace(/^[^@]*@/, '').replace(/^[a-z]+:\/\//, '');
    console.log(`PostgreSQL for tests: KILN_TEST_DATABASE_URL (${where})`);
    return null;
  }
  try {
    const server = await startTestPostgres();
    env.KILN_TEST_DATABASE_URL = server.url;
    console.log(`PostgreSQL for tests: embedded ${server.version} on 127.0.0.1:${server.port}`);
    return server;
  } catch (error) {
    const message = (error as Error).message;
    console.log(`PostgreSQL for tests: none (${message.split('\n')[0]})`);
    if (message.includes('\n')) process.stderr.write(`${message}\n`);
    env[RUN_ENV.postgresProblem] = `${message.split('\n')[0]}; set KILN_TEST_DATABASE_URL to a PostgreSQL the tests may use`;
    return null;
  }
}

/** "skipped: 8 in a, b: why; 1 in c: why" or "skipped: nothing", from the skip reporter's lines. */
function skippedLine(logFile: string): string {
  const records: SkipRecord[] = fs.existsSync(logFile)
    ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as SkipRecord)
    : [];
  if (records.length === 0) return 'skipped: nothing';
  const byReason = new Map<string, { count: number; files: Set<string> }>();
  for (const r of records) {
    const entry = byReason.get(r.reason) ?? { count: 0, files: new Set<string>() };
    entry.count++;
    entry.files.add(path.basename(r.file).replace(/\.test\.js$/, ''));
    byReason.set(r.reason, entry);
  }
  const parts = [...byReason].map(([reason, { count, files }]) => `${count} in ${[...files].sort().join(', ')}: ${reason}`);
  return `skipped: ${parts.join('; ')}`;
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  const env: NodeJS.ProcessEnv = { ...process.env };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-test-run-'));
  const skipLog = path.join(work, 'skipped.jsonl');
  process.once('exit', () => fs.rmSync(work, { recursive: true, force: true }));

  const [postgres, sandbox] = await Promise.all([postgresForRun(env), sandboxProblem()]);
  env[RUN_ENV.sandbox] = sandbox ?? 'ok';
  console.log(sandbox ? `Sandbox for tests: unavailable, ${sandbox}${onCi() ? '' : '; its tests are skipped'}` : 'Sandbox for tests: bubblewrap works');

  // Its own process group, so that an interrupted run can end it with every Kiln it started.
  const child = spawn(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${CONCURRENCY}`,
      `--test-timeout=${FILE_TIMEOUT_MS}`,
      ...['--test-reporter=spec', '--test-reporter-destination=stdout'],
      ...[`--test-reporter=${path.join(TEST_DIR, 'helpers', 'skip-reporter.js')}`, `--test-reporter-destination=${skipLog}`],
      ...files,
    ],
    { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true },
  );
  const endGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  let running = true;
  // The embedded-postgres package stops its servers and exits on these signals; the tests go first.
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      interrupted = true;
      endGroup('SIGTERM');
    });
  }
  process.once('exit', () => {
    if (running) endGroup('SIGKILL');
    // embedded-postgres exits with 0 after a signal: an interrupted run must not look like a pass.
    if (interrupted) process.exitCode = 130;
  });

  const code = await new Promise<number>((resolve) => {
    child.once('error', (error) => {
      process.stderr.write(`could not start node --test: ${error.message}\n`);
      resolve(1);
    });
    child.once('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
  });
  running = false;
  endGroup('SIGKILL'); // whatever a test left running
  await postgres?.stop();
  console.log(skippedLine(skipLog));
  return code;
}

// Exit explicitly: the embedded-postgres package's exit hook would otherwise end the process with 0.
process.exit(await main());
