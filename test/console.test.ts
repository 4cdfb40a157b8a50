import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium as playwright, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { CHROMIUM_PATH, chromium, needs } from './helpers/requirements.js';

/**
 * The web console in a real Chromium against a real Kiln process (offline model): what a person
 * using it sees and does. Screenshots of the main pages go to test-results/console/.
 */

const SHOTS = path.join(ROOT, 'test-results', 'console');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
/** Waits in this file are for the page to show what the server did; generous for two busy cores. */
const UI_WAIT = 30_000;

describe('the web console', needs(chromium), () => {
  let server: KilnServer;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  /** The console asks before revoking a key; every other dialog would be script the page ran. */
  let confirmDialogs = false;

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    server = await startKiln();
    context = await playwright.launchPersistentContext(tempDir('kiln-chromium-'), {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: { width: 1100, height: 760 },
      acceptDownloads: true,
    });
    context.setDefaultTimeout(UI_WAIT);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (dialog) => {
      if (confirmDialogs && dialog.type() === 'confirm') return void dialog.accept();
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  after(async () => {
    await context?.close();
    await server?.stop();
  });

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  const taskIdOfPage = () => /#\/tasks\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? assert.fail(`not on a task page: ${page.url()}`);
  const statusOfTask = () => page.locator('.task .title-row .badge');

  async function newTask(message: string, options: { files?: { name: string; content: string }[]; ask?: boolean } = {}): Promise<string> {
    await page.goto(`${server.url}/#/tasks/new`);
    await page.getByLabel('Message').fill(message);
    if (options.files) {
      await page.locator('#task-files').setInputFiles(options.files.map((f) => ({ name: f.name, mimeType: 'text/plain', buffer: Buffer.from(f.content) })));
    }
    if (options.ask) {
      await page.getByText('Settings').click();
      await page.getByLabel('Tool calls').selectOption('false');
    }
    await page.getByRole('button', { name: 'Start task' }).click();
    await page.waitForURL(/#\/tasks\/[0-9a-f-]{36}$/);
    return taskIdOfPage();
  }

  it('serves the console to browsers at / with a strict CSP, and JSON to programs', async () => {
    const html = await fetch(server.url, { headers: { accept: 'text/html' } });
    assert.equal(html.status, 200);
    const csp = html.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(await html.text(), /<script>(?!<\/script>)/, 'no inline script');
    const json = await fetch(server.url, { headers: { accept: 'application/json' } });
    assert.equal(((await json.json()) as { name: string }).name, 'Kiln');
  });

  it('signs in with an API key that the page does not keep', async () => {
    await page.goto(server.url);
    await page.getByLabel('API key').fill('kiln_' + '0'.repeat(64));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid API key' }).waitFor();
    await page.getByLabel('API key').fill(server.key);
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();

    const session = (await context.cookies()).find((c) => c.name === 'kiln_session');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(server.key));
    const visible = await page.evaluate(() => {
      const web = globalThis as unknown as { document: { cookie: string }; localStorage: object; sessionStorage: object };
      return JSON.stringify({ cookie: web.document.cookie, local: { ...web.localStorage }, session: { ...web.sessionStorage } });
    });
    assert.ok(!visible.includes(server.key), 'the key is nowhere the page can read');
    assert.ok(!visible.includes(session.value), 'the session is not readable by script');
  });

  it('refuses a cookie-authenticated write without the CSRF token', async () => {
    const status = await page.evaluate(async () => {
      const response = await fetch('/api/v1/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'forged' }) });
      return response.status;
    });
    assert.equal(status, 403);
  });

  it('creates a task with a file and shows it run to the end', async () => {
    await newTask('cat uploads/notes.txt\nwrite downloads/report.md\n# Report\n\nfirst draft\nEOF', { files: [{ name: 'notes.txt', content: 'remember the budget' }] });
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    const calls = page.locator('.tool-call');
    assert.equal(await calls.count(), 2);
    await calls.first().getByText('Result').click();
    await calls.first().locator('.output').filter({ hasText: 'remember the budget' }).waitFor();
    await page.locator('.usage').first().waitFor();
    await shot('task');

    await page.goto(`${server.url}/#/tasks`);
    await page.locator('tr', { hasText: 'cat uploads/notes.txt' }).getByText('completed').waitFor();
    await shot('tasks');
  });

  it('asks before a tool call and runs it once approved', async () => {
    await newTask('write approved.txt\nyes\nEOF', { ask: true });
    const card = page.getByRole('group', { name: 'Approve write_file' });
    await card.waitFor();
    await statusOfTask().filter({ hasText: 'awaiting approval' }).waitFor();
    await card.getByRole('button', { name: 'Run once' }).click();
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    assert.equal(await page.locator('.tool-call[data-status="success"]').count(), 1);
  });

  it('follows up on a task, then compares the two versions of its file and downloads them', async () => {
    const id = await newTask('write downloads/report.md\n# Report\n\nfirst draft\nEOF');
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    await page.getByRole('textbox', { name: 'Follow-up' }).fill('write downloads/report.md\n# Report\n\nsecond draft\nEOF');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('.entry.user', { hasText: 'second draft' }).waitFor();
    await page.locator('.entry.assistant').nth(1).locator('.tool-call[data-status="success"]').waitFor();
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();

    await page.getByRole('link', { name: 'Files' }).click();
    await page.locator('button[data-path="downloads/report.md"]').click();
    await page.getByRole('heading', { name: 'downloads/report.md', exact: true }).waitFor();
    await page.locator('.markdown h1', { hasText: 'Report' }).waitFor();
    const diff = page.getByRole('region', { name: 'Compare versions' });
    await diff.locator('.removed', { hasText: '- first draft' }).waitFor();
    await diff.locator('.added', { hasText: '+ second draft' }).waitFor();
    await shot('files');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download', exact: true }).click()]);
    assert.equal(fs.readFileSync((await download.path())!, 'utf8'), '# Report\n\nsecond draft\n');

    await page.getByRole('button', { name: 'Copy signed link' }).click();
    const link = await page.getByLabel('Signed link (copied)').inputValue();
    const unauthenticated = await fetch(link);
    assert.equal(unauthenticated.status, 200);
    assert.equal(await unauthenticated.text(), '# Report\n\nsecond draft\n');

    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download folder downloads as zip' }).click()]);
    assert.equal(fs.readFileSync((await zip.path())!).subarray(0, 2).toString(), 'PK');
    assert.ok(id);
  });

  it('cancels a running task', async () => {
    await newTask('sleep 60000');
    await statusOfTask().filter({ hasText: 'running' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await statusOfTask().filter({ hasText: 'cancelled' }).waitFor();
    await page.locator('.notice', { hasText: 'Cancelled' }).waitFor();
  });

  it('keeps the stream through a server restart: the waiting call is still there, no line lost or doubled', async () => {
    await newTask('think about the plan\nwrite restart.txt\nafter the restart\nEOF', { ask: true });
    await page.getByRole('group', { name: 'Approve write_file' }).waitFor();
    const port = new URL(server.url).port;
    await server.stop();
    await page.locator('.notice', { hasText: 'reconnecting' }).waitFor();
    server = await server.restart({ args: ['--port', port] });
    await page.locator('.notice', { hasText: 'reconnecting' }).waitFor({ state: 'detached' });
    await page.getByRole('group', { name: 'Approve write_file' }).getByRole('button', { name: 'Run once' }).click();
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    assert.equal(await page.locator('.tool-call').count(), 1, 'one tool call, shown once');
    assert.equal(await page.locator('.thoughts').count(), 1, 'one set of thoughts');
    assert.equal(await page.locator('.entry.assistant .markdown', { hasText: 'write_file: success' }).count(), 1);
    assert.equal(((await page.locator('.entry.assistant .markdown').innerText()).match(/write_file: success/g) ?? []).length, 1);
  });

  it('shows an answer, a file name and file contents that carry script as data, and runs none of it', async () => {
    const payload = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>';
    await newTask(`Hello ${payload} [click](javascript:window.__xss=3)`);
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    await page.locator('.entry.assistant .markdown', { hasText: 'Echo: Hello' }).waitFor();
    assert.equal(await page.locator('.entry.assistant .markdown script').count(), 0);
    await page.locator('.entry.assistant .markdown a', { hasText: 'click' }).click().catch(() => undefined);

    await newTask(`write evil<img src=x onerror=alert(4)>.md\n# Title ${payload}\nEOF\nwrite page.html\n<h1>Page</h1>${payload}\nEOF\nwrite data.csv\nname,note\nbob,"${payload.replaceAll('"', '""')}"\nEOF`);
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
    await page.getByRole('link', { name: 'Files' }).click();
    const evil = page.locator('button.file-button', { hasText: 'evil<img' });
    await evil.waitFor();
    await evil.click();
    await page.locator('.markdown h1', { hasText: 'Title' }).waitFor();
    await page.locator('button[data-path="page.html"]').click();
    await page.locator('pre.source', { hasText: '<script>' }).waitFor();
    await page.getByRole('button', { name: 'Show rendered (sandboxed, no scripts)' }).click();
    await page.locator('iframe.preview-html').waitFor();
    await page.locator('button[data-path="data.csv"]').click();
    await page.locator('table.csv td', { hasText: '<script>' }).waitFor();
    await page.waitForTimeout(500); // let any injected handler that slipped through fire
    assert.deepEqual(dialogs, [], 'no script ran a dialog');
    assert.equal(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss), undefined);
    for (const frame of page.frames()) {
      assert.equal(await frame.evaluate(() => (globalThis as { __xss?: unknown }).__xss).catch(() => undefined), undefined);
    }
  });

  it('creates and edits an agent, and starts a task as it', async () => {
    await page.goto(`${server.url}/#/agents`);
    await page.getByRole('button', { name: 'New agent' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByLabel('Name').fill('reviewer');
    await form.getByLabel('System prompt').fill('Review code.');
    await form.getByLabel('Run tools without asking').uncheck();
    await form.getByRole('button', { name: 'Save' }).click();
    const card = page.locator('.card', { hasText: 'reviewer' });
    await card.getByText('asks before each tool call').waitFor();
    await card.getByRole('button', { name: 'Edit reviewer' }).click();
    await page.getByRole('form', { name: 'Edit agent reviewer' }).getByLabel('Name').fill('code reviewer');
    await page.getByRole('form', { name: 'Edit agent reviewer' }).getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'code reviewer' }).waitFor();
    await shot('agents');
    await page.getByRole('link', { name: 'Start a task as code reviewer' }).click();
    await page.getByLabel('Message').fill('write r.txt\nx\nEOF');
    await page.getByRole('button', { name: 'Start task' }).click();
    // The agent asks before tool calls: its setting reached the task.
    await page.getByRole('group', { name: 'Approve write_file' }).waitFor();
    await page.getByRole('group', { name: 'Approve write_file' }).getByRole('button', { name: 'Cancel call' }).click();
    await statusOfTask().filter({ hasText: 'completed' }).waitFor();
  });

  it('lets an admin create a key for a user and revoke it', async () => {
    await page.goto(`${server.url}/#/keys`);
    await page.getByLabel('Key name').fill('ci');
    await page.getByLabel('For a new user (name)').fill('alice');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('The new key, shown this once:').inputValue();
    assert.match(key, /^kiln_[0-9a-f]{64}$/);
    const asAlice = await fetch(`${server.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(asAlice.status, 200);
    await page.getByRole('heading', { name: 'Keys of alice' }).waitFor();
    await shot('keys');
    confirmDialogs = true;
    await page.getByRole('button', { name: 'Revoke ci' }).click();
    await page.locator('tr', { hasText: 'ci' }).filter({ has: page.getByRole('button', { name: 'Revoke ci' }) }).waitFor({ state: 'detached' });
    const revoked = await fetch(`${server.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(revoked.status, 401);
  });

  it('charts tokens and tasks per day', async () => {
    await page.goto(`${server.url}/#/usage`);
    await page.getByRole('img', { name: 'Tokens per day: bar chart' }).waitFor();
    const bars = await page.locator('svg.chart').first().locator('rect.bar').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('height'))));
    assert.equal(bars.length, 30);
    assert.ok(bars[29]! > 0, "today's bar shows the tokens used");
    await shot('usage');
  });

  it('works at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${server.url}/#/tasks`);
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    const overflow = await page.evaluate(() => {
      const web = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
      return web.document.documentElement.scrollWidth - web.innerWidth;
    });
    assert.ok(overflow <= 1, `the page fits the width (overflow ${overflow}px)`);
    await shot('tasks-phone');
    await page.setViewportSize({ width: 1100, height: 760 });
  });
});
