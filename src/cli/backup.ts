import { loadConfig } from '../config.js';
import { parse, str, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { help } from './run.js';

export const BACKUP_USAGE = `  kiln backup --to DIR [--data-dir DIR]
                                    back up a running (or stopped) SQLite installation: database,
                                    blobs and signing key (PostgreSQL/S3: see docs/deploy.md)`;

export const RESTORE_USAGE = `  kiln restore --from DIR --data-dir NEW [--force]
                                    restore a backup into a new data dir (--force replaces a non-empty one)`;

const BACKUP_HELP = `Usage:\n${BACKUP_USAGE}\n\nSettings are read like \`kiln serve\` (environment; --data-dir wins). Progress goes to stderr.\n`;
const RESTORE_HELP = `Usage:\n${RESTORE_USAGE}\n\nThen start Kiln with KILN_DATA_DIR set to the new data dir.\n`;

/** `kiln backup`: a consistent copy of a SQLite installation, taken while it runs. */
export async function backup(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('backup', args, { to: { type: 'string' }, 'data-dir': { type: 'string' } });
  if (values.help) return help(ctx, BACKUP_HELP);
  const to = str(values.to)?.trim();
  if (!to) throw new UsageError('--to DIR is required: an empty or new folder for the backup.');
  const config = loadConfig(ctx.env, { 'data-dir': str(values['data-dir']) });
  // Loaded on demand: the storage modules are heavy, and the client commands do not need them.
  const { backup: takeBackup } = await import('../ops/backup.js');
  const manifest = await takeBackup({ dataDir: config.dataDir, postgres: Boolean(config.databaseUrl), s3: Boolean(config.blobStore), to, progress: progressOn(ctx) });
  ctx.stdout.write(`Backed up ${manifest.tasks} task(s) and ${manifest.blobs} blob(s) (${manifest.blobBytes} bytes) from ${config.dataDir} to ${to}\n`);
  if (!manifest.signingKey) ctx.stdout.write('The signing key comes from KILN_SIGNING_KEY: keep that value with the backup.\n');
  return 0;
}

/** `kiln restore`: a backup into a new data dir. */
export async function restore(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('restore', args, { from: { type: 'string' }, 'data-dir': { type: 'string' }, force: { type: 'boolean' } });
  if (values.help) return help(ctx, RESTORE_HELP);
  const from = str(values.from);
  const dataDir = str(values['data-dir']);
  if (!from || !dataDir) throw new UsageError('usage: kiln restore --from DIR --data-dir NEW [--force]');
  // Only the target folder matters: settings of the running environment must not redirect it.
  const config = loadConfig({}, { 'data-dir': dataDir });
  const { restore: restoreBackup } = await import('../ops/backup.js');
  const manifest = await restoreBackup({ from, dataDir: config.dataDir, workspaceMb: config.workspaceMb, force: values.force === true, progress: progressOn(ctx) });
  ctx.stdout.write(`Restored ${manifest.tasks} task(s) and ${manifest.blobs} blob(s) into ${config.dataDir}; start Kiln with KILN_DATA_DIR=${config.dataDir}\n`);
  return 0;
}

function progressOn(ctx: CliContext): (line: string) => void {
  return (line) => ctx.stderr.write(`${line}\n`);
}
