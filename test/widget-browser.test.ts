import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Api } from './helpers/api.js';
import { customerSite, openBrowser } from './helpers/browser.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { chromium, needs } from './helpers/requirements.js';
import { WidgetAppsApi, type CreatedApp } from './helpers/widget-apps.js';

type Site = Awaited<ReturnType<typeof customerSite>>;

/** The texts of the chat's messages, in order, as the end user sees them. */
async function transcript(page: Page): Promise<string[]> {
  return page.locator('[data-kiln-widget] .message').allTextContents();
}

async function openChat(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('[data-kiln-widget] .launcher').click();
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('[data-kiln-widget] textarea').fill(text);
  await page.locator('[data-kiln-widget] form button').click();
}

describe('the widget in Chromium', needs(chromium), () => {
  let kiln: KilnServer;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  let apps: WidgetAppsApi;
  let app: CreatedApp;
  let site: Site;
  let otherSite: Site;

  before(async () => {
    kiln = await startKiln();
    apps = new WidgetAppsApi(Api.of(kiln));
    // The app's origin is known only once the site listens: the app is created, then told.
    app = await apps.create({ name: 'Shop' });
    site = await customerSite({ kilnUrl: kiln.url, appId: app.id, appSecret: app.appSecret });
    otherSite = await customerSite({ kilnUrl: kiln.url, appId: app.id, appSecret: app.appSecret });
    await Api.of(kiln).request('PATCH', `/api/v1/widget-apps/${app.id}`, { json: { allowedOrigins: [site.origin] } });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.dispose();
    await site?.close();
    await otherSite?.close();
    await kiln?.stop();
  });

  it('lets a page on an allowed origin use its token, and refuses other origins and API keys', async () => {
    const token = (await apps.endUser(app, 'cors-user')).key!;
    const page = await browser.newPage();
    const attempt = (url: string, authorization: string, method = 'GET') =>
      page.evaluate(
        async ({ url, authorization, method }) => {
          try {
            const response = await fetch(url, { method, headers: { authorization, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{"message":"from the page"}' } : {}) });
            return { status: response.status, code: ((await response.json()) as any)?.error?.code ?? null };
          } catch {
            return { status: 0, code: 'blocked by the browser' };
          }
        },
        { url, authorization, method },
      );

    await page.goto(`${site.origin}/?user=cors-user`);
    // A JSON POST with Authorization is not a simple request: Chromium sends a preflight first.
    assert.deepEqual(await attempt(`${kiln.url}/api/v1/tasks`, `Bearer ${token}`, 'POST'), { status: 200, code: null });
    assert.deepEqual(await attempt(`${kiln.url}/api/v1/tasks`, `Bearer ${token}`), { status: 200, code: null });
    assert.deepEqual(await attempt(`${kiln.url}/api/v1/tasks`, `Bearer ${kiln.key}`), { status: 403, code: 'ORIGIN_NOT_ALLOWED' }, 'an API key from a page');
    assert.deepEqual(await attempt(`${kiln.url}/api/v1/agents`, `Bearer ${token}`), { status: 0, code: 'blocked by the browser' }, 'the preflight of a route tokens may not use');

    await page.goto(`${otherSite.origin}/?user=cors-user`);
    assert.deepEqual(await attempt(`${kiln.url}/api/v1/tasks`, `Bearer ${token}`, 'POST'), { status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    assert.equal((await apps.owner.get('/api/v1/tasks')).body.data.filter((t: any) => t.message === 'from the page').length, 1, 'the refused request did nothing');
    await page.close();
  });

  it('holds a conversation that survives a reload in the middle of an answer', async () => {
    const page = await browser.newPage();
    await openChat(page, `${site.origin}/?user=ann`);
    await send(page, 'hello there');
    await page.locator('[data-kiln-widget] .message.assistant', { hasText: 'Echo: hello there' }).waitFor();

    // A turn that writes a file and then takes a while to answer.
    await send(page, 'write downloads/report.txt\nthe report\nEOF\nsleep 2000');
    await page.locator('[data-kiln-widget] .activity', { hasText: 'write_file' }).waitFor();
    await page.reload();
    await page.locator('[data-kiln-widget] .launcher').click();
    await page.locator('[data-kiln-widget] .message.assistant', { hasText: 'write_file: success' }).waitFor();
    await page.locator('[data-kiln-widget] form button:not([disabled])').waitFor();
    assert.deepEqual(await transcript(page), ['hello there', 'Echo: hello there', 'write downloads/report.txt\nthe report\nEOF\nsleep 2000', 'write_file: success']);

    const link = page.locator('[data-kiln-widget] .files a', { hasText: 'downloads/report.txt' });
    await link.waitFor();
    assert.equal(await (await fetch((await link.getAttribute('href'))!)).text(), 'the report\n', 'the file list links to the file');

    // A follow-up after the reload continues the same task.
    await send(page, 'and one more');
    await page.locator('[data-kiln-widget] .message.assistant', { hasText: 'Echo: and one more' }).waitFor();
    const tasks = (await apps.endUser(app, 'ann').then((ann) => ann.get('/api/v1/tasks'))).body.data;
    assert.equal(tasks.length, 1, 'one conversation, kept across the reload');

    // Another end user on the same site starts empty.
    const other = await browser.newPage();
    await openChat(other, `${site.origin}/?user=ben`);
    await send(other, 'I am ben');
    await other.locator('[data-kiln-widget] .message.assistant', { hasText: 'Echo: I am ben' }).waitFor();
    assert.deepEqual(await transcript(other), ['I am ben', 'Echo: I am ben']);
    await other.close();
    await page.close();
  });

  it('shows task text as text, and asks before tools run when the app says so', async () => {
    await Api.of(kiln).request('PATCH', `/api/v1/widget-apps/${app.id}`, { json: { autoExecute: false } });
    const page = await browser.newPage();
    await openChat(page, `${site.origin}/?user=cara`);
    const markup = '<img src=x onerror="document.title=\'owned\'">';
    await send(page, markup);
    await page.locator('[data-kiln-widget] .message.assistant', { hasText: `Echo: ${markup}` }).waitFor();
    assert.equal(await page.locator('[data-kiln-widget] img').count(), 0, 'no markup from a task is rendered');
    assert.equal(await page.title(), 'Shop');

    await send(page, 'ls');
    const prompt = page.locator('[data-kiln-widget] .approval');
    await prompt.waitFor();
    assert.match((await prompt.textContent()) ?? '', /list_directory/);
    await prompt.locator('button[data-outcome="proceed_once"]').click();
    await page.locator('[data-kiln-widget] .message.assistant', { hasText: 'list_directory: success' }).waitFor();
    assert.equal(await prompt.count(), 0, 'the prompt goes once decided');
    await Api.of(kiln).request('PATCH', `/api/v1/widget-apps/${app.id}`, { json: { autoExecute: null } });
    await page.close();
  });
});
