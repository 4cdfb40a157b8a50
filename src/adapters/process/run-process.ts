import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { CommandResult, SpawnedProcess } from '../../ports/command-runner.js';

export interface ProcessSpec {
  argv: [string, ...string[]];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  outputLimit: number;
  signal: AbortSignal;
  /** Data written to extra pipes, from fd 3 on (bubblewrap reads generated files from them). */
  extraInputs?: string[];
  /** Checked while the process runs (see {@link watch}); a returned limit name stops it. */
  watchdog?: Watchdog;
}

interface Watchdog {
  intervalMs: number;
  check: () => Promise<string | null>;
}

/** How many times a check's own duration the watchdog waits before the next one, at least. */
const CHECK_SPACING = 4;

export interface ProcessOutcome extends CommandResult {
  /** Exit code of the top process; 128 + n when the sandbox reports death by signal n. */
  rawExitCode: number | null;
}

/**
 * Runs a process in a process group of its own, so that a time limit, a watchdog or a cancel
 * kills it and everything it started. Output (stdout and stderr, interleaved) is capped.
 */
export function runProcess(spec: ProcessSpec): Promise<ProcessOutcome> {
  return new Promise((resolve) => {
    const extra = spec.extraInputs ?? [];
    const child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...extra.map(() => 'pipe' as const)],
    });
    extra.forEach((data, i) => {
      const pipe = child.stdio[3 + i] as NodeJS.WritableStream | null;
      pipe?.on('error', () => {});
      pipe?.end(data);
    });
    const output = new CappedOutput(spec.outputLimit);
    let stopped: CommandResult['stopped'] = null;
    let settled = false;

    const stop = (why: NonNullable<CommandResult['stopped']>) => {
      if (stopped === null) stopped = why;
      killGroup(child.pid);
      // A process that escaped the group may hold the pipes open; do not wait for it.
      setTimeout(() => finish(null), 1000).unref();
    };
    const timer = setTimeout(() => stop({ reason: 'limit', limit: `wall time limit of ${formatMs(spec.timeoutMs)}` }), spec.timeoutMs);
    const onAbort = () => stop({ reason: 'cancelled' });
    if (spec.signal.aborted) onAbort();
    else spec.signal.addEventListener('abort', onAbort, { once: true });

    const watching = spec.watchdog ? watch(spec.watchdog, (limit) => stop({ reason: 'limit', limit }), () => settled) : null;

    const finish = (exitCode: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watching?.stop();
      spec.signal.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ exitCode: stopped ? null : exitCode, rawExitCode: exitCode, stopped, output: output.text(), droppedBytes: output.dropped });
    };

    child.stdout?.on('data', (chunk: Buffer) => output.add(chunk));
    child.stderr?.on('data', (chunk: Buffer) => output.add(chunk));
    child.on('error', (error) => {
      output.add(Buffer.from(`${error.message}\n`));
      finish(127);
    });
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : null)));
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25, SIGABRT: 6 };
  return numbers[signal] ?? 0;
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Keeps the first `limit` bytes of output and counts the rest. */
export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  dropped = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (room <= 0) {
      this.dropped += chunk.length;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
    this.dropped += chunk.length - part.length;
  }

  /** The kept output; a character cut in two at the limit is left out rather than garbled. */
  text(): string {
    const kept = Buffer.concat(this.chunks);
    return this.dropped > 0 ? new StringDecoder('utf8').write(kept) : kept.toString('utf8');
  }
}

export interface SpawnSpec {
  argv: [string, ...string[]];
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  extraInputs?: string[];
  watchdog?: ProcessSpec['watchdog'];
}

/**
 * Starts a long-lived process in a process group of its own, with stdin, stdout and stderr as
 * pipes. Aborting `signal`, `kill()` or a watchdog limit kills the whole group.
 */
export function spawnProcess(spec: SpawnSpec): SpawnedProcess {
  const extra = spec.extraInputs ?? [];
  const child = spawn(spec.argv[0], spec.argv.slice(1), {
    cwd: spec.cwd,
    env: spec.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe', ...extra.map(() => 'pipe' as const)],
  });
  extra.forEach((data, i) => {
    const pipe = child.stdio[3 + i] as NodeJS.WritableStream | null;
    pipe?.on('error', () => {});
    pipe?.end(data);
  });
  // A process that exits early breaks its stdin; that shows as `exited`, not as an uncaught error.
  child.stdin!.on('error', () => {});
  let stopped: string | null = null;
  let watching: { stop(): void } | undefined;
  const kill = () => killGroup(child.pid);
  const onAbort = () => kill();
  if (spec.signal.aborted) onAbort();
  else spec.signal.addEventListener('abort', onAbort, { once: true });

  const exited = new Promise<{ exitCode: number | null; stopped: string | null }>((resolve) => {
    let settled = false;
    const finish = (exitCode: number | null) => {
      if (settled) return;
      settled = true;
      watching?.stop();
      spec.signal.removeEventListener('abort', onAbort);
      resolve({ exitCode, stopped });
    };
    child.on('error', () => finish(127));
    child.on('exit', (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : null)));
    if (spec.watchdog) {
      watching = watch(
        spec.watchdog,
        (limit) => {
          stopped = limit;
          kill();
        },
        () => settled,
      );
    }
  });
  return { stdin: child.stdin!, stdout: child.stdout!, stderr: child.stderr!, exited, kill };
}

/**
 * Runs a watchdog's check while a process runs: the next check starts `intervalMs` after the
 * last one ended, or {@link CHECK_SPACING} times as long as that check took, if longer. A check
 * that walks the workspace takes about 0.1 s per 10,000 files, and back-to-back walks of a large
 * one would keep the server busy for as long as the command runs; spaced, they take a fifth of
 * that time at most, and a limit is noticed that much later.
 */
function watch(watchdog: Watchdog, onLimit: (limit: string) => void, ended: () => boolean): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      const started = performance.now();
      const next = () => {
        if (!ended()) schedule(Math.max(watchdog.intervalMs, CHECK_SPACING * (performance.now() - started)));
      };
      watchdog.check().then((limit) => (limit ? onLimit(limit) : next()), next);
    }, delayMs);
  };
  schedule(watchdog.intervalMs);
  return { stop: () => clearTimeout(timer) };
}
