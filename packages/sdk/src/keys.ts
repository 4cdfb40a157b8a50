import { seg, type Transport } from './transport.js';
import type { ApiKey, CreatedApiKey, User } from './types.js';

/** API keys: the caller's own, or (for an admin key) any user's. */
export class Keys {
  constructor(private readonly transport: Transport) {}

  /**
   * The caller's keys; an admin may name another user (`userId`) or ask for every key (`all`).
   *
   * @example
   * const keys = await kiln.keys.list();
   */
  list(options: { userId?: string; all?: boolean; signal?: AbortSignal } = {}): Promise<ApiKey[]> {
    const { signal, userId, all } = options;
    return this.transport.data('GET', '/api/v1/keys', { query: { userId, all: all ? 'true' : undefined }, ...(signal ? { signal } : {}) });
  }

  /**
   * A new key; its secret `key` is in this answer only.
   *
   * @example
   * const { key } = await kiln.keys.create({ name: 'laptop' });
   */
  create(input: { name?: string; userId?: string; admin?: boolean } = {}, options: { signal?: AbortSignal } = {}): Promise<CreatedApiKey> {
    return this.transport.data('POST', '/api/v1/keys', { json: input, ...options });
  }

  /** Revokes a key: requests with it are refused from now on. */
  revoke(id: string, options: { signal?: AbortSignal } = {}): Promise<{ id: string; revoked: true }> {
    return this.transport.data('DELETE', `/api/v1/keys/${seg(id)}`, options);
  }
}

/** Users (admin keys only). */
export class Users {
  constructor(private readonly transport: Transport) {}

  list(options: { signal?: AbortSignal } = {}): Promise<User[]> {
    return this.transport.data('GET', '/api/v1/users', options);
  }
}
