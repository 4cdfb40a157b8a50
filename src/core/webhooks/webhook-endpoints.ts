import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyOwner, WebhookStore } from '../../ports/storage.js';
import type { WebhookSender } from '../../ports/webhook-sender.js';
import { NotFound } from '../errors.js';
import type { WebhookDelivery, WebhookEndpoint, WebhookEventType } from './webhook-types.js';

export interface EndpointSettings {
  url: string;
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
}

/**
 * A user's webhook endpoints: register (with a signing secret shown once), list, change,
 * remove; their delivery logs and redelivery.
 */
export class WebhookEndpoints {
  constructor(private readonly deps: { store: WebhookStore; sender: WebhookSender; retryMs: number }) {}

  /** Registers an endpoint; the secret signing its deliveries is returned here only. */
  async create(caller: KeyOwner, settings: EndpointSettings): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    await this.deps.sender.check(settings.url);
    const now = new Date().toISOString();
    const endpoint: WebhookEndpoint = { id: randomUUID(), userId: caller.userId, ...settings, disabledReason: null, failingSince: null, createdAt: now, updatedAt: now };
    // Standard Webhooks secrets: "whsec_" and 24 to 64 random bytes in base64.
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    await this.deps.store.createEndpoint(endpoint, secret);
    return { endpoint, secret };
  }

  list(caller: KeyOwner): Promise<WebhookEndpoint[]> {
    return this.deps.store.endpoints(caller.userId);
  }

  async get(caller: KeyOwner, id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.deps.store.endpoint(caller.userId, id);
    if (!endpoint) throw new NotFound('Webhook endpoint not found');
    return endpoint;
  }

  async update(caller: KeyOwner, id: string, changes: Partial<EndpointSettings>): Promise<WebhookEndpoint> {
    if (changes.url !== undefined) await this.deps.sender.check(changes.url);
    const updated = await this.deps.store.updateEndpoint(caller.userId, id, changes, new Date().toISOString());
    if (!updated) throw new NotFound('Webhook endpoint not found');
    return updated;
  }

  /** Removes the endpoint and its delivery log; deliveries still pending are dropped. */
  async delete(caller: KeyOwner, id: string): Promise<void> {
    if (!(await this.deps.store.deleteEndpoint(caller.userId, id))) throw new NotFound('Webhook endpoint not found');
  }

  async deliveries(caller: KeyOwner, id: string, limit: number): Promise<WebhookDelivery[]> {
    const endpoint = await this.get(caller, id);
    return this.deps.store.deliveries(endpoint.id, limit);
  }

  /** Sends a delivery again (the same `webhook-id`), now, with a fresh retry period. */
  async redeliver(caller: KeyOwner, id: string, deliveryId: string): Promise<WebhookDelivery> {
    const endpoint = await this.get(caller, id);
    const now = Date.now();
    const delivery = await this.deps.store.redeliver(endpoint.id, deliveryId, new Date(now).toISOString(), new Date(now + this.deps.retryMs).toISOString());
    if (!delivery) throw new NotFound('Delivery not found');
    return delivery;
  }
}
