import { ROOT_CONTEXT, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/**
 * Kiln's tracer. Until a tracer provider is registered (only when an OTLP endpoint is set) it
 * makes no-op spans, so instrumented code costs next to nothing when tracing is off.
 */
export const tracer = trace.getTracer('kiln');

/** The W3C traceparent of the active span, to store with a queued turn; null when none is recording. */
export function currentTraceParent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** The context a stored traceparent stands for, so a worker's spans join the request's trace. */
export function contextOfTraceParent(traceParent: string | null): Context {
  if (!traceParent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent: traceParent });
}

/**
 * Runs `fn` in a new active span (a child of `parent`, by default of the active span), ends it
 * when `fn` settles and marks it failed when `fn` throws.
 *
 * @example
 * await inSpan('execute_tool run_command', { 'gen_ai.tool.name': 'run_command' }, () => run());
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, parent: Context = context.active()): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
