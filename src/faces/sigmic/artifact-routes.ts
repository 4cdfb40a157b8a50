import type { FastifyInstance, FastifyRequest } from 'fastify';
import yazl from 'yazl';
import { InvalidInput } from '../../core/errors.js';
import type { KeyOwner } from '../../ports/storage.js';
import { baseUrlOf } from '../http/base-url.js';
import type { FaceDeps } from '../http/face-deps.js';
import { contentDisposition, sendContent } from '../http/send-content.js';
import { artifactQuery, parseInput, queryInteger } from './schemas.js';
import { fileView, versionView } from './views.js';

type TaskRequest = FastifyRequest<{ Params: { id: string }; Querystring: { path?: string; version?: string } }>;

/** `/tasks/{id}/artifacts` routes of the native face: list, download (any version), versions, zip. */
export async function artifactRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const caller = (request: FastifyRequest): KeyOwner => request.caller!;

  app.get<{ Params: { id: string } }>('/tasks/:id/artifacts', async function listArtifacts(request) {
    const files = await deps.artifacts.taskFiles(caller(request), request.params.id);
    const base = baseUrlOf(request, deps.publicUrl);
    return { success: true, data: { files: await Promise.all(files.map(async (file) => fileView(file, await deps.links.url(file, file.latest, base)))) } };
  });

  // HEAD is routed explicitly so that it answers with the real Content-Length.
  app.route({ method: ['GET', 'HEAD'], url: '/tasks/:id/artifacts/download', exposeHeadRoute: false, handler: async function downloadArtifact(request: TaskRequest, reply) {
    const query = parseInput(artifactQuery, request.query);
    if (query.path === undefined || query.path === '') throw new InvalidInput('The path query parameter is required (a path from the artifacts listing).', 'path');
    const number = query.version === undefined ? undefined : queryInteger(query.version, 'version', 1, 1);
    const { artifact, version } = await deps.artifacts.taskFile(caller(request), request.params.id, query.path, number);
    return sendContent(request, reply, { version, filename: artifact.name, open: (range) => deps.artifacts.content(version, range) });
  } });

  app.get('/tasks/:id/artifacts/link', async function artifactLink(request: TaskRequest) {
    const query = parseInput(artifactQuery, request.query);
    if (!query.path) throw new InvalidInput('The path query parameter is required.', 'path');
    const number = query.version === undefined ? undefined : queryInteger(query.version, 'version', 1, 1);
    const { artifact, version } = await deps.artifacts.taskFile(caller(request), request.params.id, query.path, number);
    const url = await deps.links.url(artifact, version, baseUrlOf(request, deps.publicUrl));
    return { success: true, data: { url, version: version.number, expiresAt: new Date(Date.now() + deps.signedUrls.ttlMs).toISOString() } };
  });

  app.get('/tasks/:id/artifacts/versions', async function artifactVersions(request: TaskRequest) {
    const query = parseInput(artifactQuery, request.query);
    if (!query.path) throw new InvalidInput('The path query parameter is required.', 'path');
    const { artifact, versions } = await deps.artifacts.taskFileVersions(caller(request), request.params.id, query.path);
    return { success: true, data: { path: artifact.path, artifactId: artifact.id, versions: versions.map(versionView) } };
  });

  app.get('/tasks/:id/artifacts/archive', async function downloadArchive(request: TaskRequest, reply) {
    const query = parseInput(artifactQuery, request.query);
    const { task, folder, files } = await deps.artifacts.taskFolder(caller(request), request.params.id, query.path ?? '');
    const zip = new yazl.ZipFile();
    const prefix = folder === '' ? '' : `${folder}/`;
    for (const file of files) {
      const version = file.latest;
      zip.addReadStreamLazy(file.path!.slice(prefix.length), { mtime: new Date(version.createdAt), size: version.size }, (callback) => {
        deps.artifacts.content(version).then(
          (stream) => callback(null, stream),
          (error: Error) => callback(error, undefined as never),
        );
      });
    }
    zip.end();
    const name = `${prefix ? prefix.replace(/\/$/, '').split('/').pop() : `task-${task.id.slice(0, 8)}`}.zip`;
    return reply.header('content-type', 'application/zip').header('content-disposition', contentDisposition(name)).send(zip.outputStream);
  });
}
