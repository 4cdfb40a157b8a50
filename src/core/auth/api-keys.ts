import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKeyRecord, KeyOwner, User, UserStore } from '../../ports/storage.js';
import { AuthRequired, Forbidden, InvalidApiKey, InvalidAuthFormat } from '../errors.js';

const KEY_PREFIX = 'kiln_';
const KEY_SHAPE = /^kiln_[0-9a-f]{64}$/;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** A key's `lastUsedAt` is written at most this often, so that requests do not each cost a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Letters, digits, and `. _ @ -`, up to 64 characters, starting with a letter or digit. */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

/**
 * API keys: `kiln_` + 64 hex characters, stored only as a SHA-256 hash. Each key belongs to a
 * user; an admin key may also manage other users' keys. Every check reads the database (no key
 * is cached), so a revoked key is refused at once by every process.
 *
 * @example
 * const { key } = await keys.create('alice', { name: 'laptop', admin: false });   // shown once
 * const owner = await keys.authenticate(key);   // { userId, username, apiKeyId, admin }
 */
export class ApiKeys {
  constructor(private readonly users: UserStore) {}

  /** Creates a key for the user called `username` (created on first use). */
  async create(username: string, options: { name: string | null; admin: boolean; source: 'cli' | 'api' }): Promise<{ key: string; record: ApiKeyRecord; user: User }> {
    const user = await this.users.ensureUser(username, new Date().toISOString());
    return { ...(await this.createFor(user, options)), user };
  }

  /** Creates a key for an existing user. */
  async createFor(user: User, options: { name: string | null; admin: boolean; source: 'cli' | 'api' }): Promise<{ key: string; record: ApiKeyRecord }> {
    const now = new Date().toISOString();
    const key = KEY_PREFIX + randomBytes(32).toString('hex');
    const id = randomUUID();
    await this.users.insertKey({ id, userId: user.id, hash: hashKey(key), name: options.name, admin: options.admin, source: options.source, now });
    return { key, record: { id, name: options.name, userId: user.id, admin: options.admin, createdAt: now, lastUsedAt: null } };
  }

  /**
   * Makes the key from KILN_API_KEY (or none) the one environment key: an admin key of user
   * `default`. Returns whether that key was revoked (a revoked key stays revoked).
   */
  async useEnvironmentKey(key: string | undefined): Promise<{ revoked: boolean }> {
    const now = new Date().toISOString();
    const user = await this.users.ensureUser('default', now);
    return this.users.replaceEnvKey(key ? hashKey(key) : null, user.id, now);
  }

  /** Resolves a presented credential to its owner, or throws the matching auth error. */
  async authenticate(credential: string | undefined): Promise<KeyOwner> {
    if (credential === undefined || credential.trim() === '') throw new AuthRequired();
    const token = credential.trim();
    // Widget tokens are JWTs; they are accepted only by the Tasks API, which checks them itself.
    if (token.startsWith('eyJ')) throw new Forbidden('A widget token may only use the Tasks API (/api/v1/tasks); this endpoint needs an API key.');
    if (!token.startsWith(KEY_PREFIX)) throw new InvalidAuthFormat();
    if (!KEY_SHAPE.test(token)) throw new InvalidApiKey('Invalid API key: expected "kiln_" followed by 64 lowercase hex characters.');
    const found = await this.users.findKey(hashKey(token));
    if (!found) throw new InvalidApiKey();
    const { lastUsedAt, ...owner } = found;
    const now = Date.now();
    if (lastUsedAt === null || now - Date.parse(lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      await this.users.touchKey(owner.apiKeyId, new Date(now).toISOString(), new Date(now - LAST_USED_RESOLUTION_MS).toISOString());
    }
    return owner;
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
