import os from 'node:os';
import path from 'node:path';
import { parseOrigin } from './core/widgets/origins.js';

/**
 * Kiln's settings, read once from the environment and `kiln serve` flags.
 * Nothing else in the code base reads `process.env`.
 *
 * @example
 * const config = loadConfig(process.env, { port: '9000' });
 * config.port; // 9000 (the flag wins over PORT)
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** An admin key accepted for user `default`, from KILN_API_KEY. */
  apiKey: string | undefined;
  model: string;
  /** Turns this process runs at once. */
  concurrency: number;
  /** Turns of one user this process runs at once (so that one user cannot take every worker slot). */
  userConcurrency: number;
  logLevel: LogLevel;
  /** Wall-clock limit for one `run_command` call. */
  commandTimeoutMs: number;
  /** Bytes of command output kept for the model and the event log. */
  commandOutputLimit: number;
  /** Largest total size of the secrets (names and values) one create or follow-up may send. */
  secretsMaxBytes: number;
  /** How `run_command` is isolated: `bubblewrap` (default) or, by explicit choice, `unsandboxed`. */
  sandbox: 'bubblewrap' | 'unsandboxed';
  /** Network for commands: `none` (default), or `host` to share the server's network. */
  sandboxNetwork: 'none' | 'host';
  /**
   * Whether MCP servers and fetch_url may reach loopback, link-local and private addresses
   * (off by default: Kiln itself makes those requests, from inside the operator's network).
   */
  mcpAllowPrivate: boolean;
  /** Commands (`run_command`) this process runs at once, for all its turns. */
  commandConcurrency: number;
  commandCpuSeconds: number;
  commandMemoryMb: number;
  commandProcesses: number;
  commandFileMb: number;
  /** Total size a task's workspace may reach through commands. */
  workspaceMb: number;
  /** Model steps (model call plus its tool calls) allowed in one turn. */
  maxSteps: number;
  /** Interval of the `:heartbeat` comment on open streams. */
  heartbeatMs: number;
  /** How far the JavaScript heap may grow past what it held after its last full collection, in percent (0: V8's own sizing). */
  heapHeadroomPercent: number;
  /** Address clients use to reach Kiln, for signed download links (default: taken from each request). */
  publicUrl: string | undefined;
  /** How long signed download links stay valid. */
  signedUrlTtlSeconds: number;
  /** Key that signs download links (hex); every API process of one installation needs the same. */
  signingKey: string | undefined;
  /**
   * Key (hex) that encrypts widget apps' env and secrets at rest and from which widget tokens'
   * signing key is derived; every process of one installation needs the same.
   */
  encryptionKey: string | undefined;
  /** Browser origins whose pages may call Kiln with an API key (not only with a widget token). */
  corsOrigins: string[];
  /** How other Kiln processes reach this one (for a task's secrets); default: the address it listens on. */
  advertiseUrl: string | undefined;
  /** Retries of a model call after a transient provider error (429, 5xx, dropped connection). */
  modelRetries: number;
  /** First retry delay; each further retry waits twice as long (a Retry-After header wins). */
  modelRetryBaseMs: number;
  /** Estimated tokens of earlier conversation sent with a follow-up; older turns beyond it are left out. */
  contextTokens: number;
  providers: ProviderSettings;
  /** PostgreSQL connection string; SQLite in the data dir when unset. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema to work in (created when missing). */
  databaseSchema: string | undefined;
  /** `s3://bucket/prefix` for blobs in S3; the data dir when unset. */
  blobStore: string | undefined;
  s3Endpoint: string | undefined;
  s3Region: string;
  /** `api` serves HTTP, `worker` runs turns, `all` does both. */
  role: 'api' | 'worker' | 'all';
  /** How long a worker's claim on a turn lasts without renewal; a dead worker's turn is taken back after it. */
  leaseMs: number;
  /** Time allowed to receive a request's headers, and its body before {@link bodyMinBytesPerSecond} extends it. */
  bodyTimeoutMs: number;
  /** Each byte received extends a body's deadline by 1/this seconds, so slow but steady uploads finish. */
  bodyMinBytesPerSecond: number;
  /** Open connections, in all; a connection beyond gets a 503 and is closed. */
  maxConnections: number;
  /** Open connections from one remote address. */
  maxConnectionsPerAddress: number;
  /** Webhook endpoints may be loopback, private or link-local addresses (otherwise refused). */
  webhookAllowPrivate: boolean;
  /** Time one webhook delivery attempt may take, connection included. */
  webhookTimeoutMs: number;
  /** First delay before a failed delivery is tried again; each later one doubles, up to an hour. */
  webhookRetryBaseMs: number;
  /** How long a delivery is retried before it is given up. */
  webhookRetrySeconds: number;
  /** An endpoint whose every delivery failed for this long is disabled. */
  webhookDisableAfterSeconds: number;
  /** How often a worker looks for due webhook deliveries. */
  webhookPollMs: number;
  /** Requests a minute per API key, shared by every process; 0: no limit. */
  rateLimit: number;
  /** Requests one key may send at once (the token bucket's size). */
  rateLimitBurst: number;
  /** Ended tasks idle for longer are removed (an agent's retentionDays wins); 0: kept for good. */
  retentionDays: number;
  /** Blobs no version refers to are removed only when not written for this long. */
  blobGraceSeconds: number;
  /** `text` (one readable line per entry) or `json` (one JSON object per line). */
  logFormat: LogFormat;
  /** `/metrics`: `off`, `on` (open to anyone who reaches the port) or `token` (needs `metricsToken` as a bearer token). */
  metrics: 'off' | 'on' | 'token';
  metricsToken: string | undefined;
  /** How long running turns may take to finish on SIGTERM before they are handed back to the queue. */
  shutdownGraceMs: number;
  /** OpenTelemetry trace export, from the standard OTEL_* variables; off when no endpoint is set. */
  tracing: TracingSettings;
}

/** Where and as what spans are exported (OTLP over HTTP, JSON). */
export interface TracingSettings {
  /** The traces URL (`.../v1/traces`); undefined turns tracing off. */
  tracesUrl: string | undefined;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
}

/** Credentials and addresses of model providers, each read from its customary variable. */
export interface ProviderSettings {
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  anthropicApiKey: string | undefined;
  anthropicBaseUrl: string | undefined;
  /** Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio). */
  compatibleBaseUrl: string | undefined;
  compatibleApiKey: string | undefined;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type LogFormat = 'text' | 'json';

/** A setting was given a value Kiln cannot use; the message names the variable or flag. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, name: string) => T;

interface Setting<K extends keyof Config> {
  key: K;
  env: string;
  flag?: string;
  help: string;
  parse: Parser<Config[K]>;
  /** The default; a function gets the environment and the settings listed before this one. */
  fallback: Config[K] | ((env: Env, earlier: Partial<Config>) => Config[K]);
}

type Env = Record<string, string | undefined>;

const integer =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}".`);
    const value = Number(raw.trim());
    if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}.`);
    return value;
  };

/** A value that must match `pattern`, trimmed (and without trailing slashes when `url`); `rule` says what is expected. */
const matching =
  (pattern: RegExp, rule: string, url = false): Parser<string> =>
  (raw, name) => {
    const value = url ? raw.trim().replace(/\/+$/, '') : raw.trim();
    if (!pattern.test(value)) throw new ConfigError(`${name} ${rule}.`);
    return value;
  };

const httpUrl = matching(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL', true);

const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (raw, name) => {
    const value = raw.trim().toLowerCase();
    if (!values.includes(value as T)) throw new ConfigError(`${name} must be one of ${values.join(', ')}; got "${raw}".`);
    return value as T;
  };

const boolean: Parser<boolean> = (raw, name) => {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(`${name} must be true or false; got "${raw}".`);
};

const text: Parser<string> = (raw, name) => {
  if (raw.trim() === '') throw new ConfigError(`${name} is set but empty; unset it or give it a value.`);
  return raw.trim();
};

const yesNo: Parser<boolean> = (raw, name) => oneOf(['true', 'false'])(raw, name) === 'true';

const API_KEY_SHAPE = /^kiln_[0-9a-f]{64}$/;

const SETTINGS = [
  { key: 'port', env: 'PORT', flag: 'port', help: 'TCP port to listen on (0 picks a free one)', parse: integer(0, 65535), fallback: 8080 },
  { key: 'host', env: 'HOST', flag: 'host', help: 'address to bind', parse: text, fallback: '127.0.0.1' },
  {
    key: 'dataDir',
    env: 'KILN_DATA_DIR',
    flag: 'data-dir',
    help: 'database, blobs and workspaces',
    parse: (raw, name) => path.resolve(text(raw, name)),
    fallback: () => path.resolve('.kiln'),
  },
  {
    key: 'apiKey',
    env: 'KILN_API_KEY',
    flag: 'api-key',
    help: 'an admin API key accepted for user "default"',
    parse: (raw, name) => {
      const key = raw.trim();
      if (!API_KEY_SHAPE.test(key)) {
        throw new ConfigError(
          `${name} must be "kiln_" followed by 64 lowercase hex characters; ` +
            'make one with `npx kiln keys create --user default` or `echo kiln_$(openssl rand -hex 32)`.',
        );
      }
      return key;
    },
    fallback: undefined,
  },
  { key: 'model', env: 'KILN_MODEL', flag: 'model', help: 'model as provider:model, or "offline"', parse: text, fallback: 'offline' },
  {
    key: 'concurrency',
    env: 'KILN_CONCURRENCY',
    flag: 'concurrency',
    help: 'turns run at once (a turn mostly waits on its model; commands are limited by KILN_COMMAND_CONCURRENCY)',
    parse: integer(1, 4096),
    fallback: 256,
  },
  {
    key: 'userConcurrency',
    env: 'KILN_USER_CONCURRENCY',
    flag: 'user-concurrency',
    help: "tasks of one user run at once (default: half of KILN_CONCURRENCY, rounded up)",
    parse: integer(1, 1024),
    fallback: (_env, earlier) => Math.ceil(earlier.concurrency! / 2),
  },
  {
    key: 'logLevel',
    env: 'KILN_LOG_LEVEL',
    flag: 'log-level',
    help: 'debug, info, warn, error or silent',
    parse: oneOf(['debug', 'info', 'warn', 'error', 'silent']),
    fallback: 'info',
  },
  {
    key: 'commandTimeoutMs',
    env: 'KILN_COMMAND_TIMEOUT_MS',
    help: 'wall-clock limit of one run_command call',
    parse: integer(100, 86_400_000),
    fallback: 120_000,
  },
  {
    key: 'commandOutputLimit',
    env: 'KILN_COMMAND_OUTPUT_LIMIT',
    help: 'bytes of command output kept',
    parse: integer(1024, 16 * 1024 * 1024),
    fallback: 64 * 1024,
  },
  {
    key: 'secretsMaxBytes',
    env: 'KILN_SECRETS_MAX_BYTES',
    help: 'bytes of secrets (names and values) a task or follow-up may send',
    parse: integer(64, 16 * 1024 * 1024),
    fallback: 64 * 1024,
  },
  {
    key: 'sandbox',
    env: 'KILN_SANDBOX',
    help: 'bubblewrap (isolated commands) or unsandboxed (commands run on the host: unsafe)',
    parse: oneOf(['bubblewrap', 'unsandboxed']),
    fallback: 'bubblewrap',
  },
  {
    key: 'sandboxNetwork',
    env: 'KILN_SANDBOX_NETWORK',
    help: 'none (commands have no network) or host (commands share the server\'s network)',
    parse: oneOf(['none', 'host']),
    fallback: 'none',
  },
  {
    key: 'mcpAllowPrivate',
    env: 'KILN_MCP_ALLOW_PRIVATE',
    help: 'true lets MCP servers and fetch_url reach loopback, link-local and private addresses',
    parse: boolean,
    fallback: false,
  },
  {
    key: 'commandConcurrency',
    env: 'KILN_COMMAND_CONCURRENCY',
    flag: 'command-concurrency',
    help: 'commands run at once by all turns of this process; more wait their turn (default: twice the CPU count, at least 4)',
    parse: integer(1, 1024),
    fallback: () => Math.max(4, 2 * os.availableParallelism()),
  },
  { key: 'commandCpuSeconds', env: 'KILN_COMMAND_CPU_SECONDS', help: 'CPU time limit of one command', parse: integer(1, 86_400), fallback: 60 },
  { key: 'commandMemoryMb', env: 'KILN_COMMAND_MEMORY_MB', help: 'address-space limit of a command\'s processes (MB)', parse: integer(16, 1_048_576), fallback: 2048 },
  { key: 'commandProcesses', env: 'KILN_COMMAND_PROCESSES', help: 'processes a command may run at once', parse: integer(4, 100_000), fallback: 256 },
  { key: 'commandFileMb', env: 'KILN_COMMAND_FILE_MB', help: 'largest file a command may write (MB)', parse: integer(1, 1_048_576), fallback: 1024 },
  { key: 'workspaceMb', env: 'KILN_WORKSPACE_MB', help: 'largest size of a task workspace (MB)', parse: integer(1, 10_485_760), fallback: 4096 },
  { key: 'maxSteps', env: 'KILN_MAX_STEPS', help: 'model steps allowed per turn', parse: integer(1, 1000), fallback: 50 },
  { key: 'heartbeatMs', env: 'KILN_HEARTBEAT_MS', help: 'interval of stream heartbeats', parse: integer(100, 3_600_000), fallback: 15_000 },
  {
    key: 'heapHeadroomPercent',
    env: 'KILN_HEAP_HEADROOM_PERCENT',
    help: 'how far the JavaScript heap may grow past its live size before a full collection, in percent; 0 leaves it to V8, which grows it up to 4x under load (more memory, a little less CPU)',
    parse: integer(0, 300),
    fallback: 30,
  },
  {
    key: 'publicUrl',
    env: 'KILN_PUBLIC_URL',
    help: 'address clients reach Kiln at, for signed links (default: from each request)',
    parse: httpUrl,
    fallback: undefined,
  },
  {
    key: 'signingKey',
    env: 'KILN_SIGNING_KEY',
    help: 'hex key (64+ characters) that signs download links; default: one kept in the data dir',
    parse: (raw, name) => {
      const key = raw.trim().toLowerCase();
      if (!/^([0-9a-f]{2}){32,}$/.test(key)) throw new ConfigError(`${name} must be at least 64 hex characters; make one with \`openssl rand -hex 32\`.`);
      return key;
    },
    fallback: undefined,
  },
  {
    key: 'encryptionKey',
    env: 'KILN_ENCRYPTION_KEY',
    help: 'hex key (64+ characters) that encrypts widget apps\' env and secrets and signs widget tokens; default: one kept in the data dir',
    parse: (raw, name) => {
      const key = raw.trim().toLowerCase();
      if (!/^([0-9a-f]{2}){32,}$/.test(key)) throw new ConfigError(`${name} must be at least 64 hex characters; make one with \`openssl rand -hex 32\`.`);
      return key;
    },
    fallback: undefined,
  },
  {
    key: 'corsOrigins',
    env: 'KILN_CORS_ORIGINS',
    help: 'comma-separated browser origins (https://app.example) whose pages may use API keys',
    parse: origins,
    fallback: [],
  },
  {
    key: 'advertiseUrl',
    env: 'KILN_ADVERTISE_URL',
    help: "how other Kiln processes reach this one (default: its listening address)",
    parse: httpUrl,
    fallback: undefined,
  },
  { key: 'signedUrlTtlSeconds', env: 'KILN_SIGNED_URL_TTL_SECONDS', help: 'lifetime of signed download links', parse: integer(1, 7 * 86_400), fallback: 900 },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    flag: 'database-url',
    help: 'postgres://... to keep state in PostgreSQL (default: SQLite in the data dir)',
    parse: matching(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL'),
    fallback: undefined,
  },
  {
    key: 'databaseSchema',
    env: 'KILN_DB_SCHEMA',
    help: 'PostgreSQL schema to use (created when missing)',
    parse: matching(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain identifier (letters, digits, _)'),
    fallback: undefined,
  },
  {
    key: 'blobStore',
    env: 'KILN_BLOB_STORE',
    help: 's3://bucket/prefix to keep file contents in S3 (default: the data dir)',
    parse: matching(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/, 'must look like s3://bucket or s3://bucket/prefix'),
    fallback: undefined,
  },
  {
    key: 's3Endpoint',
    env: 'S3_ENDPOINT',
    help: 'S3 endpoint for S3-compatible servers (MinIO and the like; path-style addressing)',
    parse: httpUrl,
    fallback: undefined,
  },
  { key: 's3Region', env: 'S3_REGION', help: 'S3 region', parse: text, fallback: 'us-east-1' },
  { key: 'role', env: 'KILN_ROLE', flag: 'role', help: 'api (HTTP only), worker (runs turns) or all', parse: oneOf(['api', 'worker', 'all']), fallback: 'all' },
  { key: 'leaseMs', env: 'KILN_LEASE_MS', help: "how long a worker's claim lasts without renewal", parse: integer(1000, 3_600_000), fallback: 30_000 },
  {
    key: 'logFormat',
    env: 'KILN_LOG_FORMAT',
    flag: 'log-format',
    help: 'text (one readable line per entry) or json (one JSON object per line)',
    parse: oneOf(['text', 'json']),
    fallback: 'text',
  },
  {
    key: 'metrics',
    env: 'KILN_METRICS',
    help: 'Prometheus metrics at /metrics: off, on, or token (needs KILN_METRICS_TOKEN); default: token when that is set, else off',
    parse: oneOf(['off', 'on', 'token']),
    fallback: (env) => (env.KILN_METRICS_TOKEN ? 'token' : 'off'),
  },
  {
    key: 'metricsToken',
    env: 'KILN_METRICS_TOKEN',
    help: 'bearer token a scraper must send for /metrics (16+ characters)',
    parse: matching(/^\S{16,}$/, 'must be at least 16 characters without spaces (e.g. `openssl rand -hex 24`)'),
    fallback: undefined,
  },
  {
    key: 'shutdownGraceMs',
    env: 'KILN_SHUTDOWN_GRACE_MS',
    help: 'on SIGTERM, how long running turns may finish before they are handed back to the queue',
    parse: integer(0, 3_600_000),
    fallback: 10_000,
  },
  { key: 'modelRetries', env: 'KILN_MODEL_RETRIES', help: 'retries of a model call after a transient error', parse: integer(0, 20), fallback: 3 },
  { key: 'modelRetryBaseMs', env: 'KILN_MODEL_RETRY_BASE_MS', help: 'first retry delay (doubles each time)', parse: integer(1, 600_000), fallback: 1000 },
  {
    key: 'bodyTimeoutMs',
    env: 'KILN_BODY_TIMEOUT_MS',
    help: 'time to receive request headers, and a body (plus time per byte, see below)',
    parse: integer(100, 3_600_000),
    fallback: 30_000,
  },
  {
    key: 'bodyMinBytesPerSecond',
    env: 'KILN_BODY_MIN_BYTES_PER_SECOND',
    help: 'slowest average rate a request body may arrive at past KILN_BODY_TIMEOUT_MS',
    parse: integer(1, 1024 * 1024 * 1024),
    fallback: 16 * 1024,
  },
  { key: 'maxConnections', env: 'KILN_MAX_CONNECTIONS', help: 'open connections in all (more get 503 and are closed)', parse: integer(1, 1_000_000), fallback: 1024 },
  {
    key: 'maxConnectionsPerAddress',
    env: 'KILN_MAX_CONNECTIONS_PER_ADDRESS',
    help: 'open connections from one client address',
    parse: integer(1, 1_000_000),
    fallback: 256,
  },
  {
    key: 'contextTokens',
    env: 'KILN_CONTEXT_TOKENS',
    help: 'estimated tokens of earlier conversation sent on follow-ups',
    parse: integer(1000, 10_000_000),
    fallback: 100_000,
  },
  {
    key: 'webhookAllowPrivate',
    env: 'KILN_WEBHOOK_ALLOW_PRIVATE',
    help: 'true lets webhook endpoints be loopback, private or link-local addresses',
    parse: yesNo,
    fallback: false,
  },
  { key: 'webhookTimeoutMs', env: 'KILN_WEBHOOK_TIMEOUT_MS', help: 'time one webhook delivery attempt may take', parse: integer(100, 300_000), fallback: 10_000 },
  {
    key: 'webhookRetryBaseMs',
    env: 'KILN_WEBHOOK_RETRY_BASE_MS',
    help: 'first delay before a failed webhook delivery is retried (doubles, up to an hour)',
    parse: integer(10, 3_600_000),
    fallback: 5_000,
  },
  {
    key: 'webhookRetrySeconds',
    env: 'KILN_WEBHOOK_RETRY_SECONDS',
    help: 'how long a webhook delivery is retried before it is given up',
    parse: integer(1, 30 * 86_400),
    fallback: 86_400,
  },
  {
    key: 'webhookDisableAfterSeconds',
    env: 'KILN_WEBHOOK_DISABLE_AFTER_SECONDS',
    help: 'a webhook endpoint failing this long is disabled',
    parse: integer(1, 365 * 86_400),
    fallback: 3 * 86_400,
  },
  {
    key: 'retentionDays',
    env: 'KILN_RETENTION_DAYS',
    help: 'ended tasks idle for more days are removed with their files (0: kept for good)',
    parse: integer(0, 36_500),
    fallback: 0,
  },
  {
    key: 'blobGraceSeconds',
    env: 'KILN_BLOB_GRACE_SECONDS',
    help: 'blobs no version refers to are removed once not written for this long',
    parse: integer(0, 30 * 86_400),
    fallback: 3600,
  },
  { key: 'rateLimit', env: 'KILN_RATE_LIMIT', help: 'requests a minute per API key (0: no limit)', parse: integer(0, 10_000_000), fallback: 0 },
  {
    key: 'rateLimitBurst',
    env: 'KILN_RATE_LIMIT_BURST',
    help: 'requests one API key may send at once (default: KILN_RATE_LIMIT)',
    parse: integer(1, 10_000_000),
    fallback: (_env, earlier) => Math.max(1, earlier.rateLimit!),
  },
  { key: 'webhookPollMs', env: 'KILN_WEBHOOK_POLL_MS', help: 'how often due webhook deliveries are looked for', parse: integer(10, 600_000), fallback: 1000 },
] satisfies Setting<keyof Config>[] as Setting<keyof Config>[];

const PROVIDER_VARIABLES: { key: keyof ProviderSettings; env: string; help: string; url?: boolean }[] = [
  { key: 'openaiApiKey', env: 'OPENAI_API_KEY', help: 'key for openai:<model>' },
  { key: 'openaiBaseUrl', env: 'OPENAI_BASE_URL', help: 'another address for the OpenAI API (optional)', url: true },
  { key: 'anthropicApiKey', env: 'ANTHROPIC_API_KEY', help: 'key for anthropic:<model>' },
  { key: 'anthropicBaseUrl', env: 'ANTHROPIC_BASE_URL', help: 'another address for the Anthropic API (optional)', url: true },
  { key: 'compatibleBaseUrl', env: 'KILN_MODEL_BASE_URL', help: 'base URL for openai-compatible:<model>', url: true },
  { key: 'compatibleApiKey', env: 'KILN_MODEL_API_KEY', help: 'key for the OpenAI-compatible server (optional)' },
];

const TRACING_VARIABLES: { env: string; help: string }[] = [
  { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', help: 'OTLP/HTTP collector base URL (traces go to <url>/v1/traces); unset: no tracing' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', help: 'full OTLP/HTTP traces URL (wins over the base URL)' },
  { env: 'OTEL_EXPORTER_OTLP_HEADERS', help: 'headers sent to the collector: key=value,key2=value2' },
  { env: 'OTEL_SERVICE_NAME', help: 'service.name of the spans (default kiln)' },
  { env: 'OTEL_RESOURCE_ATTRIBUTES', help: 'more resource attributes: key=value,key2=value2' },
];

/** Flags `kiln serve` accepts, each overriding the variable of the same setting. */
export const SERVE_FLAGS = SETTINGS.filter((s) => s.flag).map((s) => ({ flag: s.flag!, env: s.env, help: s.help }));

/** Every variable Kiln reads, for `--help`. */
export const ENV_VARIABLES = [...SETTINGS, ...PROVIDER_VARIABLES, ...TRACING_VARIABLES].map((s) => ({ env: s.env, help: s.help }));


/** A comma-separated list of origins (`scheme://host[:port]`), each written as browsers send it. */
function origins(raw: string, name: string): string[] {
  const list = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  return list.map((entry) => {
    const origin = parseOrigin(entry);
    if (!origin) {
      throw new ConfigError(`${name}: "${entry}" is not an origin; write each as scheme://host[:port], without a path (e.g. https://app.example.com).`);
    }
    return origin;
  });
}

/**
 * Builds the typed config. `flags` are `kiln serve` options by flag name and win over `env`.
 * Throws {@link ConfigError} naming the first bad variable or flag.
 */
export function loadConfig(env: Env, flags: Record<string, string | undefined> = {}): Config {
  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const setting of SETTINGS) {
    const fromFlag = setting.flag ? flags[setting.flag] : undefined;
    const raw = fromFlag ?? env[setting.env];
    const name = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
    if (raw === undefined || (fromFlag === undefined && raw === '')) {
      config[setting.key] = typeof setting.fallback === 'function' ? setting.fallback(env, config as Partial<Config>) : setting.fallback;
    } else {
      config[setting.key] = setting.parse(raw, name);
    }
  }
  const providers: Partial<ProviderSettings> = {};
  for (const variable of PROVIDER_VARIABLES) {
    const raw = env[variable.env]?.trim();
    if (raw && variable.url && !/^https?:\/\/[^\s]+$/.test(raw)) {
      throw new ConfigError(`${variable.env} must be an http:// or https:// URL, got "${raw}".`);
    }
    providers[variable.key] = raw || undefined;
  }
  config.providers = providers;
  if (config.metrics === 'token' && !config.metricsToken) {
    throw new ConfigError('KILN_METRICS=token needs KILN_METRICS_TOKEN, the bearer token scrapers send (e.g. `openssl rand -hex 24`).');
  }
  config.tracing = tracingSettings(env);
  return config as Config;
}

/** The standard OpenTelemetry exporter variables (OTLP over HTTP), read here and handed to the SDK. */
function tracingSettings(env: Env): TracingSettings {
  const url = (name: string) => {
    const raw = env[name]?.trim();
    return raw ? httpUrl(raw, name) : undefined;
  };
  const base = url('OTEL_EXPORTER_OTLP_ENDPOINT');
  return {
    tracesUrl: url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? (base ? `${base}/v1/traces` : undefined),
    headers: keyValues(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS'),
    serviceName: env.OTEL_SERVICE_NAME?.trim() || 'kiln',
    resourceAttributes: keyValues(env.OTEL_RESOURCE_ATTRIBUTES, 'OTEL_RESOURCE_ATTRIBUTES'),
  };
}

/** `key=value,key2=value2` with percent-encoded values, as the OpenTelemetry specification writes them. */
function keyValues(raw: string | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${name} must be key=value pairs separated by commas.`);
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(`${name} has a badly percent-encoded pair.`);
    }
  }
  return out;
}
