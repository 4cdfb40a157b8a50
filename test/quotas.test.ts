import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { BACKENDS, openBackend, tracked, type Backend } from './helpers/backends.js';
import { newKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, postgres } from './helpers/requirements.js';
import { WidgetAppsApi } from './helpers/widget-apps.js';

/** One request a minute refills nothing during a test: only the burst counts. */
const RATE = { KILN_RATE_LIMIT: '1', KILN_RATE_LIMIT_BURST: '3' };

for (const { name, options } of BACKENDS) {
  describe(`request rate on ${name}`, options, () => {
    const state = { failed: false };
    const test = (title: string, fn: () => Promise<void>) => it(title, tracked(state, fn));
    let backend: Backend;
    let kiln: KilnServer;

    before(async () => {
      backend = await openBackend(name, 'rate');
      kiln = await startKiln({ env: { ...backend.env, ...RATE } });
    });
    after(async () => {
      await kiln?.stop();
      await backend?.finish(!state.failed);
    });

    const freshKey = async () => {
      const admin = Api.of(kiln);
      // Creating a key spends a request of the admin key's own bucket; each test uses a new admin-made key.
      const created = await fetch(`${kiln.url}/api/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: `user-${Math.random().toString(36).slice(2)}`, admin: false }),
      });
      assert.equal(created.status, 201, 'the admin key still has requests left');
      return new Api(kiln.url, ((await created.json()) as any).data.key);
    };

    test('refuses requests past the burst with 429, Retry-After and RateLimit headers, in each face\'s envelope', async () => {
      const alice = await freshKey();
      const remaining: string[] = [];
      for (let i = 0; i < 3; i++) {
        const ok = await alice.get('/api/v1/tasks');
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get('ratelimit-limit'), '3');
        remaining.push(ok.headers.get('ratelimit-remaining')!);
        assert.match(ok.headers.get('ratelimit-reset')!, /^\d+$/);
      }
      assert.deepEqual(remaining, ['2', '1', '0']);
      const refused = await alice.get('/api/v1/tasks');
      assert.equal(refused.status, 429);
      assert.deepEqual(refused.body, { success: false, error: { code: 'RATE_LIMITED', message: refused.body.error.message } });
      assert.match(refused.body.error.message, /Too many requests/);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(refused.headers.get('ratelimit-remaining'), '0');

      const gumloop = await fetch(`${kiln.url}/gumloop/agents`, { headers: { authorization: `Bearer ${alice.key}` } });
      assert.equal(gumloop.status, 429);
      assert.equal(((await gumloop.json()) as any).error.code, 'rate_limited');
      const syntropic = await fetch(`${kiln.url}/syntropic/artifacts`, { headers: { authorization: `Bearer ${alice.key}` } });
      assert.equal(syntropic.status, 429);
      assert.match(((await syntropic.json()) as any).detail, /Too many requests/);

      const mcp = await fetch(`${kiln.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      assert.equal(mcp.status, 429);
      assert.ok(Number(mcp.headers.get('retry-after')) >= 1);
      assert.match(((await mcp.json()) as any).error.message, /Too many requests/);

      const refusedCreate = await alice.post('/api/v1/tasks', { message: 'never made' });
      assert.equal(refusedCreate.status, 429);
      const bob = await freshKey();
      assert.equal((await bob.get('/api/v1/tasks')).status, 200, 'each key has its own bucket');
      assert.equal((await bob.get('/api/v1/tasks')).body.pagination.total, 0);
    });

    test('gives each end user of a widget app a bucket of their own, which a fresh token does not refill', async () => {
      const owner = await freshKey();
      const apps = new WidgetAppsApi(owner);
      const shop = await apps.create({ name: 'Shop' });
      const ann = await apps.endUser(shop, 'ann');
      for (let i = 0; i < 3; i++) assert.equal((await ann.get('/api/v1/tasks')).status, 200);
      const refused = await ann.get('/api/v1/tasks');
      assert.deepEqual([refused.status, refused.body.error.code], [429, 'RATE_LIMITED']);
      assert.match(refused.body.error.message, /this end user/);
      const annAgain = await apps.endUser(shop, 'ann');
      assert.equal((await annAgain.get('/api/v1/tasks')).status, 429, 'a new token of the same end user draws from the same bucket');

      const ben = await apps.endUser(shop, 'ben');
      const benOk = await ben.get('/api/v1/tasks');
      assert.equal(benOk.status, 200, 'another end user is not held back');
      assert.equal(benOk.headers.get('ratelimit-remaining'), '2');
      const ownerOk = await owner.get('/api/v1/tasks');
      assert.equal(ownerOk.status, 200, "the app owner's key is not held back either");
      assert.equal(ownerOk.headers.get('ratelimit-remaining'), '1', 'it spent one request on creating the app');
    });

  });

  describe(`turn budgets on ${name}`, options, () => {
    const state = { failed: false };
    const test = (title: string, fn: () => Promise<void>) => it(title, tracked(state, fn));
    let backend: Backend;
    let kiln: KilnServer;
    let api: Api;

    before(async () => {
      backend = await openBackend(name, 'budgets');
      kiln = await startKiln({ env: backend.env });
      api = Api.of(kiln);
    });
    after(async () => {
      await kiln?.stop();
      await backend?.finish(!state.failed);
    });

    test('ends a turn that uses more tokens than maxTokens with BUDGET_EXCEEDED', async () => {
      const id = await api.createTask({ message: 'write a.txt\nhello\nEOF\ncat a.txt', maxTokens: 5 });
      const end = await api.waitForEnd(id);
      assert.equal(end.event, 'error');
      assert.equal(end.data.code, 'BUDGET_EXCEEDED');
      assert.match(end.data.message, /more than its limit of 5 \(maxTokens\)/);
      const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'failed');
      // Each turn has the budget: a follow-up that passes it is stopped the same way.
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'write b.txt\nagain\nEOF' });
      assert.equal((await api.waitForEnd(id)).data.code, 'BUDGET_EXCEEDED');
      // A turn whose only step passes the limit has nothing left to stop: its answer stands.
      const single = await api.createTask({ message: 'just answer', maxTokens: 5 });
      assert.equal((await api.waitForEnd(single)).event, 'done');
    });

    test('ends a turn that runs longer than maxDurationSeconds, also when the limit comes from the agent', async () => {
      const id = await api.createTask({ message: 'sleep 60000', maxDurationSeconds: 1 });
      const end = await api.waitForEnd(id);
      assert.equal(end.data.code, 'BUDGET_EXCEEDED');
      assert.match(end.data.message, /limit of 1 s \(maxDurationSeconds\)/);

      const agent = (await api.post('/api/v1/agents', { name: 'hasty', maxDurationSeconds: 1, maxTokens: 1_000_000 })).body.data;
      assert.equal(agent.maxDurationSeconds, 1);
      assert.equal(agent.maxTokens, 1_000_000);
      const fromAgent = await api.createTask({ message: 'sleep 60000', agentId: agent.id });
      assert.equal((await api.waitForEnd(fromAgent)).data.code, 'BUDGET_EXCEEDED');
      // The task's own limit wins over the agent's.
      const own = await api.createTask({ message: 'sleep 1500', agentId: agent.id, maxDurationSeconds: 600 });
      assert.equal((await api.waitForEnd(own)).event, 'done');
      // Longer than a Node timer can wait (about 24.8 days).
      const long = await api.createTask({ message: 'sleep 300', maxDurationSeconds: 2_147_483_647 });
      assert.equal((await api.waitForEnd(long)).event, 'done', 'a budget of years does not end the turn at once');
      const patched = (await api.request('PATCH', `/api/v1/agents/${agent.id}`, { json: { maxDurationSeconds: null } })).body.data;
      assert.equal(patched.maxDurationSeconds, null);
    });

    test('refuses budgets that are not whole numbers from 1', async () => {
      for (const bad of [{ maxTokens: 0 }, { maxTokens: 1.5 }, { maxDurationSeconds: 'ten' }]) {
        const response = await api.post('/api/v1/tasks', { message: 'x', ...bad });
        assert.equal(response.status, 400, JSON.stringify(bad));
        assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      }
      const form = new FormData();
      form.append('message', 'x');
      form.append('maxTokens', 'lots');
      assert.equal((await api.request('POST', '/api/v1/tasks', { body: form })).status, 400);
    });
  });
}

describe('the request rate across two API processes sharing PostgreSQL', needs(postgres), () => {
  const state = { failed: false };
  let backend: Backend;
  let servers: KilnServer[] = [];

  before(async () => {
    backend = await openBackend('postgres', 'quotas two apis');
    const key = newKey();
    const first = await startKiln({ env: { ...backend.env, ...RATE } }, key);
    servers = [first, await startKiln({ env: { ...backend.env, ...RATE }, args: ['--role', 'api'] }, key)];
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await backend?.finish(!state.failed);
  });

  it('is one bucket per key, whichever process answers', tracked(state, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await Api.of(servers[i % 2]!).get('/api/v1/tasks')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
  }));
});

describe('without KILN_RATE_LIMIT', () => {
  it('sets no limit and sends no RateLimit headers', async () => {
    const kiln = await startKiln();
    try {
      const api = Api.of(kiln);
      for (let i = 0; i < 5; i++) {
        const response = await api.get('/api/v1/tasks');
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('ratelimit-limit'), null);
      }
    } finally {
      await kiln.stop();
    }
  });
});
