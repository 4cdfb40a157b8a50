import { Kiln, KilnError, csrfFromCookie } from '@kiln/sdk';

/** The console's client: same origin, authenticated by the session cookie (the page never holds a key). */
export const kiln = new Kiln({ baseUrl: location.origin, csrfToken: csrfFromCookie });

export const SIGNED_OUT = 'kiln:signed-out';

/** A message for an error, to show as text; an ended session sends the user back to sign-in. */
export function errorText(error: unknown): string {
  if (error instanceof KilnError) {
    if (error.status === 401) window.dispatchEvent(new Event(SIGNED_OUT));
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** Where a task file (a version of it) is downloaded from; the session cookie authenticates it. */
export function downloadUrl(taskId: string, path: string, version?: number): string {
  return kiln.transport.url(`/api/v1/tasks/${encodeURIComponent(taskId)}/artifacts/download`, { path, version });
}

export function archiveUrl(taskId: string, path: string): string {
  return kiln.transport.url(`/api/v1/tasks/${encodeURIComponent(taskId)}/artifacts/archive`, { path: path || undefined });
}

export const TOOL_NAMES = ['list_directory', 'read_file', 'write_file', 'run_command'] as const;
export const TASK_STATUSES = ['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'] as const;
