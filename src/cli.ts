import { parseArgs } from 'node:util';
import { createKiln, openStorage } from './app.js';
import { ConfigError, ENV_VARIABLES, SERVE_FLAGS, loadConfig } from './config.js';
import { ApiKeys, isValidUserName } from './core/auth/api-keys.js';
import { createLogger, errorMessage } from './logger.js';
import { OPS_COMMANDS } from './ops/ops-commands.js';

const USAGE = `kiln: a self-hosted server that runs AI-agent tasks behind an HTTP API

Usage:
  kiln serve [options]              serve the API (default command)
  kiln keys create --user NAME [--name LABEL] [--admin]
                                    create an API key for a user (printed once, as the last line);
                                    an --admin key may also manage every user's keys over the API
${Object.values(OPS_COMMANDS).map((c) => c.usage).join('\n')}
  kiln --help                       this text

Options of kiln serve (each overrides its environment variable):
${SERVE_FLAGS.map((f) => `  --${f.flag.padEnd(14)} ${f.env.padEnd(26)} ${f.help}`).join('\n')}

Environment variables:
${ENV_VARIABLES.map((v) => `  ${v.env.padEnd(26)} ${v.help}`).join('\n')}
`;

/** Runs the CLI; resolves with the process exit code (serve resolves only when stopped). */
export async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  try {
    if (command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (command === 'serve') return await serve(rest);
    if (command === 'keys') return await keys(rest);
    if (Object.hasOwn(OPS_COMMANDS, command)) return await OPS_COMMANDS[command]!.run(rest);
    process.stderr.write(`kiln: unknown command "${command}". Run \`kiln --help\` for the list.\n`);
    return 2;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      process.stderr.write(`kiln: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`kiln: ${errorMessage(error)}\n`);
    return 1;
  }
}

class UsageError extends Error {}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean' } }, allowPositionals: false, strict: true }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}. Run \`kiln --help\` for the options.`);
  }
}

async function serve(args: string[]): Promise<number> {
  const values = parse(args, Object.fromEntries(SERVE_FLAGS.map((f) => [f.flag, { type: 'string' as const }])));
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig(process.env, values as Record<string, string | undefined>);
  const logger = createLogger(config.logLevel, (line) => process.stdout.write(line), config.logFormat);
  const kiln = await createKiln(config, logger);
  await kiln.start();
  if (!config.apiKey) {
    logger.info('KILN_API_KEY is not set: requests need a key made with `npx kiln keys create --user NAME`');
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.notice(`${signal} received, shutting down`);
      kiln.stop().then(resolve, (error) => {
        logger.error('shutdown failed', { error: errorMessage(error) });
        resolve();
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  return 0;
}

async function keys(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'create') throw new UsageError('usage: kiln keys create --user NAME [--name LABEL] [--admin]');
  const values = parse(rest, { user: { type: 'string' }, name: { type: 'string' }, admin: { type: 'boolean' }, 'data-dir': { type: 'string' } });
  const user = typeof values.user === 'string' ? values.user.trim() : '';
  if (!isValidUserName(user)) {
    throw new UsageError('--user NAME is required: letters, digits, and . _ @ - (up to 64 characters).');
  }
  const name = typeof values.name === 'string' ? values.name.trim() : null;
  if (name !== null && (name === '' || name.length > 200)) throw new UsageError('--name LABEL must be 1 to 200 characters.');
  const config = loadConfig(process.env, { 'data-dir': values['data-dir'] as string | undefined });
  const { storage } = await openStorage(config);
  try {
    const admin = values.admin === true;
    const { key, user: owner } = await new ApiKeys(storage.users).create(user, { name, admin, source: 'cli' });
    const where = config.databaseUrl ? 'the PostgreSQL database' : config.dataDir;
    process.stderr.write(`Created an${admin ? ' admin' : ''} API key for user "${owner.name}" in ${where}. It is shown only once:\n`);
    process.stdout.write(`${key}\n`);
    return 0;
  } finally {
    await storage.close();
  }
}
