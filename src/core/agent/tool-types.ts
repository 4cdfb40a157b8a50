/** What every tool call runs with: the task, its workspace and environment, and who to tell about files. */
export interface ToolContext {
  taskId: string;
  workspace: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Told about file reads and changes, so that every change becomes an artifact version. */
  files: WorkspaceObserver;
}

export interface WorkspaceObserver {
  read(relative: string): Promise<void>;
  written(relative: string): Promise<void>;
  /**
   * A command ran: anything in the workspace may have changed. Resolves with notes for the
   * agent about changes that could not be recorded (the workspace limit, say).
   */
  commandRan(): Promise<string[] | void>;
}

export interface ToolOutcome {
  status: 'success' | 'error';
  output: string;
}

/** A tool call whose arguments or target cannot work; its message is the tool's error result. */
export class ToolArgumentError extends Error {}
