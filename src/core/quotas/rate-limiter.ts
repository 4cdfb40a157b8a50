import type { KeyOwner, RateLimitStore } from '../../ports/storage.js';

/** The outcome of one request against its key's bucket, with what the `RateLimit-*` headers say. */
export interface RateDecision {
  allowed: boolean;
  /** The bucket's size: requests that may be sent at once. */
  limit: number;
  /** Requests that may be sent now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until one request is allowed. */
  retryAfterSeconds: number;
}

/**
 * Requests per API key, as a token bucket shared by every Kiln process (kept in the database):
 * `perMinute` tokens a minute, up to `burst` at once. The console signed in with a key uses that
 * key's bucket. A widget token has no key: each end user of an app has a bucket of their own (one
 * end user cannot use up the others' requests, and a fresh token does not refill it).
 *
 * @example
 * const limiter = new RateLimiter(storage.rateLimits, { perMinute: 600, burst: 100 });
 * const decision = await limiter.take(caller);
 */
export class RateLimiter {
  private readonly perMs: number;

  constructor(
    private readonly store: RateLimitStore,
    private readonly options: { perMinute: number; burst: number },
  ) {
    this.perMs = options.perMinute / 60_000;
  }

  async take(caller: KeyOwner): Promise<RateDecision> {
    const { allowed, tokens } = await this.store.take(bucketOf(caller), Date.now(), this.perMs, this.options.burst);
    const burst = this.options.burst;
    return {
      allowed,
      limit: burst,
      remaining: Math.max(0, Math.floor(tokens)),
      resetSeconds: Math.ceil((burst - tokens) / this.perMs / 1000),
      retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000)),
    };
  }
}

/** The bucket a caller draws from: its key's, or (widget tokens) its end user's within the app. */
function bucketOf(caller: KeyOwner): string {
  if (caller.apiKeyId !== null) return caller.apiKeyId;
  const { appId, endUserId } = caller.endUser!;
  // A space never occurs in a key id or an app id, so this cannot name another bucket.
  return `end-user ${appId} ${endUserId}`;
}
