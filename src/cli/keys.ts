import { loadConfig } from '../config.js';
import { parse, str, UsageError } from './args.js';
import { hasServer } from './client-settings.js';
import type { CliContext } from './context.js';
import { help } from './run.js';

export const KEYS_HELP = `Usage:
  kiln keys create --user NAME [--name N] [--admin] [--data-dir DIR]
                                                  on the server's machine: a key for user NAME,
                                                  written to the database directly (bootstrap)
  kiln keys create [--name N] [--user-id ID] [--admin] [--json]
                                                  through the API: a key for yourself (an admin
                                                  key may make one for another user, or an admin)
  kiln keys list [--user-id ID] [--all] [--json]  through the API: your keys (an admin: anyone's)
  kiln keys revoke ID [--json]                    through the API: a key stops working

The new key is printed once, as the last line. The API commands use the configured server
(KILN_URL and KILN_API_KEY, or \`kiln login\`).
`;

export async function keys(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'create') return create(rest, ctx);
  if (sub === 'list') return list(rest, ctx);
  if (sub === 'revoke') return revoke(rest, ctx);
  if (sub === '--help' || sub === '-h' || sub === undefined) return help(ctx, KEYS_HELP);
  throw new UsageError(`unknown keys command "${sub}": create, list or revoke. Run \`kiln keys --help\`.`);
}

async function create(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('keys create', args, {
    user: { type: 'string' },
    'data-dir': { type: 'string' },
    name: { type: 'string' },
    'user-id': { type: 'string' },
    admin: { type: 'boolean' },
  });
  if (values.help) return help(ctx, KEYS_HELP);
  // --user NAME (or --data-dir) works on the database: it is how the first key is made.
  if (values.user !== undefined || values['data-dir'] !== undefined || !hasServer(ctx.env)) return createLocal(values, ctx);
  const out = ctx.output(Boolean(values.json));
  const name = str(values.name);
  const userId = str(values['user-id']);
  const created = await ctx.client().keys.create({ ...(name ? { name } : {}), ...(userId ? { userId } : {}), ...(values.admin ? { admin: true } : {}) });
  if (out.json) {
    out.data(created);
    return 0;
  }
  out.note(`Created key ${created.id}${created.name ? ` "${created.name}"` : ''} for user ${created.userId}${created.admin ? ' (admin)' : ''}. It is shown only once:`);
  out.line(created.key);
  return 0;
}

async function createLocal(values: Record<string, unknown>, ctx: CliContext): Promise<number> {
  // Loaded here: the server's modules are heavy, and the client commands do not need them.
  const [{ openStorage }, { ApiKeys, isValidUserName }] = await Promise.all([import('../app.js'), import('../core/auth/api-keys.js')]);
  const user = typeof values.user === 'string' ? values.user.trim() : '';
  if (!isValidUserName(user)) {
    throw new UsageError('--user NAME is required: letters, digits, and . _ @ - (up to 64 characters).');
  }
  const name = typeof values.name === 'string' ? values.name.trim() : null;
  if (name !== null && (name === '' || name.length > 200)) throw new UsageError('--name LABEL must be 1 to 200 characters.');
  const config = loadConfig(ctx.env, { 'data-dir': values['data-dir'] as string | undefined });
  const { storage } = await openStorage(config);
  try {
    const admin = values.admin === true;
    const { key, user: owner } = await new ApiKeys(storage.users).create(user, { name, admin, source: 'cli' });
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify({ user: owner.name, admin, key })}\n`);
      return 0;
    }
    const where = config.databaseUrl ? 'the PostgreSQL database' : config.dataDir;
    ctx.stderr.write(`Created an${admin ? ' admin' : ''} API key for user "${owner.name}" in ${where}. It is shown only once:\n`);
    ctx.stdout.write(`${key}\n`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function list(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('keys list', args, { 'user-id': { type: 'string' }, all: { type: 'boolean' } });
  if (values.help) return help(ctx, KEYS_HELP);
  const out = ctx.output(Boolean(values.json));
  const userId = str(values['user-id']);
  const found = await ctx.client().keys.list({ ...(userId ? { userId } : {}), ...(values.all ? { all: true } : {}) });
  if (out.json) {
    out.data(found);
    return 0;
  }
  out.table(
    ['ID', 'NAME', 'USER', 'ADMIN', 'CREATED', 'LAST USED'],
    found.map((k) => [k.id, k.name ?? '', k.userId, k.admin ? 'yes' : '', k.createdAt.slice(0, 19).replace('T', ' '), k.lastUsedAt?.slice(0, 19).replace('T', ' ') ?? 'never']),
  );
  return 0;
}

async function revoke(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('keys revoke', args, {}, true);
  if (values.help) return help(ctx, KEYS_HELP);
  if (positionals.length !== 1) throw new UsageError('usage: kiln keys revoke ID');
  const out = ctx.output(Boolean(values.json));
  const result = await ctx.client().keys.revoke(positionals[0]!);
  if (out.json) out.data(result);
  else out.note(`Key ${result.id} revoked.`);
  return 0;
}
