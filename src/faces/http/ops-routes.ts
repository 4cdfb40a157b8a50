import { createHash, timingSafeEqual } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Context } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tracer } from '../../core/tracing.js';
import type { KilnMetrics } from '../../ops/metrics.js';
import type { Readiness } from '../../ops/readiness.js';

export interface OpsRouteDeps {
  metrics: KilnMetrics;
  /** `/metrics`: not served (`off`), open (`on`), or only with the bearer token (`token`). */
  metricsMode: 'off' | 'on' | 'token';
  metricsToken: string | undefined;
  readiness: () => Promise<Readiness>;
}

/** Probes and scrapes: no span of their own, so traces show the work, not the monitoring. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * What operators watch: every request is counted and timed by its route pattern (never the raw
 * URL) and traced as a server span that joins the caller's trace (W3C `traceparent`); `/readyz`
 * says whether this process can do its work; `/metrics` serves Prometheus' text format.
 */
export async function opsRoutes(app: FastifyInstance, deps: OpsRouteDeps): Promise<void> {
  const contexts = new WeakMap<FastifyRequest, Context>();

  app.addHook('onRequest', function observeRequest(request, reply, done) {
    const started = performance.now();
    const path = request.url.split('?')[0]!;
    const traced = !UNTRACED.has(path);
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = traced
      ? tracer.startSpan(request.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': path } }, parent)
      : null;
    // Streams are hijacked and skip fastify's onResponse: the socket's end is the one moment every request has.
    reply.raw.once('close', () => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = reply.raw.headersSent ? reply.raw.statusCode : 499;
      deps.metrics.httpRequest(request.method, route, status, (performance.now() - started) / 1000);
      if (!span) return;
      span.updateName(`${request.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    if (!span) return done();
    const active = trace.setSpan(parent, span);
    contexts.set(request, active);
    context.with(active, done);
  });
  // Body parsing may leave the request's context; the handler runs in it again.
  app.addHook('preHandler', function enterRequestContext(request, _reply, done) {
    const active = contexts.get(request);
    if (!active) return done();
    context.with(active, done);
  });

  app.get('/readyz', async function readyz(_request, reply) {
    const readiness = await deps.readiness();
    return reply.status(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : 'unavailable', checks: readiness.checks });
  });

  const expected = deps.metricsToken ? digest(deps.metricsToken) : null;
  app.get('/metrics', async function metrics(request, reply) {
    if (deps.metricsMode === 'off') {
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'Metrics are off: set KILN_METRICS=on, or KILN_METRICS_TOKEN to require a bearer token.' } });
    }
    if (deps.metricsMode === 'token') {
      const header = request.headers.authorization ?? '';
      const given = /^Bearer (\S+)$/i.exec(header)?.[1];
      if (!given || !expected || !timingSafeEqual(digest(given), expected)) {
        return reply
          .status(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: { code: given ? 'INVALID_API_KEY' : 'AUTH_REQUIRED', message: 'Send the metrics token as Authorization: Bearer <KILN_METRICS_TOKEN>.' } });
      }
    }
    return reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.render());
  });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
