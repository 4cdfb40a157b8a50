import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { WebhookDelivery, WebhookEndpoint } from '../../core/webhooks/webhook-types.js';
import { WEBHOOK_EVENT_TYPES } from '../../core/webhooks/webhook-types.js';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { parseInput, queryInteger } from './schemas.js';

const MAX_DELIVERIES = 100;

const events = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, { error: `events must name some of ${WEBHOOK_EVENT_TYPES.join(', ')}` }), { error: 'events must be a list of event types' })
  .min(1, 'events must name at least one event type')
  .transform((list) => [...new Set(list)]);

const endpointSettings = z
  .object({
    url: z.string({ error: 'url is required: the http:// or https:// address to send events to' }).trim().min(1).max(2048, 'url may be at most 2048 characters'),
    events,
    description: z.string({ error: 'description must be a string or null' }).max(1000).nullable().optional(),
    enabled: z.boolean({ error: 'enabled must be true or false' }).optional(),
  })
  .strict();

const endpointChanges = endpointSettings.partial().strict();

const deliveriesQuery = z.object({ limit: z.string({ error: 'limit must be given once, as a whole number' }).optional() });

/**
 * `/webhooks` routes of the native face: endpoints a user registers to be told of changes, their
 * delivery logs, and redelivery.
 */
export async function webhookRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.post('/webhooks', async function createWebhook(request, reply) {
    const body = parseInput(endpointSettings, request.body);
    const { endpoint, secret } = await deps.webhooks.create(caller(request), {
      url: body.url,
      events: body.events,
      description: body.description ?? null,
      enabled: body.enabled ?? true,
    });
    return reply.status(201).send({ success: true, data: { ...endpointView(endpoint), secret } });
  });

  app.get('/webhooks', async function listWebhooks(request) {
    return { success: true, data: (await deps.webhooks.list(caller(request))).map(endpointView) };
  });

  app.get<{ Params: { id: string } }>('/webhooks/:id', async function getWebhook(request) {
    return { success: true, data: endpointView(await deps.webhooks.get(caller(request), request.params.id)) };
  });

  app.patch<{ Params: { id: string } }>('/webhooks/:id', async function updateWebhook(request) {
    const changes = parseInput(endpointChanges, request.body);
    return { success: true, data: endpointView(await deps.webhooks.update(caller(request), request.params.id, changes)) };
  });

  app.delete<{ Params: { id: string } }>('/webhooks/:id', async function deleteWebhook(request) {
    await deps.webhooks.delete(caller(request), request.params.id);
    return { success: true, data: { id: request.params.id, deleted: true } };
  });

  app.get<{ Params: { id: string } }>('/webhooks/:id/deliveries', async function listDeliveries(request) {
    const query = parseInput(deliveriesQuery, request.query);
    const limit = Math.min(queryInteger(query.limit, 'limit', 50, 1), MAX_DELIVERIES);
    return { success: true, data: (await deps.webhooks.deliveries(caller(request), request.params.id, limit)).map(deliveryView) };
  });

  app.post<{ Params: { id: string; deliveryId: string } }>('/webhooks/:id/deliveries/:deliveryId/redeliver', async function redeliver(request, reply) {
    const delivery = await deps.webhooks.redeliver(caller(request), request.params.id, request.params.deliveryId);
    return reply.status(202).send({ success: true, data: deliveryView(delivery) });
  });
}

/** An endpoint as shown: never its secret (shown once, when it is created). */
function endpointView(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    failingSince: endpoint.failingSince,
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

function deliveryView(delivery: WebhookDelivery) {
  return {
    id: delivery.id,
    eventType: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    responseStatus: delivery.lastStatusCode,
    durationMs: delivery.lastDurationMs,
    error: delivery.lastError,
    createdAt: delivery.createdAt,
    lastAttemptAt: delivery.lastAttemptAt,
    nextAttemptAt: delivery.nextAttemptAt,
    deliveredAt: delivery.deliveredAt,
  };
}
