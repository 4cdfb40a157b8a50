import type { ApiKeyRecord, KeyOwner, User, UserStore, UserSummary } from '../../ports/storage.js';
import { Forbidden, InvalidInput, NotFound } from '../errors.js';
import { isValidUserName, type ApiKeys } from './api-keys.js';

export interface NewKeyRequest {
  name: string | null;
  /** A user's id or name; the caller's own user when null. */
  userId: string | null;
  admin: boolean;
}

/**
 * Key management on behalf of a caller. Any key may list, create and revoke its own user's
 * non-admin keys; an admin key may do so for every user, create admin keys, and list users.
 * Another user's key is "not found" to a non-admin, as another user's task is.
 */
export class KeyManagement {
  constructor(private readonly deps: { users: UserStore; keys: ApiKeys }) {}

  /** Live keys of the caller's user; an admin may name another user (`userId`) or ask for every user's (`all`). */
  async list(caller: KeyOwner, scope: { userId: string | null; all: boolean }): Promise<ApiKeyRecord[]> {
    if (scope.all) {
      requireAdmin(caller, 'Only an admin key may list every user\'s keys.');
      return this.deps.users.listKeys(null);
    }
    if (scope.userId === null || isCaller(caller, scope.userId)) return this.deps.users.listKeys(caller.userId);
    requireAdmin(caller, "Only an admin key may list another user's keys.");
    const user = await this.deps.users.findUser(scope.userId);
    if (!user) throw new NotFound(`User not found: ${scope.userId}`);
    return this.deps.users.listKeys(user.id);
  }

  /** Creates a key; the result carries the key itself, which is never shown again. */
  async create(caller: KeyOwner, request: NewKeyRequest): Promise<{ key: string; record: ApiKeyRecord }> {
    const forOther = request.userId !== null && !isCaller(caller, request.userId);
    if (forOther) requireAdmin(caller, 'Only an admin key may create keys for another user.');
    if (request.admin) requireAdmin(caller, 'Only an admin key may create admin keys.');
    const user = forOther ? await this.userFor(request.userId!) : { id: caller.userId, name: caller.username };
    return this.deps.keys.createFor(user, { name: request.name, admin: request.admin, source: 'api' });
  }

  /** Revokes a key of the caller's user (any user's, for an admin): it is refused from then on, everywhere. */
  async revoke(caller: KeyOwner, id: string): Promise<void> {
    const revoked = await this.deps.users.revokeKey(id, caller.admin ? null : caller.userId, new Date().toISOString());
    if (!revoked) throw new NotFound(`API key not found: ${id}`);
  }

  async users(caller: KeyOwner): Promise<UserSummary[]> {
    requireAdmin(caller, 'Only an admin key may list users.');
    return this.deps.users.listUsers();
  }

  /** The user an admin names by id or name; a name not yet known makes a new user. */
  private async userFor(idOrName: string): Promise<User> {
    const existing = await this.deps.users.findUser(idOrName);
    if (existing) return existing;
    if (!isValidUserName(idOrName)) {
      throw new InvalidInput('userId must be the id or name of a user; a new user name is letters, digits, and . _ @ - (up to 64 characters).', 'userId');
    }
    return this.deps.users.ensureUser(idOrName, new Date().toISOString());
  }
}

function isCaller(caller: KeyOwner, idOrName: string): boolean {
  return idOrName === caller.userId || idOrName === caller.username;
}

function requireAdmin(caller: KeyOwner, message: string): void {
  if (!caller.admin) throw new Forbidden(message);
}
