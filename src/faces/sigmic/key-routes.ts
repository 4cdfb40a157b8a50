import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { createKeyBody, keyListQuery, parseInput } from './schemas.js';
import { keyView } from './views.js';

/** `/keys` and `/users` routes of the native face: API keys managed over the API. */
export async function keyRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.get('/keys', async function listKeys(request) {
    const query = parseInput(keyListQuery, request.query);
    const keys = await deps.keyManagement.list(caller(request), { userId: query.userId ?? null, all: query.all === 'true' });
    return { success: true, data: keys.map(keyView) };
  });

  app.post('/keys', async function createKey(request, reply) {
    const body = parseInput(createKeyBody, request.body);
    const { key, record } = await deps.keyManagement.create(caller(request), { name: body.name ?? null, userId: body.userId ?? null, admin: body.admin ?? false });
    return reply.status(201).send({ success: true, data: { ...keyView(record), key } });
  });

  app.delete<{ Params: { id: string } }>('/keys/:id', async function revokeKey(request) {
    await deps.keyManagement.revoke(caller(request), request.params.id);
    return { success: true, data: { id: request.params.id, revoked: true } };
  });

  app.get('/users', async function listUsers(request) {
    const users = await deps.keyManagement.users(caller(request));
    return { success: true, data: users.map(({ id, name, createdAt, keyCount }) => ({ id, name, createdAt, keyCount })) };
  });
}
