import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './kiln-process.js';

const run = promisify(execFile);

/** npm's own failures that mean "the registry cannot be reached", as opposed to a broken package. */
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network|offline/i;

export class RegistryUnreachable extends Error {}

/** Runs npm in `cwd`; a failure that looks like no network becomes {@link RegistryUnreachable}. */
export async function npm(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const text = `${e.stderr ?? ''}\n${e.message}`;
    if (OFFLINE.test(text) && !/ETARGET|E404/.test(text)) throw new RegistryUnreachable(text.trim().split('\n').slice(-3).join(' '));
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${text}`);
  }
}

/**
 * Gives an install made with --ignore-scripts the native better-sqlite3 binary already built
 * for this checkout (same version, same Node), instead of compiling it again (about 80 s).
 * Fails when the versions differ, so a mismatch is never hidden.
 */
export function reuseNativeBuild(installRoot: string): void {
  const ours = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const theirs = path.join(installRoot, 'node_modules', 'better-sqlite3');
  const version = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  if (version(ours) !== version(theirs)) throw new Error(`better-sqlite3 ${version(theirs)} was installed, this checkout built ${version(ours)}`);
  fs.cpSync(path.join(ours, 'build'), path.join(theirs, 'build'), { recursive: true });
}
