import os from 'node:os';
import { outboundFetch } from './adapters/http/outbound-fetch.js';
import { SecretClient } from './adapters/http/secret-client.js';
import { SdkMcpConnector } from './adapters/mcp/sdk-mcp-connector.js';
import { MeteredBlobStore } from './adapters/metered-blob-store.js';
import { HttpWebhookSender } from './adapters/http/webhook-sender.js';
import { ModelRegistry, UnknownModel } from './adapters/models/model-registry.js';
import { openBlobStore, openCommandRunner, openSignals, openStorage } from './backends.js';
import { ConfigError, type Config } from './config.js';
import { AgentService } from './core/agents/agent-service.js';
import { ArtifactRecorder } from './core/artifacts/artifact-recorder.js';
import { ArtifactService } from './core/artifacts/artifact-service.js';
import { DownloadLinks } from './core/artifacts/download-links.js';
import { SignedUrls } from './core/artifacts/signed-urls.js';
import { ApiKeys } from './core/auth/api-keys.js';
import { ConsoleSessions } from './core/auth/console-sessions.js';
import { KeyManagement } from './core/auth/key-management.js';
import { deriveKey, encryptionKey } from './core/crypto/encryption-key.js';
import { SealedBox } from './core/crypto/sealed-box.js';
import { EventHub } from './core/events/event-hub.js';
import { IdempotencyKeys } from './core/idempotency/idempotency-keys.js';
import { RateLimiter } from './core/quotas/rate-limiter.js';
import { TaskPurger } from './core/retention/task-purger.js';
import { CommandSlots } from './core/runner/command-slots.js';
import { Housekeeping } from './core/runner/housekeeping.js';
import { recoverAbandonedTurns } from './core/runner/recovery.js';
import { TurnRunner } from './core/runner/turn-runner.js';
import { WorkerPool } from './core/runner/worker-pool.js';
import { Approvals } from './core/tasks/approvals.js';
import { SecretVault } from './core/tasks/secret-vault.js';
import { TaskService } from './core/tasks/task-service.js';
import { WidgetApps } from './core/widgets/widget-apps.js';
import { WidgetTokens } from './core/widgets/widget-tokens.js';
import { WebhookDispatcher } from './core/webhooks/webhook-dispatcher.js';
import { WebhookEndpoints } from './core/webhooks/webhook-endpoints.js';
import { Workspaces } from './core/workspace/workspaces.js';
import { OpenStreams } from './faces/http/open-streams.js';
import { buildHttpServer } from './faces/http/server.js';
import { errorMessage, type Logger } from './logger.js';
import { KilnMetrics } from './ops/metrics.js';
import { checkReadiness, readinessChecks } from './ops/readiness.js';
import { startTracing } from './ops/tracing-setup.js';
import { KILN_VERSION } from './version.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Storage } from './ports/storage.js';

const MB = 1024 * 1024;
/** How long a console sign-in lasts. */
const CONSOLE_SESSION_MS = 12 * 3_600_000;
/** How long a client waits before reconnecting to a stream this process closed on shutdown. */
const STREAM_RETRY_MS = 2000;

export { openStorage } from './backends.js';

export interface Kiln {
  /** Recovers interrupted work, starts the workers, then listens. Resolves with the URL served. */
  start(): Promise<string>;
  /** Stops taking requests, lets running turns finish (briefly), closes storage. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds every port, adapter, service and face from the config.
 * `role` decides what this process does: `api` serves HTTP, `worker` runs turns (and answers
 * only `/healthz`), `all` does both. Separate roles share state through PostgreSQL.
 */
export async function createKiln(config: Config, logger: Logger): Promise<Kiln> {
  if (config.role !== 'all' && !config.databaseUrl) {
    throw new ConfigError(`KILN_ROLE=${config.role} needs DATABASE_URL: separate API and worker processes share their state through PostgreSQL.`);
  }
  const models = new ModelRegistry(config.providers);
  const model = defaultModel(models, config.model);
  const tracing = startTracing(config.tracing, KILN_VERSION, logger);
  const { db, storage } = await openStorage(config);
  const workspaces = new Workspaces(config.dataDir, config.workspaceMb * 1024 * 1024);
  await workspaces.init();
  const streams = new OpenStreams();
  const runsTurns = config.role !== 'api';
  const commandSlots = runsTurns ? new CommandSlots(config.commandConcurrency) : null;
  const metrics = new KilnMetrics({
    taskStatuses: () => storage.tasks.statusCounts(),
    queue: () => storage.tasks.queueStats(),
    openStreams: () => streams.size,
    databasePool: () => db.poolStats(),
    commands: () => commandSlots?.usage() ?? null,
  });
  const rawBlobs = await openBlobStore(config);
  const blobs = new MeteredBlobStore(rawBlobs, metrics);
  const signedUrls = config.signingKey
    ? new SignedUrls(Buffer.from(config.signingKey, 'hex'), config.signedUrlTtlSeconds * 1000)
    : await SignedUrls.fromDataDir(config.dataDir, config.signedUrlTtlSeconds * 1000);
  const keys = new ApiKeys(storage.users);
  if ((await keys.useEnvironmentKey(config.apiKey)).revoked) {
    logger.warn('KILN_API_KEY was revoked and stays refused; set a new key to use one');
  }
  const keyManagement = new KeyManagement({ users: storage.users, keys });
  const idempotency = new IdempotencyKeys(storage.idempotency);
  const purger = new TaskPurger(
    { retention: storage.retention, artifacts: storage.artifacts, blobs, workspaces, logger },
    { retentionDays: config.retentionDays > 0 ? config.retentionDays : null, blobGraceMs: config.blobGraceSeconds * 1000 },
  );
  const webhookSender = new HttpWebhookSender({ allowPrivate: config.webhookAllowPrivate, timeoutMs: config.webhookTimeoutMs });
  const webhooks = new WebhookEndpoints({ store: storage.webhooks, sender: webhookSender, retryMs: config.webhookRetrySeconds * 1000 });
  const chores = new Housekeeping(logger);

  const hub = new EventHub({ delivered: (lag) => metrics.eventsDelivered(lag) });
  const bus = await openSignals(db, { hub, storage, logger });
  const secrets = new SecretVault(config.secretsMaxBytes);
  const forgetEndedSecrets = bus.signals.onTurnEnded((taskId, turn) => secrets.turnEnded(taskId, turn));
  const recorder = new ArtifactRecorder({ artifacts: storage.artifacts, blobs, workspaces });
  const agents = new AgentService({ storage, models });
  const artifacts = new ArtifactService({ storage, blobs, workspaces, recorder });
  // Where this process can be reached by others; only needed when several processes share the work.
  let selfUrl: string | null = null;
  const self = () => (config.databaseUrl ? selfUrl : null);
  if (config.databaseUrl && !config.encryptionKey) {
    logger.warn('KILN_ENCRYPTION_KEY is not set: this process uses the key in its own data dir. Processes that share a database need the same key, or widget tokens and widget apps\' env and secrets work only on the process that made them.');
  }
  const masterKey = await encryptionKey(config.encryptionKey, config.dataDir);
  const box = new SealedBox(deriveKey(masterKey, 'widget variables'));
  const widgetApps = new WidgetApps({ storage, agents, box, maxVariableBytes: config.secretsMaxBytes });
  const widgetTokens = new WidgetTokens({ storage, apps: widgetApps, box, signingKey: deriveKey(masterKey, 'widget tokens') });
  const approvals = new Approvals({ storage, hub, signals: bus.signals });

  const servesApi = config.role !== 'worker';
  const commands = commandSlots ? commandSlots.limit(await openCommandRunner(config, logger)) : null;
  const outbound = outboundFetch({ allowPrivate: config.mcpAllowPrivate });
  const pool = runsTurns
    ? new WorkerPool(
        {
          tasks: storage.tasks,
          signals: bus.signals,
          logger,
          runner: new TurnRunner({
            tasks: storage.tasks,
            hub,
            models,
            defaultModel: config.model,
            commands: commands!,
            toolLimits: config,
            web: config.sandboxNetwork === 'host' ? outbound : null,
            mcp: (turnCommands) => new SdkMcpConnector({ commands: turnCommands, fetch: outbound }),
            workspaces,
            artifacts: storage.artifacts,
            blobs,
            recorder,
            secrets,
            secretSource: new SecretClient(signedUrls),
            signals: bus.signals,
            self,
            sharedWork: Boolean(config.databaseUrl),
            logger,
            maxSteps: config.maxSteps,
            retry: { retries: config.modelRetries, baseMs: config.modelRetryBaseMs },
            contextTokens: config.contextTokens,
            instruments: metrics,
          }),
        },
        {
          concurrency: config.concurrency,
          userConcurrency: config.userConcurrency,
          leaseMs: config.leaseMs,
          sweep: async (runningHere) => {
            await recoverAbandonedTurns({ tasks: storage.tasks, hub, signals: bus.signals, logger }, new Date().toISOString(), runningHere);
          },
        },
      )
    : null;
  const tasks = new TaskService({ storage, hub, signals: bus.signals, workspaces, secrets, models, agents, recorder, secretsHolder: self, endUsers: widgetTokens, turns: pool });

  if (servesApi) chores.every('removing expired idempotency keys', 10 * 60_000, () => idempotency.removeExpired());
  if (runsTurns) chores.every('removing tasks past their retention', 60 * 60_000, () => purger.sweep());

  // The processes that run turns deliver webhooks, in a loop of their own.
  const dispatcher = runsTurns
    ? new WebhookDispatcher(
        { store: storage.webhooks, sender: webhookSender, logger },
        {
          pollMs: config.webhookPollMs,
          timeoutMs: config.webhookTimeoutMs,
          retryBaseMs: config.webhookRetryBaseMs,
          disableAfterMs: config.webhookDisableAfterSeconds * 1000,
        },
      )
    : null;

  let ready = false;
  let stopping: Promise<void> | null = null;
  const http = await buildHttpServer(
    {
      tasks,
      approvals,
      agents,
      artifacts,
      signedUrls,
      links: new DownloadLinks(blobs, signedUrls),
      publicUrl: config.publicUrl,
      keys,
      keyManagement,
      widgetApps,
      widgetTokens,
      corsOrigins: config.corsOrigins,
      sessions: new ConsoleSessions({ keys, users: storage.users, signer: signedUrls }, CONSOLE_SESSION_MS),
      idempotency,
      webhooks,
      purger,
      rateLimiter: config.rateLimit > 0 ? new RateLimiter(storage.rateLimits, { perMinute: config.rateLimit, burst: config.rateLimitBurst }) : null,
      workspaces,
      logger,
      heartbeatMs: config.heartbeatMs,
      streams,
      uploadLimits: { maxFiles: 20, maxFileBytes: 50 * MB, maxFieldBytes: 2 * MB },
    },
    () => ready,
    {
      faces: servesApi,
      internal: { secrets, signedUrls },
      limits: {
        bodyTimeoutMs: config.bodyTimeoutMs,
        bodyMinBytesPerSecond: config.bodyMinBytesPerSecond,
        maxConnections: config.maxConnections,
        maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      },
      ops: {
        metrics,
        metricsMode: config.metrics,
        metricsToken: config.metricsToken,
        readiness: async () => {
          if (!ready) return { ready: false, checks: { started: stopping ? 'failed: shutting down' : 'failed: starting' } };
          return checkReadiness(checks);
        },
      },
    },
  );
  const checks = readinessChecks({ db, blobs: rawBlobs, workersRunning: pool ? () => pool.isRunning : null });

  let secretsSweep: NodeJS.Timeout | undefined;
  return {
    async start() {
      if (config.databaseUrl) {
        // Turn endings reach this process as notifications; one lost while the connection to
        // PostgreSQL was down must not keep secrets here for good.
        secretsSweep = setInterval(() => {
          secrets.dropEnded(storage.tasks).catch((error) => logger.error('dropping the secrets of ended turns failed', { error: errorMessage(error) }));
        }, config.leaseMs);
        secretsSweep.unref();
      }
      if (runsTurns) {
        // With SQLite this process is the only one, so any turn still held was cut off; with
        // PostgreSQL only turns whose lease ran out are taken back.
        const recovered = await recoverAbandonedTurns(
          { tasks: storage.tasks, hub, signals: bus.signals, logger },
          config.databaseUrl ? new Date().toISOString() : null,
        );
        if (recovered > 0) logger.warn(`${recovered} interrupted turn(s) from the previous run marked failed`);
        pool!.start();
        // With SQLite this is the only process: a delivery still leased was cut off by a crash.
        if (!config.databaseUrl) await storage.webhooks.releaseAllLeases();
        dispatcher!.start();
      }
      collectOrphanBlobs(blobs, storage, logger, config.blobGraceSeconds * 1000);
      chores.start();
      logger.notice(`model: ${model.description}`);
      const address = await http.listen({ port: config.port, host: config.host });
      if (servesApi && !config.publicUrl && !isLoopback(config.host)) {
        logger.warn(
          `KILN_PUBLIC_URL is not set while listening on ${config.host}: signed download links name the address each client connected to ` +
            '(its Host header only when that names the same address). Set KILN_PUBLIC_URL to the address clients use (a DNS name, a proxy).',
        );
      }
      selfUrl = config.advertiseUrl ?? reachableAddress(address);
      ready = true;
      logger.notice(`Kiln listening on ${address}`, {
        role: config.role,
        model: model.name,
        database: config.databaseUrl ? 'postgres' : 'sqlite',
        blobs: config.blobStore ?? 'local',
        data: config.dataDir,
        concurrency: runsTurns ? config.concurrency : undefined,
        userConcurrency: runsTurns ? config.userConcurrency : undefined,
        commandConcurrency: runsTurns ? config.commandConcurrency : undefined,
      });
      return address;
    },
    stop() {
      stopping ??= (async () => {
        ready = false;
        clearInterval(secretsSweep);
        // Streams end with a reconnect hint before the server closes their connections.
        await streams.closeAll(STREAM_RETRY_MS, 1000);
        await http.close();
        await chores.stop();
        await pool?.stop(config.shutdownGraceMs);
        await dispatcher?.stop();
        forgetEndedSecrets();
        await bus.close();
        await storage.close();
        await tracing.shutdown();
      })();
      return stopping;
    },
  };
}

/**
 * Removes blobs that no version refers to (left by a crash between storing bytes and recording
 * their version). Runs in the background; only blobs not written for `graceMs`
 * (KILN_BLOB_GRACE_SECONDS) are considered, so writes in progress are never touched.
 */
function collectOrphanBlobs(blobs: BlobStore, storage: Storage, logger: Logger, graceMs: number): void {
  blobs
    .collectGarbage((sha) => storage.artifacts.isBlobReferenced(sha), new Date(Date.now() - graceMs))
    .then((removed) => removed > 0 && logger.info(`removed ${removed} unreferenced blob(s)`))
    .catch((error) => logger.error('blob clean-up failed', { error: errorMessage(error) }));
}

/** The listening address, with a wildcard host replaced by this machine's name. */
function reachableAddress(address: string): string {
  const url = new URL(address);
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = os.hostname();
  return url.origin;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function defaultModel(models: ModelRegistry, spec: string) {
  try {
    return models.resolve(spec);
  } catch (error) {
    if (error instanceof UnknownModel) throw new ConfigError(`KILN_MODEL=${JSON.stringify(spec)}: ${error.message}`);
    throw error;
  }
}
