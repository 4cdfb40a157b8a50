import type { FastifyInstance } from 'fastify';
import { secretsSubject } from '../../adapters/http/secret-client.js';
import type { SignedUrls } from '../../core/artifacts/signed-urls.js';
import type { SecretVault } from '../../core/tasks/secret-vault.js';

/**
 * `GET /internal/tasks/{id}/secrets`: how a worker in another process gets the secrets this
 * process received with a task. Only requests signed with the installation's signing key, within
 * the last 30 seconds, are answered; secrets travel only between Kiln processes.
 */
export async function internalRoutes(app: FastifyInstance, deps: { secrets: SecretVault; signedUrls: SignedUrls }): Promise<void> {
  app.get<{ Params: { id: string } }>('/internal/tasks/:id/secrets', async function taskSecrets(request, reply) {
    const header = request.headers['x-kiln-signature'];
    const [expires, signature] = (Array.isArray(header) ? header[0] : header)?.split('.') ?? [];
    if (deps.signedUrls.check(secretsSubject(request.params.id), expires, signature) !== 'valid') {
      return reply.status(403).send({ error: { code: 'FORBIDDEN', message: 'Not a signed request from a Kiln process of this installation.' } });
    }
    const secrets = deps.secrets.get(request.params.id);
    if (!secrets) return reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'No secrets are held here for this task.' } });
    return reply.header('cache-control', 'no-store').send({ secrets });
  });
}
