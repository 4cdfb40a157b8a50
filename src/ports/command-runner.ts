/** Runs one shell command for a task. Adapters decide how it is isolated. */
export interface CommandRunner {
  run(request: CommandRequest): Promise<CommandResult>;
}

export interface CommandRequest {
  command: string;
  /** The task's workspace on the host. */
  workspace: string;
  /** The complete environment of the command: nothing of the server's is inherited. */
  env: Record<string, string>;
  timeoutMs: number;
  /** Bytes of combined stdout and stderr kept; the rest is dropped and counted. */
  outputLimit: number;
  signal: AbortSignal;
}

export interface CommandResult {
  exitCode: number | null;
  /** Set when the command was killed: by its time limit, by a resource limit, or by cancellation. */
  killedBy: 'timeout' | 'cancelled' | string | null;
  output: string;
  droppedBytes: number;
}
