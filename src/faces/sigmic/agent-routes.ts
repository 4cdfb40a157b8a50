import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ToolPolicy } from '../../core/tasks/task-types.js';
import type { KeyOwner } from '../../ports/storage.js';
import type { FaceDeps } from '../http/face-deps.js';
import { agentChanges, agentSettings, parseInput } from './schemas.js';
import { agentView } from './views.js';

/** `/agents` routes of the native face. */
export async function agentRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.post('/agents', { config: { idempotent: true } }, async function createAgent(request) {
    const body = parseInput(agentSettings, request.body);
    const agent = await deps.agents.create(caller(request), {
      name: body.name,
      systemPrompt: body.systemPrompt ?? null,
      model: body.model ?? null,
      toolPolicy: (body.toolPolicy as ToolPolicy | null | undefined) ?? null,
      autoExecute: body.autoExecute ?? true,
      mcpServers: body.mcpServers ?? null,
      maxTokens: body.maxTokens ?? null,
      maxDurationSeconds: body.maxDurationSeconds ?? null,
      retentionDays: body.retentionDays ?? null,
    });
    return { success: true, data: agentView(agent) };
  });

  app.get('/agents', async function listAgents(request) {
    return { success: true, data: (await deps.agents.list(caller(request))).map(agentView) };
  });

  app.get<{ Params: { id: string } }>('/agents/:id', async function getAgent(request) {
    return { success: true, data: agentView(await deps.agents.get(caller(request), request.params.id)) };
  });

  app.patch<{ Params: { id: string } }>('/agents/:id', async function updateAgent(request) {
    const changes = parseInput(agentChanges, request.body);
    const agent = await deps.agents.update(caller(request), request.params.id, {
      ...changes,
      ...(changes.toolPolicy !== undefined ? { toolPolicy: changes.toolPolicy as ToolPolicy | null } : {}),
    });
    return { success: true, data: agentView(agent) };
  });
}
