import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TokenUsage } from '../core/events/event-types.js';
import type { Instruments } from '../ports/instruments.js';

/** What the gauges read when Prometheus scrapes; each is cheap (an index scan, a counter). */
export interface MetricSources {
  /** Tasks by status, across the installation. */
  taskStatuses(): Promise<Record<string, number>>;
  /** Turns waiting for a worker, and when the oldest of them was queued. */
  queue(): Promise<{ depth: number; oldestQueuedAt: string | null }>;
  openStreams(): number;
  /** PostgreSQL pool connections; null for SQLite (one connection, nothing to watch). */
  databasePool(): { total: number; idle: number; waiting: number } | null;
  /** Commands running and waiting for a slot (KILN_COMMAND_CONCURRENCY); null where no turns run. */
  commands(): { running: number; waiting: number } | null;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LONG_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const TASK_STATUSES = ['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'];

/** Most distinct values a label fed by outside input (model and tool names) may take before `other`. */
const MAX_LABEL_VALUES = 100;

/**
 * Kiln's Prometheus metrics, one registry per process (each process exports its own). The core
 * reports through {@link Instruments}; gauges of shared state are read from the store at scrape.
 *
 * @example
 * const metrics = new KilnMetrics(sources);
 * metrics.modelCall({ provider: 'openai.responses', model: 'gpt-4.1', seconds: 1.2, error: null, usage });
 * await metrics.render(); // text exposition format
 */
export class KilnMetrics implements Instruments {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly turnDuration: Histogram<'outcome'>;
  private readonly modelCalls: Counter<'provider' | 'model' | 'outcome'>;
  private readonly modelErrors: Counter<'provider' | 'model' | 'kind'>;
  private readonly modelDuration: Histogram<'provider' | 'model'>;
  private readonly modelTokens: Counter<'provider' | 'model' | 'type'>;
  private readonly toolCalls: Counter<'tool' | 'status'>;
  private readonly toolDuration: Histogram<'tool'>;
  private readonly deliveryLag: Histogram;
  private readonly blobBytesTotal: Counter<'direction'>;
  private readonly modelNames = new BoundedLabel(MAX_LABEL_VALUES);
  private readonly toolNames = new BoundedLabel(MAX_LABEL_VALUES);

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'kiln_' });
    this.httpRequests = new Counter({
      name: 'kiln_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'kiln_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (for streams: how long they stayed open)',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'kiln_tasks',
      help: 'Tasks by status, across the installation',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await sources.taskStatuses();
        this.reset();
        for (const status of new Set([...TASK_STATUSES, ...Object.keys(counts)])) this.set({ status }, counts[status] ?? 0);
      },
    });
    let queue: Promise<{ depth: number; oldestQueuedAt: string | null }> | null = null;
    // Both queue gauges come from one read per scrape.
    const readQueue = () => (queue ??= sources.queue().finally(() => setImmediate(() => (queue = null))));
    new Gauge({
      name: 'kiln_queue_depth',
      help: 'Turns queued and not yet claimed by a worker',
      registers,
      async collect() {
        this.set((await readQueue()).depth);
      },
    });
    new Gauge({
      name: 'kiln_queue_oldest_age_seconds',
      help: 'Age of the oldest turn waiting for a worker (0 when none waits)',
      registers,
      async collect() {
        const { oldestQueuedAt } = await readQueue();
        this.set(oldestQueuedAt ? Math.max(0, (Date.now() - Date.parse(oldestQueuedAt)) / 1000) : 0);
      },
    });
    this.turnDuration = new Histogram({
      name: 'kiln_turn_duration_seconds',
      help: 'Time a worker spent running a turn, by how it stopped',
      labelNames: ['outcome'],
      buckets: LONG_BUCKETS,
      registers,
    });
    this.modelCalls = new Counter({
      name: 'kiln_model_calls_total',
      help: 'Model calls (each retry counts), by provider, model and outcome (ok or error)',
      labelNames: ['provider', 'model', 'outcome'],
      registers,
    });
    this.modelErrors = new Counter({
      name: 'kiln_model_errors_total',
      help: 'Failed model calls by provider, model and kind (rate_limit, server, client, network, other)',
      labelNames: ['provider', 'model', 'kind'],
      registers,
    });
    this.modelDuration = new Histogram({
      name: 'kiln_model_call_duration_seconds',
      help: 'Time of one model call, from request to the end of its stream',
      labelNames: ['provider', 'model'],
      buckets: LONG_BUCKETS,
      registers,
    });
    this.modelTokens = new Counter({
      name: 'kiln_model_tokens_total',
      help: 'Tokens reported by the provider, by type (input, output, reasoning, cached_input)',
      labelNames: ['provider', 'model', 'type'],
      registers,
    });
    this.toolCalls = new Counter({
      name: 'kiln_tool_calls_total',
      help: 'Tool calls run, by tool name and result status',
      labelNames: ['tool', 'status'],
      registers,
    });
    this.toolDuration = new Histogram({
      name: 'kiln_tool_call_duration_seconds',
      help: 'Time of one tool call',
      labelNames: ['tool'],
      buckets: LONG_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'kiln_open_streams',
      help: 'Event streams (SSE) open on this process',
      registers,
      collect() {
        this.set(sources.openStreams());
      },
    });
    this.deliveryLag = new Histogram({
      name: 'kiln_event_delivery_lag_seconds',
      help: 'Time from an event being written to its delivery to the streams open on this process',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.blobBytesTotal = new Counter({
      name: 'kiln_blob_bytes_total',
      help: 'Bytes written to (in) and read from (out) the blob store',
      labelNames: ['direction'],
      registers,
    });
    /** A gauge of one field of a source that only some processes have (null where absent). */
    const fieldOf = <F extends string>(read: () => Record<F, number> | null, field: F, name: string, help: string) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const value = read();
          if (value) this.set(value[field]);
        },
      });
    if (sources.commands()) {
      fieldOf(() => sources.commands(), 'running', 'kiln_commands_running', 'Commands (run_command) running on this process');
      fieldOf(() => sources.commands(), 'waiting', 'kiln_commands_waiting', 'Commands waiting for a free slot (KILN_COMMAND_CONCURRENCY) on this process');
    }
    if (sources.databasePool()) {
      fieldOf(() => sources.databasePool(), 'total', 'kiln_db_pool_connections', 'PostgreSQL connections held by this process');
      fieldOf(() => sources.databasePool(), 'idle', 'kiln_db_pool_idle_connections', 'PostgreSQL connections idle in the pool');
      fieldOf(() => sources.databasePool(), 'waiting', 'kiln_db_pool_waiting_requests', 'Queries waiting for a free PostgreSQL connection');
    }
  }

  /** The metrics in Prometheus' text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  turnEnded(outcome: string, seconds: number): void {
    this.turnDuration.observe({ outcome }, seconds);
  }

  modelCall(call: { provider: string; model: string; seconds: number; error: string | null; usage: TokenUsage | null }): void {
    const base = { provider: call.provider, model: this.modelNames.of(`${call.provider}\u0000${call.model}`, call.model) };
    this.modelCalls.inc({ ...base, outcome: call.error ? 'error' : 'ok' });
    this.modelDuration.observe(base, call.seconds);
    if (call.error) this.modelErrors.inc({ ...base, kind: call.error });
    const usage = call.usage;
    if (!usage) return;
    const tokens: [string, number][] = [
      ['input', usage.inputTokens],
      ['output', usage.outputTokens],
      ['reasoning', usage.reasoningTokens],
      ['cached_input', usage.cachedInputTokens],
    ];
    for (const [type, n] of tokens) if (n > 0) this.modelTokens.inc({ ...base, type }, n);
  }

  toolCall(call: { tool: string; status: string; seconds: number }): void {
    const tool = this.toolNames.of(call.tool, call.tool);
    this.toolCalls.inc({ tool, status: call.status });
    this.toolDuration.observe({ tool }, call.seconds);
  }

  eventsDelivered(lagSeconds: number): void {
    this.deliveryLag.observe(Math.max(0, lagSeconds));
  }

  blobBytes(direction: 'in' | 'out', bytes: number): void {
    if (bytes > 0) this.blobBytesTotal.inc({ direction }, bytes);
  }
}

/**
 * Label values that come from outside (a model a task names, a tool name a model invents) are
 * kept to a fixed number of distinct values; later newcomers are counted as `other`, so a
 * client cannot grow the number of series without bound.
 */
class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(key: string, value: string): string {
    if (this.seen.has(key)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(key);
    return value;
  }
}
