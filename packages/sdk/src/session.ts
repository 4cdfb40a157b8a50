import type { Transport } from './transport.js';
import type { Session as SessionInfo } from './types.js';

/**
 * The Kiln console's sign-in, for code running in its page: an API key is exchanged for a session
 * cookie (HttpOnly, so the page never holds the key), which the browser then sends by itself.
 */
export class Session {
  constructor(private readonly transport: Transport) {}

  /**
   * @example
   * const kiln = new Kiln({ baseUrl: location.origin, csrfToken: csrfFromCookie });
   * await kiln.session.signIn(key);
   */
  signIn(key: string, options: { signal?: AbortSignal } = {}): Promise<SessionInfo> {
    return this.transport.data('POST', '/api/v1/session', { json: { key }, ...options });
  }

  signOut(options: { signal?: AbortSignal } = {}): Promise<{ signedOut: true }> {
    return this.transport.data('DELETE', '/api/v1/session', options);
  }

  /** Who the client acts for (its key's user); `AUTH_REQUIRED` when not signed in. */
  current(options: { signal?: AbortSignal } = {}): Promise<SessionInfo> {
    return this.transport.data('GET', '/api/v1/session', options);
  }
}
