/** Runs one shell command for a task. Adapters decide how it is isolated. */
export interface CommandRunner {
  run(request: CommandRequest): Promise<CommandResult>;
  /** Starts a process that keeps running until it exits or is killed; refused where commands are. */
  spawn(request: SpawnRequest): Promise<SpawnedProcess>;
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

/**
 * A long-lived process started for a task (a stdio MCP server), with the same isolation and
 * limits as a command, talking over its stdin and stdout.
 */
export interface SpawnRequest {
  taskId: string;
  /** The program and its arguments, run without a shell. */
  argv: [string, ...string[]];
  workspace: string;
  /** Working directory relative to the workspace ("" for the workspace itself). */
  cwd: string;
  /** The complete environment of the process. */
  env: Record<string, string>;
  /** Aborting it kills the process and everything it started. */
  signal: AbortSignal;
}

export interface SpawnedProcess {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  /** Resolves when the process has ended: its exit code, or the limit that stopped it. */
  exited: Promise<{ exitCode: number | null; stopped: string | null }>;
  /** Kills the process and everything it started. */
  kill(): void;
}
