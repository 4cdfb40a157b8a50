import type { AttemptOutcome, DeliveryStatus, DueDelivery, WebhookDelivery, WebhookEndpoint, WebhookEventType } from '../../core/webhooks/webhook-types.js';
import type { Database, SqlValue } from '../../ports/database.js';
import type { EndpointChanges, WebhookStore } from '../../ports/storage.js';

interface EndpointRow {
  id: string;
  user_id: string;
  url: string;
  events: string;
  description: string | null;
  enabled: number;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_type: string;
  status: string;
  attempts: number;
  created_at: string;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  last_duration_ms: number | null;
  delivered_at: string | null;
}

const ENDPOINT = 'id, user_id, url, events, description, enabled, disabled_reason, failing_since, created_at, updated_at';
const DELIVERY =
  'id, endpoint_id, event_type, status, attempts, created_at, next_attempt_at, last_attempt_at, last_status_code, last_error, last_duration_ms, delivered_at';

/** Event types as stored: `,a,b,`, so that finding `,type,` in it finds an endpoint subscribed to a type. */
function eventsColumn(events: readonly string[]): string {
  return `,${events.join(',')},`;
}

function endpointFromRow(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    userId: row.user_id,
    url: row.url,
    events: row.events.split(',').filter(Boolean) as WebhookEventType[],
    description: row.description,
    enabled: Boolean(Number(row.enabled)),
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function deliveryFromRow(row: DeliveryRow): WebhookDelivery {
  const number = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventType: row.event_type as WebhookEventType,
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    createdAt: row.created_at,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: number(row.last_status_code),
    lastError: row.last_error,
    lastDurationMs: number(row.last_duration_ms),
    deliveredAt: row.delivered_at,
  };
}

export class SqlWebhookStore implements WebhookStore {
  constructor(private readonly db: Database) {}

  async createEndpoint(endpoint: WebhookEndpoint, secret: string): Promise<void> {
    await this.db.run(
      `INSERT INTO webhook_endpoints (id, user_id, url, events, description, secret, enabled, disabled_reason, failing_since, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
      [endpoint.id, endpoint.userId, endpoint.url, eventsColumn(endpoint.events), endpoint.description, secret, endpoint.enabled ? 1 : 0, endpoint.createdAt, endpoint.updatedAt],
    );
  }

  async endpoint(userId: string, id: string): Promise<WebhookEndpoint | undefined> {
    const row = await this.db.get<EndpointRow>(`SELECT ${ENDPOINT} FROM webhook_endpoints WHERE id = ? AND user_id = ?`, [id, userId]);
    return row ? endpointFromRow(row) : undefined;
  }

  async endpoints(userId: string): Promise<WebhookEndpoint[]> {
    const rows = await this.db.all<EndpointRow>(`SELECT ${ENDPOINT} FROM webhook_endpoints WHERE user_id = ? ORDER BY created_at, id`, [userId]);
    return rows.map(endpointFromRow);
  }

  async updateEndpoint(userId: string, id: string, changes: EndpointChanges, now: string): Promise<WebhookEndpoint | undefined> {
    const sets = ['updated_at = ?'];
    const values: SqlValue[] = [now];
    if (changes.url !== undefined) sets.push('url = ?') && values.push(changes.url);
    if (changes.events !== undefined) sets.push('events = ?') && values.push(eventsColumn(changes.events));
    if (changes.description !== undefined) sets.push('description = ?') && values.push(changes.description);
    if (changes.enabled === true) sets.push('enabled = 1', 'disabled_reason = NULL', 'failing_since = NULL');
    if (changes.enabled === false) sets.push('enabled = 0');
    const updated = await this.db.run(`UPDATE webhook_endpoints SET ${sets.join(', ')} WHERE id = ? AND user_id = ?`, [...values, id, userId]);
    return updated.changes === 0 ? undefined : this.endpoint(userId, id);
  }

  async deleteEndpoint(userId: string, id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const owned = await tx.get<{ id: string }>('SELECT id FROM webhook_endpoints WHERE id = ? AND user_id = ?', [id, userId]);
      if (!owned) return false;
      await tx.run('DELETE FROM webhook_deliveries WHERE endpoint_id = ?', [id]);
      await tx.run('DELETE FROM webhook_endpoints WHERE id = ?', [id]);
      return true;
    });
  }

  async deliveries(endpointId: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = await this.db.all<DeliveryRow>(
      `SELECT ${DELIVERY} FROM webhook_deliveries WHERE endpoint_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
      [endpointId, limit],
    );
    return rows.map(deliveryFromRow);
  }

  async delivery(endpointId: string, id: string): Promise<WebhookDelivery | undefined> {
    const row = await this.db.get<DeliveryRow>(`SELECT ${DELIVERY} FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?`, [id, endpointId]);
    return row ? deliveryFromRow(row) : undefined;
  }

  async redeliver(endpointId: string, id: string, now: string, giveUpAfter: string): Promise<WebhookDelivery | undefined> {
    await this.db.run(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, give_up_after = ?, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ? AND endpoint_id = ?`,
      [now, giveUpAfter, id, endpointId],
    );
    return this.delivery(endpointId, id);
  }

  async claimDue(owner: string, now: string, leaseUntil: string, limit: number): Promise<DueDelivery[]> {
    const skipLocked = this.db.dialect === 'postgres' ? ' FOR UPDATE OF d SKIP LOCKED' : '';
    const claimed = await this.db.all<{ id: string; endpoint_id: string; payload: string; attempts: number; give_up_after: string }>(
      `UPDATE webhook_deliveries SET lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, last_attempt_at = ?
        WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                      WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.lease_owner IS NULL OR d.lease_expires_at < ?) AND e.enabled = 1
                      ORDER BY d.next_attempt_at LIMIT ?${skipLocked})
        RETURNING id, endpoint_id, payload, attempts, give_up_after`,
      [owner, leaseUntil, now, now, now, limit],
    );
    if (claimed.length === 0) return [];
    const ids = [...new Set(claimed.map((c) => c.endpoint_id))];
    const endpoints = await this.db.all<{ id: string; url: string; secret: string }>(
      `SELECT id, url, secret FROM webhook_endpoints WHERE id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    const byId = new Map(endpoints.map((e) => [e.id, e]));
    return claimed.flatMap((c) => {
      const endpoint = byId.get(c.endpoint_id);
      if (!endpoint) return [];
      return [{ id: c.id, endpointId: c.endpoint_id, url: endpoint.url, secret: endpoint.secret, payload: c.payload, attempts: Number(c.attempts), giveUpAfter: c.give_up_after }];
    });
  }

  async recordAttempt(
    owner: string,
    delivery: DueDelivery,
    outcome: AttemptOutcome,
    now: string,
    nextAttemptAt: string | null,
    disable: { before: string; reason: string },
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const status: DeliveryStatus = outcome.ok ? 'succeeded' : nextAttemptAt === null ? 'failed' : 'pending';
      const recorded = await tx.run(
        `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL,
           last_status_code = ?, last_error = ?, last_duration_ms = ?, delivered_at = ?
         WHERE id = ? AND lease_owner = ?`,
        [status, outcome.ok ? null : nextAttemptAt, outcome.statusCode, outcome.error, outcome.durationMs, outcome.ok ? now : null, delivery.id, owner],
      );
      if (recorded.changes === 0) return false;
      if (outcome.ok) {
        await tx.run('UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL', [delivery.endpointId]);
        return true;
      }
      await tx.run('UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL', [now, delivery.endpointId]);
      await tx.run(
        'UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1 AND failing_since <= ?',
        [disable.reason, now, delivery.endpointId, disable.before],
      );
      return true;
    });
  }

  async releaseAllLeases(): Promise<void> {
    await this.db.run('UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL');
  }
}
