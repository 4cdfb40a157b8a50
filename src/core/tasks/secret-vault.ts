/**
 * Task secrets, held in this process's memory only: never written to the database, the event
 * log or the logs. They are gone after a restart; a follow-up may send them again.
 */
export class SecretVault {
  private readonly secrets = new Map<string, Record<string, string>>();

  put(taskId: string, secrets: Record<string, string> | null | undefined): void {
    if (secrets && Object.keys(secrets).length > 0) this.secrets.set(taskId, { ...this.secrets.get(taskId), ...secrets });
  }

  get(taskId: string): Record<string, string> {
    return this.secrets.get(taskId) ?? {};
  }
}
