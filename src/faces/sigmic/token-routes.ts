import type { FastifyInstance } from 'fastify';
import { MissingCredentials, MissingEndUserId } from '../../core/errors.js';
import { DEFAULT_TOKEN_LIFETIME } from '../../core/widgets/token-lifetime.js';
import type { FaceDeps } from '../http/face-deps.js';
import { originOf } from './auth.js';
import { envMap, parseInput, tokenExchangeBody } from './schemas.js';

/** `POST /auth/token`: a widget app's backend exchanges the app's credentials for an end user's token. */
export async function tokenRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  app.post('/auth/token', async function exchangeWidgetToken(request) {
    const body = parseInput(tokenExchangeBody, request.body);
    if (!nonEmpty(body.appId) || !nonEmpty(body.appSecret)) throw new MissingCredentials();
    if (!nonEmpty(body.endUserId)) throw new MissingEndUserId('endUserId is required: the id of the end user (a non-empty string) their conversations are kept under.');
    const issued = await deps.widgetTokens.issue({
      appId: body.appId,
      appSecret: body.appSecret,
      endUserId: body.endUserId,
      expiresIn: body.expiresIn ?? DEFAULT_TOKEN_LIFETIME,
      env: envMap(body.env, 'env'),
      secrets: envMap(body.secrets, 'secrets'),
      origin: originOf(request),
    });
    return { success: true, data: issued };
  });
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}
