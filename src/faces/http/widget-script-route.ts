import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';

const SCRIPT = new URL('../../../../packages/widget/dist/widget.js', import.meta.url);

/**
 * `GET /widget.js`: the chat widget, one script built from `packages/widget` at install time.
 * Customers' pages load it from here, so it needs no CDN and works offline.
 */
export async function widgetScriptRoute(app: FastifyInstance): Promise<void> {
  app.get('/widget.js', async function widgetScript(_request, reply) {
    const script = await fs.promises.readFile(SCRIPT).catch(() => null);
    if (!script) {
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'The widget is not built on this server: run `npm run build` in Kiln\'s folder.' } });
    }
    return reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .header('cross-origin-resource-policy', 'cross-origin')
      .send(script);
  });
}
