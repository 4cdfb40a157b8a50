import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SignedUrls } from '../artifacts/signed-urls.js';
import type { KeyOwner, UserStore } from '../../ports/storage.js';
import { AuthRequired, Forbidden } from '../errors.js';
import type { ApiKeys } from './api-keys.js';

/** What a browser holds after signing in: the session token (HttpOnly cookie) and its CSRF token. */
export interface ConsoleSession {
  token: string;
  csrf: string;
  expiresAt: Date;
  owner: KeyOwner;
}

const TOKEN_SHAPE = /^([0-9a-f-]{36})\.([0-9a-f]{32})\.(\d+)\.([0-9a-f]{64})$/;

/**
 * Sessions of the web console. Signing in exchanges an API key for a session token, so the key
 * itself never stays in the page. The token names the key (by id, never the key) and is signed
 * with the server's signing key (the one of download links), so nothing is stored per session;
 * every request looks the key up, so revoking the key ends its sessions at once, everywhere.
 * Signing out removes the cookie from the browser; a copy of the token taken before stays valid
 * until it expires (`ttlMs`) or its key is revoked.
 *
 * A session's CSRF token is derived from its token with the same signing key: a page of another
 * site can neither read it nor make it.
 *
 * @example
 * const session = await sessions.open('kiln_...');     // { token, csrf, expiresAt, owner }
 * const owner = await sessions.authenticate(session.token);
 */
export class ConsoleSessions {
  constructor(
    private readonly deps: { keys: ApiKeys; users: UserStore; signer: SignedUrls },
    readonly ttlMs: number,
  ) {}

  /** Checks the key and opens a session for it. */
  async open(key: string, now = Date.now()): Promise<ConsoleSession> {
    const owner = await this.deps.keys.authenticate(key);
    // A widget token names no key; its end users have no console.
    if (owner.apiKeyId === null) throw new Forbidden('Sign in to the console with an API key, not a widget token.');
    const nonce = randomBytes(16).toString('hex');
    const { expires, signature } = this.deps.signer.sign(subject(owner.apiKeyId, nonce), now, this.ttlMs);
    const token = `${owner.apiKeyId}.${nonce}.${expires}.${signature}`;
    return { token, csrf: this.csrfOf(token), expiresAt: new Date(expires * 1000), owner };
  }

  /** The owner of a live session; a session whose key was revoked, or that expired, is refused. */
  async authenticate(token: string, now = Date.now()): Promise<KeyOwner> {
    const match = TOKEN_SHAPE.exec(token);
    if (!match) throw new AuthRequired('Your console session is not valid; sign in again.');
    const [, keyId, nonce, expires, signature] = match as unknown as [string, string, string, string, string];
    const check = this.deps.signer.check(subject(keyId, nonce), expires, signature, now);
    if (check === 'expired') throw new AuthRequired('Your console session has expired; sign in again.');
    if (check !== 'valid') throw new AuthRequired('Your console session is not valid; sign in again.');
    const owner = await this.deps.users.findKeyById(keyId);
    if (!owner) throw new AuthRequired('The API key of this console session was revoked; sign in with another key.');
    return owner;
  }

  /** Refuses a write whose CSRF token is not the session's. */
  checkCsrf(token: string, presented: string | undefined): void {
    const expected = Buffer.from(this.csrfOf(token));
    const given = Buffer.from(presented ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Forbidden('A request authenticated by the console session must carry its CSRF token in the X-Kiln-CSRF header.');
    }
  }

  private csrfOf(token: string): string {
    // No expiry of its own: it lives exactly as long as the session it is derived from.
    return this.deps.signer.sign(`console-csrf:${token}`, 0, 0).signature;
  }
}

/** Kept apart from download links' subjects (version ids), which have no prefix. */
function subject(keyId: string, nonce: string): string {
  return `console-session:${keyId}:${nonce}`;
}
