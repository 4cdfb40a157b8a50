import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Artifact } from '../../core/artifacts/artifact-types.js';
import { isMediaType } from '../../core/artifacts/media-types.js';
import { AuthRequired, InvalidInput, TooLarge } from '../../core/errors.js';
import { errorMessage } from '../../logger.js';
import { BlobTooLarge } from '../../ports/blob-store.js';
import type { KeyOwner } from '../../ports/storage.js';
import { baseUrlOf } from '../http/base-url.js';
import type { FaceDeps } from '../http/face-deps.js';
import { clientErrorOf } from '../http/framework-errors.js';
import { claimIdempotency } from '../http/idempotency.js';
import { parseOr422, UnprocessableInput } from './validation.js';
import { HTTP_STATUS } from '../http/domain-status.js';

export const ARTIFACT_TYPES = [
  'research_summary', 'analysis_report', 'plan', 'requirements', 'design_doc', 'code', 'configuration', 'script', 'documentation',
  'readme', 'api_spec', 'test_results', 'coverage_report', 'text', 'markdown', 'json', 'yaml', 'execution_report', 'other',
  'github_commit', 'github_pr', 'github_issue', 'github_file', 'github_branch', 'url', 'file_path',
] as const;

const UPLOAD_LIMIT = 50 * 1024 * 1024;

const integer = (field: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      if (!/^-?\d+$/.test(raw.trim())) {
        ctx.addIssue({ code: 'custom', message: 'Input should be a valid integer, unable to parse string as an integer', params: { type: 'int_parsing' } });
        return z.NEVER;
      }
      const n = Number(raw);
      if (n < min) ctx.addIssue({ code: 'custom', message: `Input should be greater than or equal to ${min}`, params: { type: 'greater_than_equal' } });
      if (n > max) ctx.addIssue({ code: 'custom', message: `Input should be less than or equal to ${max}`, params: { type: 'less_than_equal' } });
      return n;
    })
    .describe(field);

const boolean = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on', 't', 'y'].includes(v)) return true;
      if (['false', '0', 'no', 'off', 'f', 'n'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: 'Input should be a valid boolean, unable to interpret input', params: { type: 'bool_parsing' } });
      return z.NEVER;
    });

const listQuery = z.object({
  workflow_id: z.string().optional(),
  phase_id: z.string().optional(),
  artifact_type: z.string().optional(),
  limit: integer('limit', 1, 200, 50),
});

const createBody = z.strictObject({
  workflow_id: z.string({ error: 'Input should be a valid string' }),
  artifact_type: z.string({ error: 'Input should be a valid string' }),
  title: z.string({ error: 'Input should be a valid string' }),
  content: z.string({ error: 'Input should be a valid string' }),
  phase_id: z.string({ error: 'Input should be a valid string' }).nullable().optional(),
  session_id: z.string({ error: 'Input should be a valid string' }).nullable().optional(),
  content_type: z
    .string({ error: 'Input should be a valid string' })
    .refine(isMediaType, { error: 'Input should be a media type such as text/markdown (type/subtype, optional parameters, at most 255 characters)' })
    .optional(),
  derived_from: z.array(z.string({ error: 'Input should be a valid string' })).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  is_primary_deliverable: z.boolean({ error: 'Input should be a valid boolean' }).optional(),
});

/**
 * The Syntropic137 face, mounted at `/syntropic`: the artifacts API with FastAPI's error shapes
 * (`{"detail": ...}`, 422 for bad input). Unlike the original, every field carries its real value
 * (hash, times, lineage, metadata), filters apply before the limit, and uploads make versions.
 */
export async function syntropicFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.setErrorHandler(function syntropicErrorHandler(error, request, reply) {
    if (error instanceof UnprocessableInput) return reply.status(422).send({ detail: error.detail });
    if (error instanceof SyntaxError || (error as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.status(422).send({ detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }] });
    }
    const known = clientErrorOf(error, request.raw);
    if (known) {
      if (known.kind === 'storage_full') deps.logger.error('the disk is full: a request was refused', { face: 'syntropic', url: request.routeOptions.url, request: request.id });
      if (known.kind === 'auth_required' || known.kind === 'invalid_api_key') reply.header('www-authenticate', 'Basic realm="kiln", charset="UTF-8"');
      return reply.status(HTTP_STATUS[known.kind]).send({ detail: known.message });
    }
    deps.logger.error('request failed', { face: 'syntropic', url: request.routeOptions.url, request: request.id, error: errorMessage(error) });
    return reply.status(500).send({ detail: `Internal server error (request id ${request.id})` });
  });
  app.setNotFoundHandler(function syntropicNotFound(_request, reply) {
    void reply.status(404).send({ detail: 'Not Found' });
  });
  app.addHook('onRequest', async function authenticateSyntropic(request) {
    request.caller = await deps.keys.authenticate(credentialOf(request));
  });

  const caller = (request: FastifyRequest): KeyOwner => request.caller!;
  const baseUrl = (request: FastifyRequest) => baseUrlOf(request, deps.publicUrl);

  app.get('/artifacts', async function listArtifacts(request) {
    const query = parseOr422(listQuery, request.query, 'query');
    const artifacts = await deps.artifacts.list(caller(request), {
      ...(query.workflow_id !== undefined ? { workflowId: query.workflow_id } : {}),
      ...(query.phase_id !== undefined ? { phaseId: query.phase_id } : {}),
      // Types are stored lower-cased, as create takes them in any case.
      ...(query.artifact_type !== undefined ? { artifactType: query.artifact_type.toLowerCase() } : {}),
      limit: query.limit,
    });
    return artifacts.map(summaryView);
  });

  app.post('/artifacts', { config: { idempotent: true } }, async function createArtifact(request, reply) {
    const body = parseOr422(createBody, request.body, 'body');
    const type = body.artifact_type.toLowerCase();
    if (!(ARTIFACT_TYPES as readonly string[]).includes(type)) {
      throw new InvalidInput(`Unknown artifact_type: '${body.artifact_type}'. Valid types: [${ARTIFACT_TYPES.map((t) => `'${t}'`).join(', ')}]`);
    }
    if (body.content === '') throw new InvalidInput('Artifact content cannot be empty');
    const artifact = await deps.artifacts.createFromText(caller(request), {
      workflowId: body.workflow_id,
      artifactType: type,
      title: body.title,
      content: body.content,
      phaseId: body.phase_id ?? null,
      taskId: body.session_id ?? null,
      contentType: body.content_type ?? 'text/markdown',
      derivedFrom: body.derived_from ?? [],
      metadata: body.metadata ?? {},
      isPrimaryDeliverable: body.is_primary_deliverable ?? true,
    });
    return reply.status(201).send({ id: artifact.id, title: artifact.title, artifact_type: body.artifact_type, status: 'created' });
  });

  app.get<{ Params: { id: string } }>('/artifacts/:id', async function getArtifact(request) {
    const query = parseOr422(z.object({ include_content: boolean(true) }), request.query, 'query');
    const artifact = await deps.artifacts.find(caller(request), request.params.id);
    const content = query.include_content ? await deps.artifacts.text(artifact.latest) : null;
    return detailView(artifact, caller(request), content, await deps.links.url(artifact, artifact.latest, baseUrl(request)));
  });

  app.get<{ Params: { id: string } }>('/artifacts/:id/content', async function artifactContent(request) {
    const artifact = await deps.artifacts.find(caller(request), request.params.id);
    return { artifact_id: artifact.id, content: await deps.artifacts.text(artifact.latest), content_type: artifact.latest.mediaType, size_bytes: artifact.latest.size };
  });

  app.post<{ Params: { id: string } }>('/artifacts/:id/upload', { config: { idempotent: true } }, async function uploadArtifact(request, reply: FastifyReply) {
    if (!request.isMultipart()) throw new UnprocessableInput([{ type: 'missing', loc: ['body', 'file'], msg: 'Field required', input: null }]);
    // One byte past the limit reaches the blob store, which refuses it before anything is recorded.
    const part = await request.file({ limits: { fileSize: UPLOAD_LIMIT + 1, files: 1 } });
    if (!part || part.fieldname !== 'file') throw new UnprocessableInput([{ type: 'missing', loc: ['body', 'file'], msg: 'Field required', input: null }]);
    let artifact: Artifact;
    try {
      const mediaType = part.mimetype && part.mimetype !== 'application/octet-stream' ? part.mimetype : null;
      const target = await deps.artifacts.find(caller(request), request.params.id);
      // The file counts in the request's identity by its hash, known once it is stored.
      artifact = await deps.artifacts.uploadVersion(caller(request), target.id, part.file, mediaType, UPLOAD_LIMIT, (blob) =>
        claimIdempotency(request, { file: blob, mediaType }),
      );
    } catch (error) {
      if (error instanceof BlobTooLarge) throw new TooLarge('Upload exceeds maximum size of 50 MB');
      throw error;
    }
    if (part.file.truncated) throw new TooLarge('Upload exceeds maximum size of 50 MB');
    const storageUrl = await deps.links.url(artifact, artifact.latest, baseUrl(request));
    return reply.send({ artifact_id: artifact.id, storage_url: storageUrl, status: 'uploaded', version: artifact.latest.number, content_hash: artifact.latest.sha256, size_bytes: artifact.latest.size });
  });
}

/** Bearer or X-API-Key, or HTTP Basic with the API key as the password (as behind the original's gateway). */
function credentialOf(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization?.trim();
  if (authorization) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (bearer) return bearer[1];
    const basic = /^Basic\s+(\S+)$/i.exec(authorization);
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      return decoded.slice(decoded.indexOf(':') + 1);
    }
  }
  const key = request.headers['x-api-key'];
  const value = Array.isArray(key) ? key[0] : key;
  if (!value) throw new AuthRequired('Not authenticated');
  return value;
}

function summaryView(artifact: Artifact) {
  return {
    id: artifact.id,
    workflow_id: artifact.workflowId,
    phase_id: artifact.phaseId,
    artifact_type: artifact.artifactType,
    title: artifact.title,
    size_bytes: artifact.latest.size,
    created_at: artifact.createdAt,
  };
}

function detailView(artifact: Artifact, owner: KeyOwner, content: string | null, downloadUrl: string) {
  return {
    id: artifact.id,
    workflow_id: artifact.workflowId,
    phase_id: artifact.phaseId,
    session_id: artifact.taskId,
    artifact_type: artifact.artifactType,
    is_primary_deliverable: artifact.isPrimaryDeliverable,
    content,
    content_type: artifact.latest.mediaType,
    content_hash: artifact.latest.sha256,
    size_bytes: artifact.latest.size,
    title: artifact.title,
    derived_from: artifact.latest.derivedFrom,
    created_at: artifact.createdAt,
    created_by: owner.username,
    metadata: artifact.metadata,
    version: artifact.latest.number,
    version_id: artifact.latest.id,
    updated_at: artifact.updatedAt,
    path: artifact.path,
    download_url: downloadUrl,
  };
}
