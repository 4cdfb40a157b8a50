import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium as playwright, type BrowserContext } from 'playwright-core';
import { tempDir } from './kiln-process.js';
import { CHROMIUM_PATH } from './requirements.js';

/** A headless Chromium with a new, empty profile; closing it removes the profile. */
export async function openBrowser(): Promise<BrowserContext & { dispose(): Promise<void> }> {
  const profile = tempDir('kiln-chromium-');
  const context = await playwright.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  return Object.assign(context, {
    async dispose() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  });
}

/**
 * A customer's site on its own port (so another origin than Kiln's): `GET /?user=NAME` is a page
 * with the widget for end user NAME, and `POST /token?user=NAME` is the site's token endpoint,
 * which exchanges the app's credentials with Kiln, as the README's example does.
 */
export async function customerSite(options: { kilnUrl: string; appId: string; appSecret: string; title?: string }): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://site');
    const user = url.searchParams.get('user') ?? 'visitor';
    if (request.method === 'POST' && url.pathname === '/token') {
      const answer = await fetch(`${options.kilnUrl}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId: options.appId, appSecret: options.appSecret, endUserId: user, expiresIn: '1h' }),
      });
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(await answer.text());
      return;
    }
    if (request.method === 'GET' && url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html><head><title>Shop</title><style>button { color: red; }</style></head>
<body><h1>A shop</h1>
<script src="${options.kilnUrl}/widget.js" data-token-url="/token?user=${encodeURIComponent(user)}" data-title="${options.title ?? 'Help'}"></script>
</body></html>`);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // Another port than Kiln's: another origin.
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
