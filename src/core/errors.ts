/**
 * Domain errors. The core throws these; each API face maps them to its own status and envelope
 * in one place. Messages are written for the person calling the API: what went wrong, what to do.
 *
 * @example
 * throw new NotFound('Task not found');
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  /**
   * A stable code that names this error more precisely than its kind (`IDEMPOTENCY_KEY_REUSED`);
   * faces answer it as their code instead of the kind's.
   */
  readonly apiCode?: string;
}

export type DomainErrorKind =
  | 'auth_required'
  | 'invalid_api_key'
  | 'invalid_auth_format'
  | 'not_found'
  | 'invalid_input'
  | 'invalid_env'
  | 'conflict'
  | 'too_large'
  | 'forbidden'
  | 'storage_full';

export class AuthRequired extends DomainError {
  readonly kind = 'auth_required';
  constructor(message = 'Authentication required: send "Authorization: Bearer kiln_..." or "X-API-Key: kiln_...".') {
    super(message);
  }
}

export class InvalidApiKey extends DomainError {
  readonly kind = 'invalid_api_key';
  constructor(message = 'Invalid API key: it is unknown, malformed or was replaced. Create one with `kiln keys create --user NAME`.') {
    super(message);
  }
}

export class InvalidAuthFormat extends DomainError {
  readonly kind = 'invalid_auth_format';
  constructor(message = 'Unrecognised credential: API keys start with "kiln_".') {
    super(message);
  }
}

export class NotFound extends DomainError {
  readonly kind = 'not_found';
}

/** Input that fails validation; `field` names the offending field when there is one. */
export class InvalidInput extends DomainError {
  readonly kind = 'invalid_input';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class InvalidEnv extends DomainError {
  readonly kind = 'invalid_env';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The request is valid but the resource's current state does not allow it. */
export class Conflict extends DomainError {
  readonly kind = 'conflict';
}

export class TooLarge extends DomainError {
  readonly kind = 'too_large';
}

/** The caller is known but its key may not do this (e.g. a non-admin key acting for another user). */
export class Forbidden extends DomainError {
  readonly kind = 'forbidden';
}

/** The server's disk (or the quota of its data) is full: nothing of the request was kept. */
export class StorageFull extends DomainError {
  readonly kind = 'storage_full';
  constructor(message = "The server's disk is full, so nothing was stored. Free space on the server (or raise its quota), then try again.") {
    super(message);
  }
}

/**
 * The {@link StorageFull} an error means, when it says the disk or a quota is full (ENOSPC,
 * EDQUOT from a file write; databases translate their own codes); undefined otherwise.
 */
export function storageFullOf(error: unknown): StorageFull | undefined {
  if (error instanceof StorageFull) return error;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? new StorageFull() : undefined;
}

/*
 * Errors of widget apps and their end-user tokens. They reuse the kinds above (so every face
 * maps them without change) and carry the Tasks API's own `code`, which the native face sends.
 */

/** A widget token that is malformed, forged, expired, or whose app was deleted or had its secret rotated. */
export class InvalidToken extends DomainError {
  readonly kind = 'invalid_api_key';
  readonly code = 'INVALID_TOKEN';
  constructor(message = 'Invalid widget token: it is malformed, expired, or its app was deleted or had its secret rotated. Get a new token from the token endpoint.') {
    super(message);
  }
}

/** A browser request from an origin its widget app (or, for API keys, KILN_CORS_ORIGINS) does not list. */
export class OriginNotAllowed extends DomainError {
  readonly kind = 'forbidden';
  readonly code = 'ORIGIN_NOT_ALLOWED';
}

/** A token exchange without `appId` or `appSecret`. */
export class MissingCredentials extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'MISSING_CREDENTIALS';
  constructor(message = 'appId and appSecret are required: send the widget app\'s credentials (from its backend, never from a browser).') {
    super(message);
  }
}

/** A token exchange without a non-empty `endUserId`. */
export class MissingEndUserId extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'MISSING_END_USER_ID';
}

/** A token exchange whose `appId` is unknown or whose `appSecret` does not match. */
export class InvalidCredentials extends DomainError {
  readonly kind = 'invalid_api_key';
  readonly code = 'INVALID_CREDENTIALS';
  constructor(message = 'Invalid widget app credentials: the appId is unknown or the appSecret does not match (it changes when rotated).') {
    super(message);
  }
}

/** A token lifetime that is not a duration like "30m", "1h" or "7d", or is over the maximum. */
export class InvalidExpiresIn extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'INVALID_EXPIRES_IN';
}

/** The Tasks API's own code of an error, when it has one beyond its kind's. */
export function specificCodeOf(error: DomainError): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
/** An `Idempotency-Key` already used for a different request (other route, fields or files). */
export class IdempotencyKeyReused extends Conflict {
  override readonly apiCode = 'IDEMPOTENCY_KEY_REUSED';
  constructor() {
    super('This Idempotency-Key was already used for a different request (another route, other fields or other files) in the last 24 hours. Use a new key for a new request.');
  }
}

/** The first request with this `Idempotency-Key` is still being worked on. */
export class IdempotencyInProgress extends Conflict {
  override readonly apiCode = 'IDEMPOTENCY_IN_PROGRESS';
  constructor() {
    super('A request with this Idempotency-Key is still in progress. Retry in a moment: you will get its answer.');
  }
}
