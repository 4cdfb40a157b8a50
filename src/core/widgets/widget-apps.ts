import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyOwner, Storage } from '../../ports/storage.js';
import type { AgentService } from '../agents/agent-service.js';
import type { SealedBox } from '../crypto/sealed-box.js';
import { Forbidden, InvalidCredentials, InvalidInput, NotFound } from '../errors.js';
import { parseOrigin } from './origins.js';
import type { Variables, WidgetApp, WidgetAppRecord } from './widget-types.js';

const SECRET_PREFIX = 'wsec_';
const MAX_ORIGINS = 100;

export interface WidgetAppSettings {
  name: string;
  allowedOrigins: string[];
  agentId: string | null;
  autoExecute: boolean | null;
  env: Record<string, string> | null;
  secrets: Record<string, string> | null;
}

/**
 * Widget apps: what lets a customer's site give its end users a chat with one of the owner's
 * agents. The `appId` is public; the `appSecret` is shown once (at creation and rotation) and
 * kept only as a SHA-256 hash; the app's env and secrets are kept sealed and never shown, only
 * their names. Rotating the secret or deleting the app ends every token it issued at once.
 *
 * @example
 * const { app, appSecret } = await apps.create(owner, { name: 'Shop help', allowedOrigins: ['https://shop.example'], ... });
 */
export class WidgetApps {
  constructor(
    private readonly deps: {
      storage: Storage;
      agents: AgentService;
      box: SealedBox;
      /** Largest size of env and secrets (names and values) together, as for a task's secrets. */
      maxVariableBytes: number;
    },
  ) {}

  async create(caller: KeyOwner, settings: WidgetAppSettings): Promise<{ app: WidgetApp; appSecret: string }> {
    requireKey(caller);
    await this.checkAgent(caller, settings.agentId);
    const id = `wapp_${randomBytes(12).toString('hex')}`;
    const appSecret = SECRET_PREFIX + randomBytes(32).toString('hex');
    const now = new Date().toISOString();
    const record: WidgetAppRecord = {
      id,
      userId: caller.userId,
      name: settings.name,
      allowedOrigins: origins(settings.allowedOrigins),
      agentId: settings.agentId,
      autoExecute: settings.autoExecute,
      sealedVariables: this.seal(id, { env: settings.env ?? {}, secrets: settings.secrets ?? {} }),
      secretHash: hashSecret(appSecret),
      generation: 1,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.storage.widgets.createApp(record);
    return { app: this.view(record), appSecret };
  }

  async list(caller: KeyOwner): Promise<WidgetApp[]> {
    requireKey(caller);
    return (await this.deps.storage.widgets.listApps(caller.userId)).map((record) => this.view(record));
  }

  async get(caller: KeyOwner, id: string): Promise<WidgetApp> {
    return this.view(await this.owned(caller, id));
  }

  /** Changes the given settings; `env` and `secrets`, when given, replace the old maps whole. */
  async update(caller: KeyOwner, id: string, changes: Partial<WidgetAppSettings>): Promise<WidgetApp> {
    const record = await this.owned(caller, id);
    if (changes.agentId !== undefined) await this.checkAgent(caller, changes.agentId);
    const variables = changes.env !== undefined || changes.secrets !== undefined ? this.variables(record) : null;
    const updated: WidgetAppRecord = {
      ...record,
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.allowedOrigins !== undefined ? { allowedOrigins: origins(changes.allowedOrigins) } : {}),
      ...(changes.agentId !== undefined ? { agentId: changes.agentId } : {}),
      ...(changes.autoExecute !== undefined ? { autoExecute: changes.autoExecute } : {}),
      ...(variables
        ? {
            sealedVariables: this.seal(record.id, {
              env: changes.env === undefined ? variables.env : (changes.env ?? {}),
              secrets: changes.secrets === undefined ? variables.secrets : (changes.secrets ?? {}),
            }),
          }
        : {}),
      updatedAt: new Date().toISOString(),
    };
    await this.deps.storage.widgets.updateApp(updated);
    return this.view(updated);
  }

  /** A new secret (shown once); the old one and every token issued under it stop working at once. */
  async rotateSecret(caller: KeyOwner, id: string): Promise<{ app: WidgetApp; appSecret: string }> {
    const record = await this.owned(caller, id);
    const appSecret = SECRET_PREFIX + randomBytes(32).toString('hex');
    const updated = { ...record, secretHash: hashSecret(appSecret), generation: record.generation + 1, updatedAt: new Date().toISOString() };
    await this.deps.storage.widgets.updateApp(updated);
    await this.deps.storage.widgets.forgetTokens(id);
    return { app: this.view(updated), appSecret };
  }

  async delete(caller: KeyOwner, id: string): Promise<void> {
    requireKey(caller);
    if (!(await this.deps.storage.widgets.deleteApp(id, caller.userId))) throw appNotFound(id);
  }

  /** The app whose credentials these are, with its owner's user name; throws {@link InvalidCredentials} otherwise. */
  async authenticate(appId: string, appSecret: string): Promise<WidgetAppRecord & { username: string }> {
    const record = await this.deps.storage.widgets.getApp(appId);
    const presented = Buffer.from(hashSecret(appSecret), 'hex');
    // Compared in constant time, and as long for an unknown app, so that timing tells nothing.
    const expected = Buffer.from(record?.secretHash ?? 'f'.repeat(64), 'hex');
    if (!timingSafeEqual(presented, expected) || !record) throw new InvalidCredentials();
    return record;
  }

  /** The app as stored, with its owner's user name (for tokens, which act for that user). */
  async record(id: string): Promise<(WidgetAppRecord & { username: string }) | undefined> {
    return this.deps.storage.widgets.getApp(id);
  }

  /** The app's env and secrets, unsealed. */
  variables(record: WidgetAppRecord): Variables {
    if (record.sealedVariables === null) return { env: {}, secrets: {} };
    return JSON.parse(this.deps.box.open(record.sealedVariables, `widget-app:${record.id}`)) as Variables;
  }

  /** Refuses env and secrets over the size limit (names and values, UTF-8). */
  checkSize(...sets: Variables[]): void {
    let bytes = 0;
    for (const { env, secrets } of sets) {
      for (const [name, value] of [...Object.entries(env), ...Object.entries(secrets)]) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    }
    if (bytes > this.deps.maxVariableBytes) {
      throw new InvalidInput(`env and secrets: ${bytes} bytes of names and values (the app's and the token's together); at most ${this.deps.maxVariableBytes} are accepted.`);
    }
  }

  private seal(id: string, variables: Variables): string | null {
    this.checkSize(variables);
    if (Object.keys(variables.env).length === 0 && Object.keys(variables.secrets).length === 0) return null;
    return this.deps.box.seal(JSON.stringify(variables), `widget-app:${id}`);
  }

  private view(record: WidgetAppRecord): WidgetApp {
    const { env, secrets } = this.variables(record);
    return {
      id: record.id,
      userId: record.userId,
      name: record.name,
      allowedOrigins: record.allowedOrigins,
      agentId: record.agentId,
      autoExecute: record.autoExecute,
      envNames: Object.keys(env),
      secretNames: Object.keys(secrets),
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
    };
  }

  private async owned(caller: KeyOwner, id: string): Promise<WidgetAppRecord> {
    requireKey(caller);
    const record = await this.deps.storage.widgets.getApp(id);
    if (!record || record.userId !== caller.userId) throw appNotFound(id);
    return record;
  }

  private async checkAgent(caller: KeyOwner, agentId: string | null): Promise<void> {
    if (agentId === null) return;
    try {
      await this.deps.agents.get(caller, agentId);
    } catch (error) {
      if (error instanceof NotFound) throw new InvalidInput(`agentId: no agent ${agentId} of yours; list them with GET /api/v1/agents.`, 'agentId');
      throw error;
    }
  }
}

/** Widget apps are managed with API keys; a widget token may not touch them. */
function requireKey(caller: KeyOwner): void {
  if (caller.endUser) throw new Forbidden('Widget apps are managed with an API key; a widget token may only use the Tasks API.');
}

function origins(list: string[]): string[] {
  if (list.length > MAX_ORIGINS) throw new InvalidInput(`allowedOrigins may list at most ${MAX_ORIGINS} origins.`, 'allowedOrigins');
  const parsed = list.map((entry) => {
    const origin = parseOrigin(entry);
    if (!origin) throw new InvalidInput(`allowedOrigins: "${entry}" is not an origin; write scheme://host[:port] without a path (e.g. https://shop.example).`, 'allowedOrigins');
    return origin;
  });
  return [...new Set(parsed)];
}

function appNotFound(id: string): NotFound {
  return new NotFound(`Widget app not found: ${id}`);
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
