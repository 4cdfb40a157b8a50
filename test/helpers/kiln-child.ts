import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/** A Kiln started from any command line (an installed package, another user, JSON logs). */
export interface KilnChild {
  url: string;
  child: ChildProcess;
  logs(): string;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `command args` and waits for the "Kiln listening on" line, in either log format.
 * The environment is `env` alone, on top of PATH and HOME.
 */
export async function spawnKiln(command: string, args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<KilnChild> {
  // A process group of its own: a launcher (npx, setpriv) and the Kiln it starts get the signal together.
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const limit = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`Kiln did not start within ${limit} ms:\n${output}`));
    }, limit);
    const onData = () => {
      const match = /Kiln listening on (http:\/\/[^\s"]+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Kiln exited with code ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    child,
    logs: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
      return exited;
    },
  };
}
