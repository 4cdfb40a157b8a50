import type { Database } from '../../ports/database.js';
import type { Storage } from '../../ports/storage.js';
import { migrate } from './migrations.js';
import { SqlAgentStore } from './sql-agent-store.js';
import { SqlArtifactStore } from './sql-artifact-store.js';
import { SqlIdempotencyStore } from './sql-idempotency-store.js';
import { SqlRateLimitStore } from './sql-rate-limit-store.js';
import { SqlRetentionStore } from './sql-retention-store.js';
import { SqlTaskStore } from './sql-task-store.js';
import { SqlUserStore } from './sql-user-store.js';
import { SqlWidgetStore } from './sql-widget-store.js';
import { SqlWebhookStore } from './sql-webhook-store.js';
import { DEFAULT_WEBHOOK_RETRY_MS, WebhookOutbox } from './webhook-outbox.js';

/**
 * The storage contracts over any database that speaks the database port. Migrates on open.
 * `webhookRetryMs`: how long deliveries written to the webhook outbox are retried.
 */
export async function openSqlStorage(db: Database, options: { webhookRetryMs?: number } = {}): Promise<Storage> {
  await migrate(db);
  const outbox = new WebhookOutbox(db.dialect, options.webhookRetryMs ?? DEFAULT_WEBHOOK_RETRY_MS);
  return {
    users: new SqlUserStore(db),
    tasks: new SqlTaskStore(db, outbox),
    agents: new SqlAgentStore(db),
    artifacts: new SqlArtifactStore(db, outbox),
    widgets: new SqlWidgetStore(db),
    idempotency: new SqlIdempotencyStore(db),
    webhooks: new SqlWebhookStore(db),
    rateLimits: new SqlRateLimitStore(db),
    retention: new SqlRetentionStore(db),
    close: () => db.close(),
  };
}
