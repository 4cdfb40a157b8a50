import path from 'node:path';
import type { CommandRequest, CommandResult, CommandRunner, SpawnedProcess, SpawnRequest } from '../../ports/command-runner.js';
import { runProcess, spawnProcess } from './run-process.js';

/**
 * Runs `sh -c` directly on the host, in the workspace, with the wall-time limit only. No
 * isolation: chosen by an operator by name (KILN_SANDBOX=unsandboxed), never by default.
 */
export class LocalCommandRunner implements CommandRunner {
  async run(request: CommandRequest): Promise<CommandResult> {
    const { rawExitCode: _raw, ...result } = await runProcess({
      argv: ['sh', '-c', request.command],
      cwd: request.workspace,
      env: request.env,
      timeoutMs: request.timeoutMs,
      outputLimit: request.outputLimit,
      signal: request.signal,
    });
    return result;
  }

  async spawn(request: SpawnRequest): Promise<SpawnedProcess> {
    return spawnProcess({ argv: request.argv, cwd: path.join(request.workspace, request.cwd), env: request.env, signal: request.signal });
  }
}
