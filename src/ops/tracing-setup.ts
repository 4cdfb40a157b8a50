import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingSettings } from '../config.js';
import { errorMessage, type Logger } from '../logger.js';

/** Trace export of this process: on when an OTLP endpoint is configured. */
export interface Tracing {
  enabled: boolean;
  /** Sends the spans still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider that exports spans over OTLP/HTTP (JSON) in batches, with the W3C
 * trace-context propagator and an AsyncLocalStorage context manager, so spans nest across awaits
 * and a `traceparent` header or stored turn joins the caller's trace. Settings come from the
 * config (the standard OTEL_* variables) and are passed to the SDK explicitly.
 */
export function startTracing(settings: TracingSettings, version: string, logger: Logger): Tracing {
  if (!settings.tracesUrl) return { enabled: false, shutdown: async () => {} };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ ...settings.resourceAttributes, [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: version }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl, headers: settings.headers }), { scheduledDelayMillis: 1000 })],
  });
  provider.register();
  logger.notice('traces are exported over OTLP/HTTP', { endpoint: new URL(settings.tracesUrl).origin, service: settings.serviceName });
  return {
    enabled: true,
    shutdown: () => provider.shutdown().catch((error) => logger.warn('exporting the last spans failed', { error: errorMessage(error) })),
  };
}
