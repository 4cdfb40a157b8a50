import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The policy of the console's page: its own scripts and styles only (no inline script, no
 * other origin), no framing by other sites. `blob:` serves previews made in the page (images,
 * PDF in an `<object>`, HTML in a frame sandboxed without scripts).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "font-src 'self'",
  'frame-src blob:',
  'object-src blob:',
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serves the web console (`packages/console/dist`, built by `npm run build`): `GET /` answers
 * its page to browsers (those that ask for `text/html`), its files are under `/console/`.
 * Returns false when the console is not built, so that `/` keeps answering only JSON.
 */
export async function consoleApp(app: FastifyInstance, dist: URL): Promise<{ servesPage: (request: FastifyRequest) => boolean; sendPage: (reply: FastifyReply) => FastifyReply } | null> {
  const root = fileURLToPath(dist);
  if (!fs.existsSync(`${root}/index.html`)) return null;
  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    index: false,
    wildcard: true,
    cacheControl: false,
    setHeaders(res, file) {
      // Vite names built files by their content: they never change under the same name.
      res.setHeader('cache-control', file.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('x-content-type-options', 'nosniff');
    },
  });
  return {
    servesPage: (request) => (request.headers.accept ?? '').split(',').some((type) => type.trim().startsWith('text/html')),
    sendPage: (reply) =>
      reply
        .header('content-security-policy', CONSOLE_CSP)
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer')
        .header('vary', 'Accept')
        .sendFile('index.html', { cacheControl: false, maxAge: 0 })
        .header('cache-control', 'no-cache'),
  };
}
