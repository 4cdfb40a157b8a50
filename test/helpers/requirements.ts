import fs from 'node:fs';
import pg from 'pg';
import { BubblewrapRunner, sandboxProgramsMissing } from '../../src/adapters/sandbox/bubblewrap-runner.js';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_TEST_DATABASE_URL, TEST_DATABASE_URL } from './postgres.js';

/**
 * What some tests need from the machine beyond Node. A test that needs something missing is
 * skipped with the reason (and listed on the run's closing `skipped:` line), or, when `CI` is
 * set, fails: CI must provide everything.
 */
export interface Requirement {
  /** What it is, as in "needs the bubblewrap sandbox: ...". */
  what: string;
  /** Why it is unavailable here, or null when it is available. */
  problem: string | null;
}

/**
 * Variables through which `test/run.ts` hands its one-time findings to every test file. A test
 * file started directly with `node --test` finds them unset and checks for itself.
 */
export const RUN_ENV = {
  /** `ok`, or why the sandbox cannot run. */
  sandbox: 'KILN_TEST_SANDBOX',
  /** Why no PostgreSQL could be started for the run (unset when one runs). */
  postgresProblem: 'KILN_TEST_POSTGRES_PROBLEM',
} as const;

/** Whether Kiln can isolate commands here: the same check that decides `COMMANDS ARE DISABLED` at start-up. */
export async function sandboxProblem(): Promise<string | null> {
  const config = loadConfig({});
  const runner = new BubblewrapRunner(
    {
      cpuSeconds: config.commandCpuSeconds,
      memoryMb: config.commandMemoryMb,
      processes: config.commandProcesses,
      fileMb: config.commandFileMb,
      workspaceMb: config.workspaceMb,
    },
    'none',
  );
  return (await sandboxProgramsMissing(process.getuid?.() === 0)) ?? (await runner.probe());
}

async function postgresProblem(): Promise<string | null> {
  // A server named explicitly, or started by the run, must work: connection errors are failures.
  if (process.env.KILN_TEST_DATABASE_URL) return null;
  const problem = process.env[RUN_ENV.postgresProblem];
  if (problem) return problem;
  const client = new pg.Client({ connectionString: DEFAULT_TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return null;
  } catch (error) {
    return `no PostgreSQL at ${TEST_DATABASE_URL.replace(/^.*@/, '')} (${(error as Error).message}); run the tests with npm test, which starts a throwaway one, or set KILN_TEST_DATABASE_URL`;
  } finally {
    await client.end().catch(() => {});
  }
}

async function sandboxFromRun(): Promise<string | null> {
  const found = process.env[RUN_ENV.sandbox];
  if (found === undefined) return sandboxProblem();
  return found === 'ok' ? null : found;
}

export const sandbox: Requirement = {
  what: 'the bubblewrap sandbox',
  problem: await sandboxFromRun(),
};

export const postgres: Requirement = {
  what: 'PostgreSQL',
  problem: await postgresProblem(),
};

/** The Chromium the browser tests drive (Debian's package). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const chromium: Requirement = {
  what: 'Chromium',
  problem: fs.existsSync(CHROMIUM_PATH) ? null : `no browser at ${CHROMIUM_PATH}; install it with apt-get install -y chromium`,
};

export function onCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Options for `describe`/`it`: nothing when every requirement is met, otherwise a skip with the
 * reasons. With `CI` set it throws instead, which fails the enclosing suite (or the file) with
 * the reasons.
 */
export function needs(...requirements: Requirement[]): { skip?: string } {
  const missing = requirements.filter((r) => r.problem !== null);
  if (missing.length === 0) return {};
  const reasons = missing.map((r) => `needs ${r.what}: ${r.problem}`).join('; ');
  if (onCi()) throw new Error(`${reasons}. It cannot run here, and CI is set, so this fails instead of skipping.`);
  return { skip: reasons };
}
