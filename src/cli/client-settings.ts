import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the client commands find Kiln. */
export interface ClientSettings {
  url: string;
  apiKey: string;
}

export class NotConfigured extends Error {
  constructor(missing: string) {
    super(`no server configured (${missing}): set KILN_URL and KILN_API_KEY, or run \`kiln login\`.`);
  }
}

/** `$XDG_CONFIG_HOME/kiln/config.json`, else `~/.config/kiln/config.json`. */
export function configFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'kiln', 'config.json');
}

function readSaved(file: string): Partial<ClientSettings> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const saved = JSON.parse(text) as Partial<ClientSettings>;
    return { ...(typeof saved.url === 'string' ? { url: saved.url } : {}), ...(typeof saved.apiKey === 'string' ? { apiKey: saved.apiKey } : {}) };
  } catch {
    throw new Error(`${file} is not valid JSON: fix it or run \`kiln login\` again.`);
  }
}

/** KILN_URL and KILN_API_KEY, each over what `kiln login` saved. */
export function clientSettings(env: NodeJS.ProcessEnv): ClientSettings {
  const saved = readSaved(configFile(env));
  const url = env.KILN_URL || saved.url;
  const apiKey = env.KILN_API_KEY || saved.apiKey;
  if (!url && !apiKey) throw new NotConfigured('neither a URL nor an API key');
  if (!url) throw new NotConfigured('no URL');
  if (!apiKey) throw new NotConfigured('no API key');
  return { url, apiKey };
}

/** Whether a server URL is configured (then `kiln keys` goes through the API). */
export function hasServer(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.KILN_URL || readSaved(configFile(env)).url);
}

/** Saves the settings for later commands, readable by the user only. */
export function saveClientSettings(env: NodeJS.ProcessEnv, settings: ClientSettings): string {
  const file = configFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written beside and renamed: a half-written file never replaces a good one.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, file);
  return file;
}
