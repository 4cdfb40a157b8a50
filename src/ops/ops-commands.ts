import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { errorMessage } from '../logger.js';
import { backup, restore } from './backup.js';
import { diagnose } from './doctor.js';

/** An operator's command of the `kiln` CLI: its usage lines and what it does (resolves with the exit code). */
export interface OpsCommand {
  usage: string;
  run(args: string[]): Promise<number>;
}

/**
 * `kiln backup`, `kiln restore` and `kiln doctor`. Each reads settings like `kiln serve`
 * (environment, with `--data-dir` winning) and reports problems itself: exit 2 for wrong usage
 * or settings, 1 when the work failed.
 */
export const OPS_COMMANDS: Record<string, OpsCommand> = {
  backup: {
    usage: `  kiln backup --to DIR [--data-dir DIR]
                                    back up a running (or stopped) SQLite installation: database,
                                    blobs and signing key (PostgreSQL/S3: see docs/deploy.md)`,
    run: (args) =>
      command(args, { to: { type: 'string' }, 'data-dir': { type: 'string' } }, async (values) => {
        if (typeof values.to !== 'string' || values.to.trim() === '') throw new UsageError('--to DIR is required: an empty or new folder for the backup.');
        const config = loadConfig(process.env, { 'data-dir': values['data-dir'] as string | undefined });
        const manifest = await backup({ dataDir: config.dataDir, postgres: Boolean(config.databaseUrl), s3: Boolean(config.blobStore), to: values.to, progress });
        process.stdout.write(`Backed up ${manifest.tasks} task(s) and ${manifest.blobs} blob(s) (${manifest.blobBytes} bytes) from ${config.dataDir} to ${values.to}\n`);
        if (!manifest.signingKey) process.stdout.write('The signing key comes from KILN_SIGNING_KEY: keep that value with the backup.\n');
        return 0;
      }),
  },
  restore: {
    usage: `  kiln restore --from DIR --data-dir NEW [--force]
                                    restore a backup into a new data dir (--force replaces a non-empty one)`,
    run: (args) =>
      command(args, { from: { type: 'string' }, 'data-dir': { type: 'string' }, force: { type: 'boolean' } }, async (values) => {
        if (typeof values.from !== 'string' || typeof values['data-dir'] !== 'string') {
          throw new UsageError('usage: kiln restore --from DIR --data-dir NEW [--force]');
        }
        const config = loadConfig({}, { 'data-dir': values['data-dir'] });
        const manifest = await restore({ from: values.from, dataDir: config.dataDir, force: values.force === true, progress });
        process.stdout.write(`Restored ${manifest.tasks} task(s) and ${manifest.blobs} blob(s) into ${config.dataDir}; start Kiln with KILN_DATA_DIR=${config.dataDir}\n`);
        return 0;
      }),
  },
  doctor: {
    usage: `  kiln doctor [--data-dir DIR]      check this machine and these settings: sandbox, database, blob store,
                                    model, port; says what to fix (exit 1 when something is wrong)`,
    run: (args) =>
      command(args, { 'data-dir': { type: 'string' } }, async (values) => {
        let config;
        try {
          config = loadConfig(process.env, { 'data-dir': values['data-dir'] as string | undefined });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          process.stdout.write(`FAIL  settings    ${error.message}\n`);
          return 1;
        }
        const findings = await diagnose(config);
        for (const f of findings) {
          process.stdout.write(`${f.level.toUpperCase().padEnd(5)} ${f.check.padEnd(11)} ${f.detail}\n`);
          if (f.fix && f.level !== 'ok') process.stdout.write(`${''.padEnd(18)}fix: ${f.fix}\n`);
        }
        const failed = findings.filter((f) => f.level === 'fail').length;
        process.stdout.write(failed === 0 ? 'Kiln can run here.\n' : `${failed} problem(s) to fix before Kiln can run here.\n`);
        return failed === 0 ? 0 : 1;
      }),
  },
};

class UsageError extends Error {}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function command(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  run: (values: Record<string, string | boolean | undefined>) => Promise<number>,
): Promise<number> {
  try {
    const { values } = parseArgs({ args, options, allowPositionals: false, strict: true });
    return await run(values as Record<string, string | boolean | undefined>);
  } catch (error) {
    const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`kiln: ${errorMessage(error)}\n`);
    return usage ? 2 : 1;
  }
}
