import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Artifact, ArtifactVersion } from '../../core/artifacts/artifact-types.js';
import type { Agent } from '../../core/agents/agent-types.js';
import { AuthRequired, InvalidApiKey, InvalidInput, NotFound } from '../../core/errors.js';
import type { KeyOwner } from '../../ports/storage.js';
import { baseUrlOf } from '../http/base-url.js';
import type { FaceDeps } from '../http/face-deps.js';
import { sendGumloopError } from './errors.js';

/**
 * The Gumloop face, mounted at `/gumloop`: a Gumloop API client points its base URL at
 * `http://host:port/gumloop`. Agents and their artifacts; one artifact row per version, with a
 * signed link to its bytes. Sessions are Kiln tasks (`session_id` is the task id).
 */
export async function gumloopFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function gumloopErrorHandler(error, request, reply) {
    sendGumloopError(error, request, reply, deps.logger);
  });
  app.setNotFoundHandler(function gumloopNotFound(request, reply) {
    void reply.status(404).send({ error: { code: 'not_found', type: 'not_found_error', message: `No such endpoint: ${request.method} ${request.url.split('?')[0]}` } });
  });
  app.addHook('onRequest', async function authenticateGumloop(request) {
    const header = request.headers.authorization?.trim();
    if (!header) throw new AuthRequired('Authentication required: send "Authorization: Bearer <API key>" (and x-auth-key with your user id).');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new InvalidApiKey('Use "Authorization: Bearer <API key>".');
    const owner = await deps.keys.authenticate(match[1]);
    const userHeader = request.headers['x-auth-key'];
    const claimed = Array.isArray(userHeader) ? userHeader[0] : userHeader;
    if (claimed !== undefined && claimed !== owner.userId && claimed !== owner.username) {
      throw new InvalidApiKey('x-auth-key does not name the user this API key belongs to.');
    }
    request.caller = owner;
  });

  const caller = (request: FastifyRequest): KeyOwner => request.caller!;
  const baseUrl = (request: FastifyRequest) => baseUrlOf(request, deps.publicUrl);

  app.get('/agents', async function listAgents(request) {
    const agents = await deps.agents.list(caller(request));
    return { agents: agents.map((a) => agentView(a, caller(request))), next_cursor: null };
  });

  app.get<{ Params: { agentId: string } }>('/agents/:agentId', async function getAgent(request) {
    return { agent: agentView(await agentOf(request, request.params.agentId), caller(request)) };
  });

  app.get<{ Params: { agentId: string } }>('/agents/:agentId/artifacts', async function listArtifacts(request) {
    const parsed = listQuery.safeParse(request.query ?? {});
    if (!parsed.success) throw new InvalidInput(`${parsed.error.issues[0]!.path.join('.')}: give each query parameter once, as text`);
    const query = parsed.data;
    const agent = await agentOf(request, request.params.agentId);
    const pageSize = pageSizeOf(query.page_size);
    const order = query.sort_order ?? 'newest';
    if (order !== 'newest' && order !== 'oldest') throw new InvalidInput('sort_order must be "newest" or "oldest"', 'sort_order');
    const after = query.cursor ? decodeCursor(query.cursor, order) : undefined;
    const rows = await deps.artifacts.agentVersions(caller(request), {
      agentId: agent.id,
      ...(query.session_id !== undefined ? { taskId: query.session_id } : {}),
      ...(query.search_query ? { search: query.search_query } : {}),
      order,
      limit: pageSize + 1,
      ...(after ? { after } : {}),
    });
    const page = rows.slice(0, pageSize);
    const last = page[page.length - 1];
    const next = rows.length > pageSize && last ? encodeCursor(order, last.version) : null;
    const artifacts = await Promise.all(
      page.map(async ({ artifact, version }) => artifactView(artifact, version, caller(request), await deps.links.url(artifact, version, baseUrl(request)))),
    );
    return { artifacts, next_cursor: next };
  });

  app.get<{ Params: { artifactId: string } }>('/artifacts/:artifactId/download', async function downloadArtifact(request) {
    const parsed = downloadQuery.safeParse(request.query ?? {});
    if (!parsed.success) throw new InvalidInput('version_id: give it once, as text', 'version_id');
    const { artifact, version } = await deps.artifacts.version(caller(request), request.params.artifactId, parsed.data.version_id || undefined);
    return {
      download_url: await deps.links.url(artifact, version, baseUrl(request)),
      filename: artifact.name,
      media_type: version.mediaType,
      size: version.size,
    };
  });

  async function agentOf(request: FastifyRequest, agentId: string): Promise<Agent> {
    try {
      return await deps.agents.get(caller(request), agentId);
    } catch (error) {
      if (error instanceof NotFound) throw Object.assign(new NotFound(`Agent ${agentId} not found`), { gumloopCode: 'gummie_not_found' });
      throw error;
    }
  }
}

const listQuery = z.object({
  session_id: z.string().optional(),
  search_query: z.string().optional(),
  sort_order: z.string().optional(),
  page_size: z.string().optional(),
  cursor: z.string().optional(),
});

const downloadQuery = z.object({ version_id: z.string().optional() });

function pageSizeOf(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 20;
  if (!/^-?\d+$/.test(raw.trim())) throw new InvalidInput('page_size must be an integer', 'page_size');
  return Math.min(100, Math.max(1, Number(raw)));
}

function encodeCursor(order: string, version: ArtifactVersion): string {
  return Buffer.from(JSON.stringify({ o: order, t: version.createdAt, v: version.id })).toString('base64url');
}

function decodeCursor(cursor: string, order: string): { createdAt: string; versionId: string } {
  let parsed: { o?: unknown; t?: unknown; v?: unknown } | null;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidInput('cursor is not one this server issued; pass next_cursor as it was returned', 'cursor');
  }
  if (typeof parsed?.t !== 'string' || typeof parsed.v !== 'string') throw new InvalidInput('cursor is not one this server issued', 'cursor');
  if (parsed.o !== order) throw new InvalidInput(`cursor was issued for sort_order=${String(parsed.o)}; keep the same sort_order while paging`, 'cursor');
  return { createdAt: parsed.t, versionId: parsed.v };
}

function creator(owner: KeyOwner) {
  return { id: owner.userId, first_name: owner.username, last_name: null, email: null, profile_picture: null };
}

function artifactView(artifact: Artifact, version: ArtifactVersion, owner: KeyOwner, url: string) {
  return {
    id: artifact.id,
    version_id: version.id,
    major_version: version.number,
    agent_id: artifact.agentId,
    session_id: artifact.taskId,
    filename: artifact.name,
    created_at: version.createdAt,
    metadata: {
      media_type: version.mediaType,
      size: version.size,
      sha256: version.sha256,
      path: artifact.path,
      title: artifact.title,
      source: version.source,
      derived_from: version.derivedFrom,
      latest_version: artifact.latest.number,
    },
    url,
    creator: creator(owner),
  };
}

function agentView(agent: Agent, owner: KeyOwner) {
  return {
    id: agent.id,
    name: agent.name,
    description: null,
    team_id: null,
    is_active: true,
    model_name: agent.model,
    system_prompt: agent.systemPrompt,
    tools: [],
    resources: [],
    skill_ids: [],
    metadata: { tool_policy: agent.toolPolicy, auto_execute: agent.autoExecute, is_default: agent.isDefault },
    folder_id: null,
    type: null,
    created_at: agent.createdAt,
    active_trigger_count: 0,
    creator: creator(owner),
  };
}
