import type { RateLimitStore } from '../../ports/storage.js';

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
 * `perMinute` tokens a minute, up to `burst` at once.
 *
 * @example
 * const limiter = new RateLimiter(storage.rateLimits, { perMinute: 600, burst: 100 });
 * const decision = await limiter.take(caller.apiKeyId);
 */
export class RateLimiter {
  private readonly perMs: number;

  constructor(
    private readonly store: RateLimitStore,
    private readonly options: { perMinute: number; burst: number },
  ) {
    this.perMs = options.perMinute / 60_000;
  }

  async take(apiKeyId: string): Promise<RateDecision> {
    const { allowed, tokens } = await this.store.take(apiKeyId, Date.now(), this.perMs, this.options.burst);
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
