import { spawn } from 'node:child_process';
import type { CommandRequest, CommandResult, CommandRunner } from '../../ports/command-runner.js';

/**
 * Runs `sh -c` directly on the host, in the workspace, in a process group of its own so that a
 * timeout or a cancel kills the command and everything it started.
 */
export class LocalCommandRunner implements CommandRunner {
  run(request: CommandRequest): Promise<CommandResult> {
    return new Promise((resolve) => {
      const child = spawn('sh', ['-c', request.command], {
        cwd: request.workspace,
        env: request.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = new CappedOutput(request.outputLimit);
      let killedBy: CommandResult['killedBy'] = null;
      let settled = false;

      const kill = (reason: 'timeout' | 'cancelled') => {
        if (killedBy === null) killedBy = reason;
        killGroup(child.pid);
        // A process that escaped the group may hold the pipes open; do not wait for it.
        setTimeout(() => finish(null), 1000).unref();
      };
      const timer = setTimeout(() => kill('timeout'), request.timeoutMs);
      const onAbort = () => kill('cancelled');
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });

      const finish = (exitCode: number | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal.removeEventListener('abort', onAbort);
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ exitCode: killedBy ? null : exitCode, killedBy, output: output.text(), droppedBytes: output.dropped });
      };

      child.stdout?.on('data', (chunk: Buffer) => output.add(chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.add(chunk));
      child.on('error', (error) => {
        output.add(Buffer.from(`${error.message}\n`));
        finish(127);
      });
      child.on('close', (code) => finish(code));
    });
  }
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
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

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
