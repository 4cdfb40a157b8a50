import { Kiln, KilnError } from '@kiln/sdk';
import { parse, str, UsageError } from './args.js';
import { saveClientSettings } from './client-settings.js';
import type { CliContext } from './context.js';
import { help } from './run.js';
import { Prompter } from './terminal.js';

export const LOGIN_HELP = `Usage: kiln login [--url URL] [--key KEY] [--json]

Asks for the server's URL and an API key (or takes them from the options; without a terminal
the key may come on standard input), checks them with a request, and saves them for the other
commands in $XDG_CONFIG_HOME/kiln/config.json (~/.config/kiln/config.json), readable by you
only. KILN_URL and KILN_API_KEY, when set, win over the saved values.
`;

export async function login(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('login', args, { url: { type: 'string' }, key: { type: 'string' } });
  if (values.help) return help(ctx, LOGIN_HELP);
  const out = ctx.output(Boolean(values.json));
  const prompter = ctx.interactive ? new Prompter(ctx.stdin, ctx.stderr) : null;
  let url = str(values.url);
  if (!url && prompter) url = (await prompter.ask('Kiln URL (http://127.0.0.1:8080): '))?.trim() || 'http://127.0.0.1:8080';
  if (!url) throw new UsageError('--url is required without a terminal: kiln login --url URL (the key on standard input, or --key)');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`"${url}" is not an http:// or https:// URL.`);
  let key = str(values.key);
  if (!key) key = prompter ? ((await prompter.ask('API key (kiln_...): ', { hidden: true })) ?? '').trim() : (await readAll(ctx.stdin)).trim();
  if (!key) throw new UsageError('an API key is required: make one with `kiln keys create --user NAME` on the server.');

  try {
    await new Kiln({ baseUrl: url, apiKey: key }).tasks.list({ limit: 1 });
  } catch (error) {
    if (error instanceof KilnError && error.isAuthError) {
      throw new KilnError({ message: `the server at ${url} refused this key (${error.code}); nothing was saved.`, code: error.code, status: error.status, body: error.body });
    }
    throw error;
  }
  const file = saveClientSettings(ctx.env, { url: url.replace(/\/+$/, ''), apiKey: key });
  if (out.json) out.data({ url, configFile: file });
  else out.note(`Logged in to ${url}. Saved in ${file}.`);
  return 0;
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}
