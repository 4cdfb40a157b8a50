import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KeyOwner, UserStore } from '../../ports/storage.js';
import { AuthRequired, InvalidApiKey, InvalidAuthFormat } from '../errors.js';

const KEY_PREFIX = 'kiln_';
const KEY_SHAPE = /^kiln_[0-9a-f]{64}$/;

/**
 * API keys: `kiln_` + 64 hex characters, stored only as a SHA-256 hash. Each key belongs to a user.
 *
 * @example
 * const { key } = await keys.create('alice');      // shown once
 * const owner = await keys.authenticate(key);        // { userId, username, apiKeyId }
 */
export class ApiKeys {
  constructor(private readonly users: UserStore) {}

  async create(username: string): Promise<{ key: string; owner: KeyOwner }> {
    const now = new Date().toISOString();
    const user = await this.users.ensureUser(username, now);
    const key = KEY_PREFIX + randomBytes(32).toString('hex');
    const id = randomUUID();
    await this.users.insertKey({ id, userId: user.id, hash: hashKey(key), source: 'cli', now });
    return { key, owner: { apiKeyId: id, userId: user.id, username: user.name } };
  }

  /** Makes the key from KILN_API_KEY (or none) the one environment key, for user `default`. */
  async useEnvironmentKey(key: string | undefined): Promise<void> {
    const now = new Date().toISOString();
    const user = await this.users.ensureUser('default', now);
    await this.users.replaceEnvKey(key ? hashKey(key) : null, user.id, now);
  }

  /** Resolves a presented credential to its owner, or throws the matching auth error. */
  async authenticate(credential: string | undefined): Promise<KeyOwner> {
    if (credential === undefined || credential.trim() === '') throw new AuthRequired();
    const token = credential.trim();
    if (!token.startsWith(KEY_PREFIX)) throw new InvalidAuthFormat();
    if (!KEY_SHAPE.test(token)) throw new InvalidApiKey('Invalid API key: expected "kiln_" followed by 64 lowercase hex characters.');
    const owner = await this.users.findKey(hashKey(token));
    if (!owner) throw new InvalidApiKey();
    return owner;
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
