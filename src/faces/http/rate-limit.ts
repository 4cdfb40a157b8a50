import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimiter } from '../../core/quotas/rate-limiter.js';
import { writeEdgeError } from './edge-errors.js';
import { hasPendingBody, lingerOnClose } from './request-limits.js';

/**
 * Limits requests per API key (see {@link RateLimiter}) on every route that takes a credential, once
 * the face has authenticated it and before the body is read. Every answer carries
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a request over the limit gets
 * `429` with `Retry-After`, in its face's envelope, and is not processed.
 */
export function limitRequestRate(app: FastifyInstance, limiter: RateLimiter): void {
  app.addHook('preParsing', async function limitRate(request: FastifyRequest, reply: FastifyReply, payload) {
    if (!request.caller) return payload;
    const decision = await limiter.take(request.caller);
    const headers = {
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(decision.resetSeconds),
    };
    if (decision.allowed) {
      reply.headers(headers);
      return payload;
    }
    // Answered past fastify, like the other edge errors: the route (and its body) is never reached.
    const who = request.caller.apiKeyId === null ? 'this end user' : 'this API key';
    const message = `Too many requests for ${who}: the limit is ${decision.limit} at once, refilled over time. Retry in ${decision.retryAfterSeconds} s.`;
    reply.hijack();
    const closing = hasPendingBody(request.raw);
    if (closing) lingerOnClose(request.raw.socket, 2000);
    writeEdgeError(reply.raw, request.url, 429, message, { ...headers, 'retry-after': String(decision.retryAfterSeconds), ...(closing ? { connection: 'close' } : {}) });
    return payload;
  });
}
