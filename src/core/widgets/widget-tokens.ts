import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { KeyOwner, Storage } from '../../ports/storage.js';
import type { SealedBox } from '../crypto/sealed-box.js';
import { InvalidInput, InvalidToken, MissingEndUserId, OriginNotAllowed } from '../errors.js';
import { lifetimeSeconds } from './token-lifetime.js';
import type { WidgetApps } from './widget-apps.js';
import type { EndUserCaller, Variables } from './widget-types.js';

const ISSUER = 'kiln';
const AUDIENCE = 'kiln-widget';
const MAX_END_USER_ID = 256;

export interface TokenRequest {
  appId: string;
  appSecret: string;
  endUserId: string;
  /** A duration like "1h" (checked here: anything else is INVALID_EXPIRES_IN). */
  expiresIn: unknown;
  env: Record<string, string> | null;
  secrets: Record<string, string> | null;
  /** The `Origin` of a browser's request; undefined for a server's. */
  origin: string | undefined;
}

/**
 * Widget tokens: short-lived JWTs (HS256, under a key derived from the installation's
 * encryption key, so every process verifies every other's) that let a browser use the Tasks API
 * as one end user of one app. The token names the app, the end user and the generation of the
 * app's secret; each request reads the app again, so a deleted app or a rotated secret ends its
 * tokens at once. Env and secrets given with a token are kept sealed on the server, by the
 * token's id, and never put in the token.
 *
 * @example
 * const { token, expiresAt } = await tokens.issue({ appId, appSecret, endUserId: 'u-42', expiresIn: '1h', env: null, secrets: null, origin: undefined });
 * const caller = await tokens.authenticate(token, request.headers.origin);
 */
export class WidgetTokens {
  constructor(
    private readonly deps: { storage: Storage; apps: WidgetApps; box: SealedBox; signingKey: Uint8Array },
  ) {}

  async issue(request: TokenRequest): Promise<{ token: string; expiresAt: string }> {
    const endUserId = request.endUserId.trim();
    if (endUserId === '') throw new MissingEndUserId('endUserId is required: the id of the end user (a non-empty string) their conversations are kept under.');
    if (endUserId.length > MAX_END_USER_ID) throw new InvalidInput(`endUserId may be at most ${MAX_END_USER_ID} characters.`);
    const seconds = lifetimeSeconds(request.expiresIn);
    const app = await this.deps.apps.authenticate(request.appId, request.appSecret);
    if (request.origin !== undefined && !app.allowedOrigins.includes(request.origin)) throw originRefused(request.origin);
    const own: Variables = { env: request.env ?? {}, secrets: request.secrets ?? {} };
    this.deps.apps.checkSize(this.deps.apps.variables(app), own);

    const now = Date.now();
    const expiresAt = new Date((Math.floor(now / 1000) + seconds) * 1000);
    const tokenId = randomUUID();
    if (Object.keys(own.env).length > 0 || Object.keys(own.secrets).length > 0) {
      const sealed = this.deps.box.seal(JSON.stringify(own), `widget-token:${tokenId}`);
      await this.deps.storage.widgets.saveTokenVariables({ id: tokenId, appId: app.id, sealed, expiresAt: expiresAt.toISOString() }, new Date(now).toISOString());
    }
    const token = await new SignJWT({ app: app.id, gen: app.generation })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(endUserId)
      .setJti(tokenId)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.deps.signingKey);
    return { token, expiresAt: expiresAt.toISOString() };
  }

  /**
   * The caller a token acts for: the app owner's user, scoped to the end user. A browser's
   * request (one with an `Origin`) must come from an origin the app lists.
   */
  async authenticate(token: string, origin: string | undefined): Promise<KeyOwner & { endUser: EndUserCaller }> {
    let claims: { app?: unknown; gen?: unknown; sub?: unknown; jti?: unknown };
    try {
      claims = (await jwtVerify(token, this.deps.signingKey, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE })).payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new InvalidToken('The widget token has expired; get a new one from the token endpoint.');
      if (error instanceof joseErrors.JOSEError) throw new InvalidToken();
      throw error;
    }
    const { app: appId, gen, sub, jti } = claims;
    if (typeof appId !== 'string' || typeof gen !== 'number' || typeof sub !== 'string' || typeof jti !== 'string') throw new InvalidToken();
    const app = await this.deps.apps.record(appId);
    if (!app || app.generation !== gen) throw new InvalidToken();
    if (origin !== undefined && !app.allowedOrigins.includes(origin)) throw originRefused(origin);
    return { apiKeyId: null, userId: app.userId, username: app.username, admin: false, endUser: { appId, endUserId: sub, tokenId: jti } };
  }

  /** The env and secrets a token's tasks run with: the app's, with the token's own over them. */
  async variables(endUser: EndUserCaller): Promise<Variables & { app: { agentId: string | null; autoExecute: boolean | null } }> {
    const app = await this.deps.apps.record(endUser.appId);
    if (!app) throw new InvalidToken();
    const base = this.deps.apps.variables(app);
    const sealed = await this.deps.storage.widgets.tokenVariables(endUser.tokenId);
    const own: Variables = sealed ? (JSON.parse(this.deps.box.open(sealed, `widget-token:${endUser.tokenId}`)) as Variables) : { env: {}, secrets: {} };
    return {
      env: { ...base.env, ...own.env },
      secrets: { ...base.secrets, ...own.secrets },
      app: { agentId: app.agentId, autoExecute: app.autoExecute },
    };
  }
}

function originRefused(origin: string): OriginNotAllowed {
  return new OriginNotAllowed(`The origin ${origin} is not among the widget app's allowedOrigins; add it to the app (PATCH /api/v1/widget-apps/{id}).`);
}
