import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { envMap, parseInput, widgetAppChanges, widgetAppSettings } from './schemas.js';
import { widgetAppView } from './views.js';

/** `/widget-apps` routes of the native face: widget apps managed with an API key. */
export async function widgetAppRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.post('/widget-apps', async function createWidgetApp(request, reply) {
    const body = parseInput(widgetAppSettings, request.body);
    const { app: created, appSecret } = await deps.widgetApps.create(caller(request), {
      name: body.name,
      allowedOrigins: body.allowedOrigins ?? [],
      agentId: body.agentId ?? null,
      autoExecute: body.autoExecute ?? null,
      env: envMap(body.env, 'env'),
      secrets: envMap(body.secrets, 'secrets'),
    });
    return reply.status(201).send({ success: true, data: { ...widgetAppView(created), appSecret } });
  });

  app.get('/widget-apps', async function listWidgetApps(request) {
    return { success: true, data: (await deps.widgetApps.list(caller(request))).map(widgetAppView) };
  });

  app.get<{ Params: { id: string } }>('/widget-apps/:id', async function getWidgetApp(request) {
    return { success: true, data: widgetAppView(await deps.widgetApps.get(caller(request), request.params.id)) };
  });

  app.patch<{ Params: { id: string } }>('/widget-apps/:id', async function updateWidgetApp(request) {
    const changes = parseInput(widgetAppChanges, request.body);
    const updated = await deps.widgetApps.update(caller(request), request.params.id, {
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.allowedOrigins !== undefined ? { allowedOrigins: changes.allowedOrigins } : {}),
      ...(changes.agentId !== undefined ? { agentId: changes.agentId } : {}),
      ...(changes.autoExecute !== undefined ? { autoExecute: changes.autoExecute } : {}),
      ...('env' in changes ? { env: envMap(changes.env, 'env') } : {}),
      ...('secrets' in changes ? { secrets: envMap(changes.secrets, 'secrets') } : {}),
    });
    return { success: true, data: widgetAppView(updated) };
  });

  app.post<{ Params: { id: string } }>('/widget-apps/:id/rotate-secret', async function rotateWidgetAppSecret(request) {
    const { app: rotated, appSecret } = await deps.widgetApps.rotateSecret(caller(request), request.params.id);
    return { success: true, data: { ...widgetAppView(rotated), appSecret } };
  });

  app.delete<{ Params: { id: string } }>('/widget-apps/:id', async function deleteWidgetApp(request) {
    await deps.widgetApps.delete(caller(request), request.params.id);
    return { success: true, data: { id: request.params.id, deleted: true } };
  });
}
