import fs from 'node:fs/promises';
import path from 'node:path';
import { LocalSignals } from './adapters/memory/local-signals.js';
import { ModelRegistry, UnknownModel } from './adapters/models/model-registry.js';
import { LocalCommandRunner } from './adapters/process/local-command-runner.js';
import { BubblewrapRunner, sandboxProgramsMissing } from './adapters/sandbox/bubblewrap-runner.js';
import { UnavailableRunner } from './adapters/sandbox/unavailable-runner.js';
import { openSqlStorage } from './adapters/sql/sql-storage.js';
import { SqliteDatabase } from './adapters/sqlite/sqlite-database.js';
import { ConfigError, type Config } from './config.js';
import { LocalBlobStore } from './adapters/fs/local-blob-store.js';
import { ToolExecutor } from './core/agent/tools.js';
import { AgentService } from './core/agents/agent-service.js';
import { ArtifactRecorder } from './core/artifacts/artifact-recorder.js';
import { ArtifactService } from './core/artifacts/artifact-service.js';
import { SignedUrls } from './core/artifacts/signed-urls.js';
import { ApiKeys } from './core/auth/api-keys.js';
import { EventHub } from './core/events/event-hub.js';
import { recoverAbandonedTurns } from './core/runner/recovery.js';
import { TurnRunner } from './core/runner/turn-runner.js';
import { WorkerPool } from './core/runner/worker-pool.js';
import { Approvals } from './core/tasks/approvals.js';
import { SecretVault } from './core/tasks/secret-vault.js';
import { TaskService } from './core/tasks/task-service.js';
import { Workspaces } from './core/workspace/workspaces.js';
import { buildHttpServer } from './faces/http/server.js';
import type { Logger } from './logger.js';
import type { CommandRunner } from './ports/command-runner.js';
import type { Storage } from './ports/storage.js';

const MB = 1024 * 1024;
const LEASE_MS = 30_000;
const SHUTDOWN_GRACE_MS = 10_000;

export interface Kiln {
  /** Recovers interrupted work, starts the workers, then listens. Resolves with the URL served. */
  start(): Promise<string>;
  /** Stops taking requests, lets running turns finish (briefly), closes storage. Idempotent. */
  stop(): Promise<void>;
}

/** Opens the storage of a data dir (creating and migrating it as needed). */
export async function openStorage(config: Config): Promise<Storage> {
  await fs.mkdir(config.dataDir, { recursive: true });
  return openSqlStorage(new SqliteDatabase(path.join(config.dataDir, 'kiln.db')));
}

/**
 * Removes blobs that no version refers to (left by a crash between storing bytes and recording
 * their version). Runs in the background; only blobs older than an hour are considered, so
 * writes in progress are never touched.
 */
function collectOrphanBlobs(blobs: LocalBlobStore, storage: Storage, logger: Logger): void {
  blobs
    .collectGarbage((sha) => storage.artifacts.isBlobReferenced(sha), new Date(Date.now() - 3_600_000))
    .then((removed) => removed > 0 && logger.info(`removed ${removed} unreferenced blob(s)`))
    .catch((error) => logger.error('blob clean-up failed', { error: String(error) }));
}

/** The command runner the config asks for; says loudly when commands cannot be isolated. */
async function commandRunner(config: Config, logger: Logger): Promise<CommandRunner> {
  if (config.sandbox === 'unsandboxed') {
    logger.warn('KILN_SANDBOX=unsandboxed: commands run directly on this host, as the server\'s user, with no isolation');
    return new LocalCommandRunner();
  }
  const runner = new BubblewrapRunner(
    {
      cpuSeconds: config.commandCpuSeconds,
      memoryMb: config.commandMemoryMb,
      processes: config.commandProcesses,
      fileMb: config.commandFileMb,
      workspaceMb: config.workspaceMb,
    },
    config.sandboxNetwork,
  );
  const problem = (await sandboxProgramsMissing(process.getuid?.() === 0)) ?? (await runner.probe());
  if (problem) {
    logger.error(
      `COMMANDS ARE DISABLED: the bubblewrap sandbox cannot run here (${problem}). Every run_command call will be refused. ` +
        'Install bubblewrap and allow user namespaces, or set KILN_SANDBOX=unsandboxed to run commands without isolation.',
    );
    return new UnavailableRunner(problem);
  }
  logger.info('commands run in a bubblewrap sandbox', { network: config.sandboxNetwork });
  if (config.sandboxNetwork === 'host') {
    logger.warn('KILN_SANDBOX_NETWORK=host: commands can reach the network, including services on this host');
  }
  return runner;
}

function defaultModel(models: ModelRegistry, spec: string) {
  try {
    return models.resolve(spec);
  } catch (error) {
    if (error instanceof UnknownModel) throw new ConfigError(`KILN_MODEL=${JSON.stringify(spec)}: ${error.message}`);
    throw error;
  }
}

/** The composition root: builds every port, adapter, service and face from the config. */
export async function createKiln(config: Config, logger: Logger): Promise<Kiln> {
  const models = new ModelRegistry(config.providers);
  const model = defaultModel(models, config.model);
  const storage = await openStorage(config);
  const workspaces = new Workspaces(config.dataDir);
  await workspaces.init();
  const blobs = new LocalBlobStore(config.dataDir);
  await blobs.init();
  const signedUrls = await SignedUrls.fromDataDir(config.dataDir, config.signedUrlTtlSeconds * 1000);
  const recorder = new ArtifactRecorder({ artifacts: storage.artifacts, blobs, workspaces });
  const agents = new AgentService({ storage, models });
  const artifacts = new ArtifactService({ storage, blobs, workspaces, recorder });
  const keys = new ApiKeys(storage.users);
  await keys.useEnvironmentKey(config.apiKey);

  const hub = new EventHub();
  const signals = new LocalSignals();
  const secrets = new SecretVault();
  const tools = new ToolExecutor(await commandRunner(config, logger), config);
  const runner = new TurnRunner({
    tasks: storage.tasks,
    hub,
    models,
    defaultModel: config.model,
    tools,
    workspaces,
    artifacts: storage.artifacts,
    recorder,
    agents: storage.agents,
    secrets,
    logger,
    maxSteps: config.maxSteps,
    retry: { retries: config.modelRetries, baseMs: config.modelRetryBaseMs },
    contextTokens: config.contextTokens,
  });
  const pool = new WorkerPool({ tasks: storage.tasks, signals, runner, logger }, { concurrency: config.concurrency, leaseMs: LEASE_MS });
  const tasks = new TaskService({ storage, hub, signals, workspaces, secrets, models, agents, recorder });
  const approvals = new Approvals({ storage, hub, signals });

  let ready = false;
  const http = await buildHttpServer(
    {
      tasks,
      approvals,
      agents,
      artifacts,
      signedUrls,
      publicUrl: config.publicUrl,
      keys,
      workspaces,
      logger,
      heartbeatMs: config.heartbeatMs,
      uploadLimits: { maxFiles: 20, maxFileBytes: 50 * MB, maxFieldBytes: 2 * MB },
    },
    () => ready,
  );

  let stopping: Promise<void> | null = null;
  return {
    async start() {
      // This process is the only one using this data dir, so any turn still held was cut off.
      const recovered = await recoverAbandonedTurns({ tasks: storage.tasks, hub, logger }, null);
      if (recovered > 0) logger.warn(`${recovered} interrupted turn(s) from the previous run marked failed`);
      pool.start();
      collectOrphanBlobs(blobs, storage, logger);
      logger.info(`model: ${model.description}`);
      const address = await http.listen({ port: config.port, host: config.host });
      ready = true;
      logger.info(`Kiln listening on ${address}`, { model: model.name, data: config.dataDir, concurrency: config.concurrency });
      return address;
    },
    stop() {
      stopping ??= (async () => {
        ready = false;
        await http.close();
        await pool.stop(SHUTDOWN_GRACE_MS);
        await storage.close();
      })();
      return stopping;
    },
  };
}
