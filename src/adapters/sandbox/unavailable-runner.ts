import type { CommandResult, CommandRunner, SpawnedProcess } from '../../ports/command-runner.js';

/** Stands in when the sandbox cannot run here: every command is refused with the reason. */
export class UnavailableRunner implements CommandRunner {
  constructor(private readonly reason: string) {}

  async run(): Promise<CommandResult> {
    return {
      exitCode: null,
      stopped: null,
      output:
        `run_command is disabled on this server: the command sandbox cannot run (${this.reason}). ` +
        'The file tools still work. An operator can install bubblewrap, or knowingly set KILN_SANDBOX=unsandboxed.',
      droppedBytes: 0,
    };
  }

  async spawn(): Promise<SpawnedProcess> {
    throw new Error(`local (stdio) MCP servers are disabled on this server: the command sandbox cannot run (${this.reason})`);
  }
}
