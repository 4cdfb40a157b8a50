/** Fetches a task's secrets from the Kiln process that holds them in memory. */
export interface SecretSource {
  /** The secrets, or null when the holder has none (it restarted) or cannot be reached. */
  fetch(holder: string, taskId: string): Promise<Record<string, string> | null>;
}
