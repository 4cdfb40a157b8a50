import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { deriveKey } from '../src/core/crypto/encryption-key.js';
import { Api } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { dropSchema, schemaName, TEST_DATABASE_URL } from './helpers/postgres.js';
import { needs, postgres, sandbox } from './helpers/requirements.js';
import { WidgetAppsApi } from './helpers/widget-apps.js';

const SHOP = 'https://shop.example';
const APP_SECRET_VALUE = 'app-secret-Zq81xLw4';
const APP_ENV_VALUE = 'app-env-Pk27Vn0c';
const TOKEN_SECRET_VALUE = 'token-secret-Hd55Rt7u';

/** Every native endpoint a widget token may call, for one task of someone else's. */
function taskEndpoints(id: string): [string, string, unknown?][] {
  return [
    ['GET', `/api/v1/tasks/${id}`],
    ['GET', `/api/v1/tasks/${id}/history`],
    ['GET', `/api/v1/tasks/${id}/stream`],
    ['POST', `/api/v1/tasks/${id}/messages`, { message: 'hello again' }],
    ['POST', `/api/v1/tasks/${id}/tools/call_x/approve`, { outcome: 'proceed_once' }],
    ['DELETE', `/api/v1/tasks/${id}`],
    ['GET', `/api/v1/tasks/${id}/artifacts`],
    ['GET', `/api/v1/tasks/${id}/artifacts/download?path=downloads/mine.txt`],
    ['GET', `/api/v1/tasks/${id}/artifacts/versions?path=downloads/mine.txt`],
    ['GET', `/api/v1/tasks/${id}/artifacts/archive`],
  ];
}

for (const backend of ['SQLite', 'PostgreSQL'] as const) {
  describe(`widget tokens keep end users apart (${backend})`, backend === 'PostgreSQL' ? needs(postgres) : {}, () => {
    let kiln: KilnServer;
    let schema: string | undefined;
    before(async () => {
      schema = backend === 'PostgreSQL' ? schemaName('widget isolation') : undefined;
      kiln = await startKiln(schema ? { env: { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema } } : {});
    });
    after(async () => {
      await kiln?.stop();
      if (schema) await dropSchema(schema);
    });

    it('shows each end user only their own tasks, and each app only its own', async () => {
      const apps = new WidgetAppsApi(Api.of(kiln));
      const shop = await apps.create({ name: 'Shop', allowedOrigins: [SHOP] });
      const blog = await apps.create({ name: 'Blog' });
      const ann = await apps.endUser(shop, 'ann');
      const ben = await apps.endUser(shop, 'ben');
      const annOnBlog = await apps.endUser(blog, 'ann');

      const annTask = await ann.createTask({ message: 'write downloads/mine.txt\nann only\nEOF' });
      await ann.waitForEnd(annTask);
      const benTask = await ben.createTask({ message: 'hello from ben' });
      await ben.waitForEnd(benTask);
      const ownerTask = await Api.of(kiln).createTask({ message: 'the owner\'s own' });
      await Api.of(kiln).waitForEnd(ownerTask);

      assert.deepEqual((await ann.get('/api/v1/tasks')).body.data.map((t: any) => t.id), [annTask]);
      assert.equal((await ann.get('/api/v1/tasks')).body.pagination.total, 1);
      assert.deepEqual((await ben.get('/api/v1/tasks')).body.data.map((t: any) => t.id), [benTask]);
      assert.deepEqual((await annOnBlog.get('/api/v1/tasks')).body.data, [], 'the same end-user id on another app is someone else');

      for (const [caller, foreign] of [
        [ben, annTask],
        [annOnBlog, annTask],
        [ann, ownerTask],
      ] as const) {
        for (const [method, url, json] of taskEndpoints(foreign)) {
          const response = await caller.request(method, url, json === undefined ? {} : { json });
          assert.deepEqual([response.status, response.body?.error?.code], [404, 'NOT_FOUND'], `${method} ${url}`);
        }
      }
      // The task's own end user reaches all of it.
      assert.equal((await ann.get(`/api/v1/tasks/${annTask}/artifacts/download?path=downloads/mine.txt`)).body, 'ann only\n');
      const files = (await ann.get(`/api/v1/tasks/${annTask}/artifacts`)).body.data.files;
      const link = files.find((f: any) => f.path === 'downloads/mine.txt').downloadUrl;
      assert.equal(await (await fetch(link)).text(), 'ann only\n', 'the listing gives a signed link that needs no credential');
      // The owner's API key sees its end users' tasks too.
      const owned = (await Api.of(kiln).get('/api/v1/tasks')).body.data.map((t: any) => t.id);
      for (const id of [annTask, benTask, ownerTask]) assert.ok(owned.includes(id));
    });

    it('refuses a token everything but the Tasks API', async () => {
      const apps = new WidgetAppsApi(Api.of(kiln));
      const shop = await apps.create({ name: 'Shop' });
      const ann = await apps.endUser(shop, 'ann');
      const refused: [string, string, unknown?][] = [
        ['GET', '/api/v1/agents'],
        ['POST', '/api/v1/agents', { name: 'mine' }],
        ['GET', '/api/v1/keys'],
        ['POST', '/api/v1/keys', { name: 'mine' }],
        ['GET', '/api/v1/users'],
        ['GET', '/api/v1/widget-apps'],
        ['POST', '/api/v1/widget-apps', { name: 'mine' }],
        ['GET', `/api/v1/widget-apps/${shop.id}`],
        ['POST', `/api/v1/widget-apps/${shop.id}/rotate-secret`],
        ['DELETE', `/api/v1/widget-apps/${shop.id}`],
        ['GET', '/api/v1/webhooks'],
        ['POST', '/api/v1/webhooks', { url: 'https://hooks.example/kiln', events: ['task.completed'] }],
        ['GET', '/gumloop/agents'],
        ['GET', '/syntropic/artifacts'],
      ];
      for (const [method, url, json] of refused) {
        const response = await ann.request(method, url, json === undefined ? {} : { json });
        assert.equal(response.status, 403, `${method} ${url}: ${JSON.stringify(response.body)}`);
      }
      const mcp = await ann.request('POST', '/mcp', { json: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers: { accept: 'application/json, text/event-stream' } });
      assert.equal(mcp.status, 403);
      // Fields the app decides are not the end user's to set.
      const fields: Record<string, unknown>[] = [{ systemPrompt: 'obey me' }, { autoExecute: true }, { agentId: 'x' }, { model: 'offline' }, { env: { A: 'b' } }, { secrets: { A: 'b' } }, { toolPolicy: { run_command: 'allow' } }];
      // A task's own budgets would replace those of the app's agent.
      fields.push({ maxTokens: 1_000_000 }, { maxDurationSeconds: 86_400 });
      for (const field of fields) {
        const response = await ann.post('/api/v1/tasks', { message: 'hi', ...field });
        assert.deepEqual([response.status, response.body.error.code], [403, 'FORBIDDEN'], JSON.stringify(field));
      }
      // Purging is the owner's: the end user's own ended task stays.
      const own = await ann.createTask({ message: 'keep me' });
      await ann.waitForEnd(own);
      const purge = await ann.post(`/api/v1/tasks/${own}/purge`, {});
      assert.deepEqual([purge.status, purge.body.error.code], [403, 'FORBIDDEN']);
      assert.equal((await ann.get(`/api/v1/tasks/${own}`)).status, 200);
    });

    it("keeps each end user's Idempotency-Keys their own", async () => {
      const apps = new WidgetAppsApi(Api.of(kiln));
      const shop = await apps.create({ name: 'Shop' });
      const ann = await apps.endUser(shop, 'ann');
      const ben = await apps.endUser(shop, 'ben');
      const send = (caller: Api) => caller.request('POST', '/api/v1/tasks', { json: { message: 'same words' }, headers: { 'idempotency-key': 'order-1' } });
      const annFirst = await send(ann);
      const benFirst = await send(ben);
      assert.equal(annFirst.status, 200);
      assert.equal(benFirst.status, 200);
      assert.equal(benFirst.headers.get('idempotent-replayed'), null, "ben's request is not answered with ann's");
      assert.notEqual(benFirst.body.data.id, annFirst.body.data.id);
      assert.equal((await ben.get(`/api/v1/tasks/${benFirst.body.data.id}`)).status, 200);
      const annAgain = await send(ann);
      assert.equal(annAgain.headers.get('idempotent-replayed'), 'true');
      assert.equal(annAgain.body.data.id, annFirst.body.data.id);
      const owner = await Api.of(kiln).request('POST', '/api/v1/tasks', { json: { message: 'same words' }, headers: { 'idempotency-key': 'order-1' } });
      assert.equal(owner.headers.get('idempotent-replayed'), null, "the owner's key of the same spelling is another key");
    });
  });
}

describe('widget apps and the token exchange', () => {
  let kiln: KilnServer;
  let owner: Api;
  let apps: WidgetAppsApi;
  const encryptionKey = randomBytes(32).toString('hex');
  before(async () => {
    kiln = await startKiln({ env: { KILN_ENCRYPTION_KEY: encryptionKey } });
    owner = Api.of(kiln);
    apps = new WidgetAppsApi(owner);
  });
  after(() => kiln.stop());

  it('are managed with an API key: the secret is shown once, env and secrets only by name', async () => {
    const agent = (await owner.post('/api/v1/agents', { name: 'Support', autoExecute: false })).body.data;
    const created = await owner.post('/api/v1/widget-apps', {
      name: 'Shop help',
      allowedOrigins: ['https://Shop.Example/', 'http://localhost:3000'],
      agentId: agent.id,
      env: { GREETING: APP_ENV_VALUE },
      secrets: { API_TOKEN: APP_SECRET_VALUE },
    });
    assert.equal(created.status, 201);
    const app = created.body.data;
    assert.match(app.appSecret, /^wsec_[0-9a-f]{64}$/);
    assert.deepEqual(app.allowedOrigins, [SHOP, 'http://localhost:3000']);
    assert.deepEqual([app.envNames, app.secretNames, app.agentId, app.autoExecute], [['GREETING'], ['API_TOKEN'], agent.id, null]);

    const read = (await owner.get(`/api/v1/widget-apps/${app.id}`)).body.data;
    assert.equal(read.appSecret, undefined, 'the secret is never shown again');
    assert.deepEqual((await owner.get('/api/v1/widget-apps')).body.data.map((a: any) => a.id), [app.id]);
    const everything = JSON.stringify([read, (await owner.get('/api/v1/widget-apps')).body]);
    assert.ok(!everything.includes(APP_SECRET_VALUE) && !everything.includes(APP_ENV_VALUE), 'values are never shown');

    const patched = await owner.request('PATCH', `/api/v1/widget-apps/${app.id}`, { json: { name: 'Shop', secrets: { OTHER: 'x1234' }, autoExecute: true } });
    assert.deepEqual([patched.body.data.name, patched.body.data.secretNames, patched.body.data.envNames, patched.body.data.autoExecute], ['Shop', ['OTHER'], ['GREETING'], true]);

    const bob = new Api(kiln.url, await createUserKey(kiln, 'bob-apps'));
    assert.equal((await bob.get(`/api/v1/widget-apps/${app.id}`)).status, 404, "another user's app is not found");
    assert.deepEqual((await bob.get('/api/v1/widget-apps')).body.data, []);

    const bad: [unknown, string][] = [
      [{ name: 'x', allowedOrigins: ['https://shop.example/path'] }, 'VALIDATION_ERROR'],
      [{ name: 'x', allowedOrigins: ['shop.example'] }, 'VALIDATION_ERROR'],
      [{ name: 'x', agentId: 'no-such-agent' }, 'VALIDATION_ERROR'],
      [{ name: 'x', env: { '1BAD': 'x' } }, 'INVALID_ENV'],
      [{ name: 'x', secrets: { OK: 5 } }, 'INVALID_ENV'],
      [{ name: '' }, 'VALIDATION_ERROR'],
      [{ name: 'x', colour: 'red' }, 'VALIDATION_ERROR'],
    ];
    for (const [body, code] of bad) {
      const response = await owner.post('/api/v1/widget-apps', body);
      assert.deepEqual([response.status, response.body.error.code], [400, code], JSON.stringify(body));
    }

    assert.deepEqual((await owner.request('DELETE', `/api/v1/widget-apps/${app.id}`)).body.data, { id: app.id, deleted: true });
    assert.equal((await owner.get(`/api/v1/widget-apps/${app.id}`)).status, 404);
  });

  it('answers every token-exchange mistake with its own code', async () => {
    const app = await apps.create({ name: 'Errors', allowedOrigins: [SHOP] });
    const good = { appId: app.id, appSecret: app.appSecret, endUserId: 'ann' };
    const cases: [unknown, Record<string, string>, number, string][] = [
      [{ endUserId: 'ann' }, {}, 400, 'MISSING_CREDENTIALS'],
      [{ appId: app.id, endUserId: 'ann' }, {}, 400, 'MISSING_CREDENTIALS'],
      [{ appId: '', appSecret: app.appSecret, endUserId: 'ann' }, {}, 400, 'MISSING_CREDENTIALS'],
      [{ appId: app.id, appSecret: app.appSecret }, {}, 400, 'MISSING_END_USER_ID'],
      [{ ...good, endUserId: '  ' }, {}, 400, 'MISSING_END_USER_ID'],
      [{ ...good, appSecret: `wsec_${'0'.repeat(64)}` }, {}, 401, 'INVALID_CREDENTIALS'],
      [{ ...good, appId: 'wapp_unknown' }, {}, 401, 'INVALID_CREDENTIALS'],
      [{ ...good, expiresIn: '1 hour' }, {}, 400, 'INVALID_EXPIRES_IN'],
      [{ ...good, expiresIn: '8d' }, {}, 400, 'INVALID_EXPIRES_IN'],
      [{ ...good, expiresIn: 3600 }, {}, 400, 'INVALID_EXPIRES_IN'],
      [{ ...good, env: { 'NOT-A-NAME': 'x' } }, {}, 400, 'INVALID_ENV'],
      [{ ...good, secrets: { TOKEN: 42 } }, {}, 400, 'INVALID_ENV'],
      [good, { origin: 'https://evil.example' }, 403, 'ORIGIN_NOT_ALLOWED'],
    ];
    for (const [body, headers, status, code] of cases) {
      const response = await new Api(kiln.url, null).request('POST', '/api/v1/auth/token', { json: body, headers });
      assert.deepEqual([response.status, response.body.error?.code], [status, code], JSON.stringify(body));
    }
    const issued = await new Api(kiln.url, null).request('POST', '/api/v1/auth/token', { json: { ...good, expiresIn: '30m' }, headers: { origin: SHOP } });
    assert.equal(issued.status, 200);
    assert.match(issued.body.data.token, /^eyJ/);
    const lifetime = Date.parse(issued.body.data.expiresAt) - Date.now();
    assert.ok(lifetime > 29 * 60_000 && lifetime <= 30 * 60_000, `30m lasts 30 minutes (${lifetime} ms)`);
    const fallback = (await new Api(kiln.url, null).post('/api/v1/auth/token', good)).body.data;
    assert.ok(Math.abs(Date.parse(fallback.expiresAt) - Date.now() - 3_600_000) < 5000, 'the default lifetime is 1h');
  });

  it('refuses expired, tampered and foreign tokens, and tokens of a rotated or deleted app', async () => {
    const app = await apps.create({ name: 'Tokens' });
    const ann = await apps.endUser(app, 'ann');
    assert.equal((await ann.get('/api/v1/tasks')).status, 200);
    const expectInvalid = async (token: string, why: string) => {
      const response = await new Api(kiln.url, token).get('/api/v1/tasks');
      assert.deepEqual([response.status, response.body.error.code], [401, 'INVALID_TOKEN'], why);
    };
    const key = deriveKey(Buffer.from(encryptionKey, 'hex'), 'widget tokens');
    const claims = { app: app.id, gen: 1 };
    const signed = (payload: object, expires: number, signingKey: Uint8Array = key) =>
      new SignJWT(payload as any).setProtectedHeader({ alg: 'HS256' }).setIssuer('kiln').setAudience('kiln-widget').setSubject('ann').setJti('t-1').setIssuedAt(expires - 60).setExpirationTime(expires).sign(signingKey);
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await new Api(kiln.url, await signed(claims, now + 600)).get('/api/v1/tasks')).status, 200, 'a token signed with the installation key works');
    await expectInvalid(await signed(claims, now - 5), 'expired');
    await expectInvalid(await signed(claims, now + 600, randomBytes(32)), 'signed with another key');
    const [header, payload, signature] = ann.key!.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'ben' })).toString('base64url');
    await expectInvalid(`${header}.${forged}.${signature}`, 'payload changed');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    await expectInvalid(none, 'unsigned');
    await expectInvalid('eyJnotatoken', 'malformed');

    const rotated = (await owner.post(`/api/v1/widget-apps/${app.id}/rotate-secret`, {})).body.data;
    assert.notEqual(rotated.appSecret, app.appSecret);
    await expectInvalid(ann.key!, 'rotating the secret ends the tokens at once');
    assert.equal((await new Api(kiln.url, null).post('/api/v1/auth/token', { appId: app.id, appSecret: app.appSecret, endUserId: 'ann' })).body.error.code, 'INVALID_CREDENTIALS');
    const fresh = await apps.endUser({ ...app, appSecret: rotated.appSecret }, 'ann');
    assert.equal((await fresh.get('/api/v1/tasks')).status, 200);
    await owner.request('DELETE', `/api/v1/widget-apps/${app.id}`);
    await expectInvalid(fresh.key!, 'deleting the app ends its tokens at once');
  });

  it('lets a widget page send an Idempotency-Key and see that an answer was replayed', async () => {
    const app = await apps.create({ name: 'Shop', allowedOrigins: [SHOP] });
    const ann = await apps.endUser(app, 'ann');
    const preflight = await fetch(`${kiln.url}/api/v1/tasks`, {
      method: 'OPTIONS',
      headers: { origin: SHOP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /idempotency-key/);
    const send = () => ann.request('POST', '/api/v1/tasks', { json: { message: 'once' }, headers: { origin: SHOP, 'idempotency-key': 'checkout-7' } });
    const first = await send();
    const again = await send();
    assert.equal(again.body.data.id, first.body.data.id);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.match(again.headers.get('access-control-expose-headers') ?? '', /idempotent-replayed/);
    assert.match(again.headers.get('access-control-expose-headers') ?? '', /retry-after/);
  });

  it('never accepts an API key from a web page unless KILN_CORS_ORIGINS lists its origin', async () => {
    const listed = await startKiln({ env: { KILN_CORS_ORIGINS: 'https://admin.example, http://localhost:5173' } });
    try {
      for (const server of [kiln, listed]) {
        const refused = await fetch(`${server.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${server.key}`, origin: SHOP } });
        assert.deepEqual([refused.status, ((await refused.json()) as any).error.code], [403, 'ORIGIN_NOT_ALLOWED']);
        assert.equal(refused.headers.get('access-control-allow-origin'), SHOP, 'the page may read why');
        const syntropic = await fetch(`${server.url}/syntropic/artifacts`, { headers: { 'x-api-key': server.key, origin: SHOP } });
        assert.equal(syntropic.status, 403);
      }
      const allowed = await fetch(`${listed.url}/api/v1/agents`, { headers: { authorization: `Bearer ${listed.key}`, origin: 'https://admin.example' } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://admin.example');
      const preflight = await fetch(`${listed.url}/api/v1/agents`, {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'x-api-key' },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-api-key/);
    } finally {
      await listed.stop();
    }
  });
});

describe('widget env and secrets', needs(sandbox), () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln();
  });
  after(() => kiln.stop());

  it('reach the commands of the end user\'s tasks, the token\'s over the app\'s, and are stored only encrypted', async () => {
    const apps = new WidgetAppsApi(Api.of(kiln));
    const app = await apps.create({ name: 'Vars', env: { GREETING: APP_ENV_VALUE, SHARED: 'from-app-env' }, secrets: { API_TOKEN: APP_SECRET_VALUE, OVERRIDDEN: 'app-value-1' } });
    const ann = await apps.endUser(app, 'ann', { secrets: { TOKEN_SECRET: TOKEN_SECRET_VALUE, OVERRIDDEN: 'token-value-2' } });
    // The message is stored, so it names the values by their hashes only.
    const sameAs = (name: string, value: string) => `test "$(printf %s "$${name}" | sha256sum | cut -c1-64)" = ${createHash('sha256').update(value).digest('hex')}`;
    const check = [
      sameAs('GREETING', APP_ENV_VALUE),
      sameAs('API_TOKEN', APP_SECRET_VALUE),
      sameAs('TOKEN_SECRET', TOKEN_SECRET_VALUE),
      'test "$OVERRIDDEN" = token-value-2',
      'echo all-variables-present',
    ].join(' && ');
    const id = await ann.createTask({ message: `$ ${check}\n$ echo "$API_TOKEN"` });
    const events = await ann.events(id);
    const outputs = events.filter((e) => e.event === 'tool_result').map((e) => e.data.output);
    assert.equal(outputs[0], 'all-variables-present\n[exit code 0]');
    assert.equal(outputs[1], '[redacted]\n[exit code 0]', 'values never reach the browser');
    // A follow-up runs with them again.
    await ann.post(`/api/v1/tasks/${id}/messages`, { message: `$ ${check}` });
    const again = (await ann.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data.output);
    assert.equal(again[again.length - 1], 'all-variables-present\n[exit code 0]');
    assert.equal((await ann.get(`/api/v1/tasks/${id}`)).body.data.env, null);

    await kiln.stop();
    const files = fs.readdirSync(kiln.dataDir).filter((name) => name.startsWith('kiln.db')).map((name) => path.join(kiln.dataDir, name));
    assert.ok(files.length > 0);
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      for (const value of [APP_ENV_VALUE, APP_SECRET_VALUE, TOKEN_SECRET_VALUE, app.appSecret]) {
        assert.equal(bytes.includes(Buffer.from(value)), false, `${value} is not in ${path.basename(file)}`);
      }
    }
    kiln = await kiln.restart();
    const view = (await Api.of(kiln).get(`/api/v1/widget-apps/${app.id}`)).body.data;
    assert.deepEqual([view.envNames, view.secretNames], [['GREETING', 'SHARED'], ['API_TOKEN', 'OVERRIDDEN']], 'the sealed values open after a restart');
  });
});
