import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { fingerprintOf, IdempotencyKeys, type IdempotencyClaim } from '../../core/idempotency/idempotency-keys.js';
import { InvalidInput } from '../../core/errors.js';
import { errorMessage, type Logger } from '../../logger.js';
import type { StoredAnswer } from '../../ports/storage.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route honours `Idempotency-Key` (see {@link idempotentRoutes}). */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: PendingKey | null;
  }
}

/** The `Idempotency-Key` of a request, before and after it is claimed. */
class PendingKey {
  claim: IdempotencyClaim | null = null;

  constructor(
    private readonly keys: IdempotencyKeys,
    private readonly userId: string,
    private readonly key: string,
    private readonly request: FastifyRequest,
  ) {}

  /** Claims the key for this request's `content`; returns the first answer instead when this is a repeat. */
  async begin(content: unknown): Promise<StoredAnswer | null> {
    const { method, routeOptions, params, query } = this.request;
    const fingerprint = fingerprintOf({ method, route: routeOptions.url, params, query, content });
    const outcome = await this.keys.begin(this.userId, this.key, fingerprint);
    if (outcome.kind === 'replay') return outcome.answer;
    this.claim = outcome.claim;
    return null;
  }
}

/** Thrown where a multipart request learns it is a repeat; the route's wrapper sends the first answer. */
class Replayed extends Error {
  constructor(readonly answer: StoredAnswer) {
    super('a repeat of an earlier request');
  }
}

/**
 * Makes every route with `config: { idempotent: true }` honour `Idempotency-Key`: the first
 * request with a key does the work and its success is recorded; a repeat gets that answer again
 * with `Idempotent-Replayed: true`. An error answer is not kept (Kiln stores nothing of a refused
 * request), so the same request may be retried with the same key.
 *
 * A JSON or form request is claimed before its route runs. A multipart request is claimed once
 * its files are read and hashed ({@link claimIdempotency}), so that the files count too.
 * Register before the routes: it rewrites each idempotent route as it is added.
 */
export function idempotentRoutes(app: FastifyInstance, keys: IdempotencyKeys, logger: Logger): void {
  app.decorateRequest('idempotency', null);
  app.addHook('onRoute', function makeIdempotent(route: RouteOptions) {
    if (!route.config?.idempotent) return;
    route.preHandler = [...hooksOf(route.preHandler), readIdempotencyKey];
    route.onSend = [...hooksOf(route.onSend), keepAnswer];
    route.onResponse = [...hooksOf(route.onResponse), releaseUnanswered];
    const handler = route.handler;
    route.handler = async function idempotentHandler(request, reply) {
      try {
        return await handler.call(this, request, reply);
      } catch (error) {
        if (error instanceof Replayed) return replay(reply, error.answer);
        throw error;
      }
    };
  });

  async function readIdempotencyKey(request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers['idempotency-key'];
    if (header === undefined || !request.caller) return;
    if (Array.isArray(header)) throw new InvalidInput('Send one Idempotency-Key header, not several.', 'Idempotency-Key');
    request.idempotency = new PendingKey(keys, request.caller.userId, IdempotencyKeys.check(header, request.caller), request);
    if (request.isMultipart()) return;
    const answer = await request.idempotency.begin({ body: request.body ?? null });
    if (answer) return replay(reply, answer);
  }

  async function keepAnswer(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const claim = request.idempotency?.claim;
    if (!claim) return payload;
    try {
      const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
      if (reply.statusCode >= 200 && reply.statusCode < 300 && body !== null) {
        await claim.complete({ status: reply.statusCode, contentType: String(reply.getHeader('content-type') ?? 'application/json'), body });
      } else {
        await claim.release();
      }
    } catch (error) {
      // The work is done and its answer goes out; a repeat after the claim runs out would run it again.
      logger.error('recording the answer of an idempotent request failed', { url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
    }
    return payload;
  }

  async function releaseUnanswered(request: FastifyRequest) {
    await request.idempotency?.claim?.release().catch(() => {});
  }
}

/**
 * For multipart requests: claims the request's `Idempotency-Key` (when it has one) now that its
 * `content` (fields, and files by hash) is known. A repeat throws, and the route's wrapper
 * answers it with the first answer; call it before doing any work.
 */
export async function claimIdempotency(request: FastifyRequest, content: unknown): Promise<void> {
  const pending = request.idempotency;
  if (!pending || pending.claim) return;
  const answer = await pending.begin(content);
  if (answer) throw new Replayed(answer);
}

function replay(reply: FastifyReply, answer: StoredAnswer): FastifyReply {
  return reply.status(answer.status).header('content-type', answer.contentType).header('idempotent-replayed', 'true').send(answer.body);
}

function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}
