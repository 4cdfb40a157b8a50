import type { FastifyInstance } from 'fastify';
import type { ArtifactService } from '../../core/artifacts/artifact-service.js';
import type { SignedUrls } from '../../core/artifacts/signed-urls.js';
import { NotFound } from '../../core/errors.js';
import { sendContent } from './send-content.js';

/**
 * `GET /files/{versionId}?expires&signature`: the target of signed download links. No API key:
 * the signature is the permission, for this one version until it expires.
 */
export async function signedFileRoute(app: FastifyInstance, deps: { artifacts: ArtifactService; signedUrls: SignedUrls }): Promise<void> {
  app.route<{ Params: { versionId: string }; Querystring: { expires?: string; signature?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/files/:versionId',
    exposeHeadRoute: false,
    handler: async function signedDownload(request, reply) {
      const { versionId } = request.params;
      const check = deps.signedUrls.check(versionId, request.query.expires, request.query.signature);
      if (check !== 'valid') {
        const message =
          check === 'expired'
            ? 'This download link has expired; ask the API for a new one.'
            : 'This download link is not valid (it was changed, or it is for another file).';
        return reply.status(403).send({ error: { code: check === 'expired' ? 'LINK_EXPIRED' : 'INVALID_SIGNATURE', message } });
      }
      try {
        const { artifact, version } = await deps.artifacts.versionForLink(versionId);
        return await sendContent(request, reply, { version, filename: artifact.name, open: (range) => deps.artifacts.content(version, range) });
      } catch (error) {
        if (error instanceof NotFound) return reply.status(404).send({ error: { code: 'NOT_FOUND', message: error.message } });
        throw error;
      }
    },
  });
}
