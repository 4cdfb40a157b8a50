/** Runs one shell command for a task. Adapters decide how it is isolated. */
export interface CommandRunner {
  run(request: CommandRequest): Promise<CommandResult>;
}

export interface CommandRequest {
  /** The task the command belongs to: each task's commands are kept apart from every other's. */
  taskId: string;
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
  /** Set when the command was stopped: by cancellation, or by the limit named (for example "CPU time limit of 60 s"). */
  stopped: { reason: 'cancelled' } | { reason: 'limit'; limit: string } | null;
  /** A limit the command probably ran into without being stopped, judged from its output (memory, processes). */
  likelyLimit?: string;
  output: string;
  droppedBytes: number;
}
