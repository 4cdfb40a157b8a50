import type { SignedUrls } from '../../core/artifacts/signed-urls.js';
import type { SecretSource } from '../../ports/secret-source.js';

const TIMEOUT_MS = 5000;
const SIGNATURE_TTL_MS = 30_000;

/**
 * Asks another Kiln process for a task's secrets over HTTP, with a short-lived signature made
 * with the installation's shared signing key.
 */
export class SecretClient implements SecretSource {
  constructor(private readonly signatures: SignedUrls) {}

  async fetch(holder: string, taskId: string): Promise<Record<string, string> | null> {
    const { expires, signature } = this.signatures.sign(secretsSubject(taskId), Date.now(), SIGNATURE_TTL_MS);
    try {
      const response = await fetch(`${holder}/internal/tasks/${encodeURIComponent(taskId)}/secrets`, {
        headers: { 'x-kiln-signature': `${expires}.${signature}` },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!response.ok) return null;
      const body = (await response.json()) as { secrets?: Record<string, string> };
      return body.secrets ?? null;
    } catch {
      return null;
    }
  }
}

/** What a secrets request signs: distinct from anything a download link signs. */
export function secretsSubject(taskId: string): string {
  return `secrets:${taskId}`;
}
