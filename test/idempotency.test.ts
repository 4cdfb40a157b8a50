import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { openSqlStorage } from '../src/adapters/sql/sql-storage.js';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.js';
import { IdempotencyKeys } from '../src/core/idempotency/idempotency-keys.js';
import { Api, form } from './helpers/api.js';
import { BACKENDS, openBackend, tracked, type Backend } from './helpers/backends.js';
import { newKey, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { needs, postgres } from './helpers/requirements.js';

const withKey = (key: string, extra: Record<string, string> = {}) => ({ 'idempotency-key': key, ...extra });

for (const { name, options } of BACKENDS) {
  describe(`Idempotency-Key on ${name}`, options, () => {
    const state = { failed: false };
    const test = (title: string, fn: () => Promise<void>) => it(title, tracked(state, fn));
    let backend: Backend;
    let kiln: KilnServer;
    let api: Api;

    before(async () => {
      backend = await openBackend(name, 'idempotency');
      kiln = await startKiln({ env: backend.env });
      api = Api.of(kiln);
    });
    after(async () => {
      await kiln?.stop();
      await backend?.finish(!state.failed);
    });

    const create = (key: string, json: unknown) => api.request('POST', '/api/v1/tasks', { json, headers: withKey(key) });
    const total = async () => (await api.get('/api/v1/tasks?limit=1')).body.pagination.total as number;

    test('a repeated create answers the first answer again and makes no second task', async () => {
      const key = randomUUID();
      const before = await total();
      const first = await create(key, { message: 'hello once', env: { A: '1' } });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      // The same fields in another order are the same request.
      const again = await create(key, { env: { A: '1' }, message: 'hello once' });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(again.body, first.body);
      assert.equal(await total(), before + 1);
      await api.waitForEnd(first.body.data.id);
    });

    test('the same key with a different request is refused with IDEMPOTENCY_KEY_REUSED, and changes nothing', async () => {
      const key = randomUUID();
      const first = await create(key, { message: 'one' });
      const before = await total();
      const other = await create(key, { message: 'two' });
      assert.equal(other.status, 409);
      assert.equal(other.body.success, false);
      assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
      assert.match(other.body.error.message, /different request/);
      const otherRoute = await api.request('POST', '/api/v1/agents', { json: { name: 'x' }, headers: withKey(key) });
      assert.equal(otherRoute.status, 409, 'another route with the same key is another request');
      assert.equal(await total(), before);
      await api.waitForEnd(first.body.data.id);
    });

    test('keys belong to their user: another user may use the same key for its own request', async () => {
      const key = randomUUID();
      const bob = new Api(kiln.url, (await api.post('/api/v1/keys', { userId: 'bob' })).body.data.key);
      const mine = await create(key, { message: 'mine' });
      const theirs = await bob.request('POST', '/api/v1/tasks', { json: { message: 'theirs' }, headers: withKey(key) });
      assert.equal(theirs.status, 200);
      assert.equal(theirs.headers.get('idempotent-replayed'), null);
      assert.notEqual(theirs.body.data.id, mine.body.data.id);
      await api.waitForEnd(mine.body.data.id);
      await bob.waitForEnd(theirs.body.data.id);
    });

    test('files count by their content: the same upload replays, other bytes under the same name are refused', async () => {
      const key = randomUUID();
      const send = (content: string) =>
        api.request('POST', '/api/v1/tasks', { body: form({ message: 'with a file' }, [{ name: 'a.txt', content }]), headers: withKey(key) });
      const first = await send('first bytes');
      assert.equal(first.status, 200);
      const again = await send('first bytes');
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(again.body.data.id, first.body.data.id);
      const changed = await send('other bytes');
      assert.equal(changed.status, 409);
      assert.equal(changed.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
      await api.waitForEnd(first.body.data.id);
      const files = (await api.get(`/api/v1/tasks/${first.body.data.id}/artifacts`)).body.data.files;
      assert.deepEqual(files.map((f: any) => f.path), ['uploads/a.txt']);
    });

    test('identical requests racing make one task; each answer is that task (or says the first is in progress)', async () => {
      const key = randomUUID();
      const before = await total();
      const answers = await Promise.all(Array.from({ length: 8 }, () => create(key, { message: 'race' })));
      const ids = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.data.id));
      assert.equal(ids.size, 1, `one task id among the answers: ${JSON.stringify(answers.map((a) => [a.status, a.body]))}`);
      for (const a of answers) {
        if (a.status !== 200) assert.equal(a.body.error.code, 'IDEMPOTENCY_IN_PROGRESS');
      }
      assert.equal(answers.filter((a) => a.status === 200 && a.headers.get('idempotent-replayed') === null).length, 1, 'exactly one did the work');
      assert.equal(await total(), before + 1);
      await api.waitForEnd([...ids][0]);
    });

    test('an error answer is not kept: the same request may be retried with the same key', async () => {
      const key = randomUUID();
      const refused = await create(key, { message: 'as an agent', agentId: 'no-such-agent' });
      assert.equal(refused.status, 400);
      const agent = await api.post('/api/v1/agents', { name: 'helper' });
      const retried = await create(key, { message: 'as an agent', agentId: agent.body.data.id });
      assert.equal(retried.status, 200, 'after a refusal the key is free again');
      await api.waitForEnd(retried.body.data.id);
    });

    test('follow-ups, agents and Syntropic creates and uploads replay too', async () => {
      const id = await api.createTask({ message: 'start' });
      await api.waitForEnd(id);
      const followKey = randomUUID();
      const follow = () => api.request('POST', `/api/v1/tasks/${id}/messages`, { json: { message: 'again' }, headers: withKey(followKey) });
      const f1 = await follow();
      assert.equal(f1.status, 200);
      const f2 = await follow();
      assert.equal(f2.status, 200, 'a repeat of an accepted follow-up is not "busy"');
      assert.equal(f2.headers.get('idempotent-replayed'), 'true');
      await api.waitForEnd(id);
      assert.equal((await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages.filter((m: any) => m.role === 'user').length, 2);

      const agentKey = randomUUID();
      const a1 = await api.request('POST', '/api/v1/agents', { json: { name: 'once' }, headers: withKey(agentKey) });
      const a2 = await api.request('POST', '/api/v1/agents', { json: { name: 'once' }, headers: withKey(agentKey) });
      assert.equal(a2.body.data.id, a1.body.data.id);
      assert.equal((await api.get('/api/v1/agents')).body.data.filter((a: any) => a.name === 'once').length, 1);

      const syn = (method: string, p: string, body: RequestInit['body'], headers: Record<string, string>) =>
        fetch(`${kiln.url}/syntropic${p}`, { method, body, headers: { authorization: `Bearer ${kiln.key}`, ...headers } });
      const createKey = randomUUID();
      const json = JSON.stringify({ workflow_id: 'wf-idem', artifact_type: 'text', title: 'Once', content: 'hello' });
      const c1 = await syn('POST', '/artifacts', json, withKey(createKey, { 'content-type': 'application/json' }));
      const c2 = await syn('POST', '/artifacts', json, withKey(createKey, { 'content-type': 'application/json' }));
      assert.equal(c1.status, 201);
      assert.equal(c2.status, 201);
      assert.equal(c2.headers.get('idempotent-replayed'), 'true');
      const artifactId = ((await c1.json()) as any).id;
      assert.equal(((await c2.json()) as any).id, artifactId);
      const listed = (await (await syn('GET', '/artifacts?workflow_id=wf-idem', undefined, {})).json()) as any[];
      assert.equal(listed.length, 1);

      const uploadKey = randomUUID();
      const upload = (content: string) => {
        const body = new FormData();
        body.append('file', new Blob([content]), 'v2.txt');
        return syn('POST', `/artifacts/${artifactId}/upload`, body, withKey(uploadKey));
      };
      const u1 = await upload('version two');
      const u2 = await upload('version two');
      assert.equal(u1.status, 200);
      assert.equal(u2.headers.get('idempotent-replayed'), 'true');
      assert.equal(((await u2.json()) as any).version, 2);
      const u3 = await upload('something else');
      assert.equal(u3.status, 409);
      assert.match(((await u3.json()) as any).detail, /different request/);
      const detail = (await (await syn('GET', `/artifacts/${artifactId}`, undefined, {})).json()) as any;
      assert.equal(detail.version, 2, 'the repeat made no third version');
    });

    test('a malformed key is refused in the face\'s envelope', async () => {
      const bad = await create('has spaces in it', { message: 'x' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
      assert.match(bad.body.error.message, /Idempotency-Key/);
      const long = await create('k'.repeat(256), { message: 'x' });
      assert.equal(long.status, 400);
    });
  });
}

describe('Idempotency-Key across two API processes sharing PostgreSQL', needs(postgres), () => {
  const state = { failed: false };
  let backend: Backend;
  let servers: KilnServer[] = [];

  before(async () => {
    backend = await openBackend('postgres', 'idempotency two apis');
    const key = newKey();
    const first = await startKiln({ env: backend.env }, key);
    servers = [first, await startKiln({ env: backend.env, args: ['--role', 'api'] }, key)];
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await backend?.finish(!state.failed);
  });

  it('identical requests sent to both at once make one task', tracked(state, async () => {
    const [a, b] = servers.map((s) => Api.of(s));
    for (let round = 0; round < 5; round++) {
      const key = randomUUID();
      const answers = await Promise.all(
        [a, b, a, b].map((api) => api!.request('POST', '/api/v1/tasks', { json: { message: `round ${round}` }, headers: withKey(key) })),
      );
      const ids = new Set(answers.filter((r) => r.status === 200).map((r) => r.body.data.id));
      assert.equal(ids.size, 1, JSON.stringify(answers.map((r) => r.body)));
      const rows = await backend.query('SELECT count(*)::int AS n FROM tasks WHERE message = $1', [`round ${round}`]);
      assert.equal(rows[0].n, 1);
      await a!.waitForEnd([...ids][0]);
    }
  }));
});

for (const { name, options } of BACKENDS) {
  describe(`expired idempotency keys on ${name}`, options, () => {
    it('are removed in batches, and a removed key can be used afresh', async () => {
      const run = async (open: () => Promise<SqliteDatabase | PostgresDatabase>) => {
        const db = await open();
        try {
          const storage = await openSqlStorage(db);
          const past = new Date(Date.now() - 60_000).toISOString();
          const later = new Date(Date.now() + 60_000).toISOString();
          for (let i = 0; i < 7; i++) {
            assert.equal(await storage.idempotency.claim('u', `k${i}`, 'f', 'o', past, later, past), null);
            await storage.idempotency.complete('u', `k${i}`, 'o', { status: 200, contentType: 'application/json', body: '{}' });
          }
          assert.equal(await storage.idempotency.claim('u', 'live', 'f', 'o', past, later, later), null);
          assert.equal(await new IdempotencyKeys(storage.idempotency).removeExpired(3), 7);
          const live = await storage.idempotency.claim('u', 'live', 'other', 'o2', new Date().toISOString(), later, later);
          assert.equal(live?.fingerprint, 'f', 'a live key stays');
          assert.equal(await storage.idempotency.claim('u', 'k1', 'new', 'o3', new Date().toISOString(), later, later), null, 'an expired key is free');
        } finally {
          await db.close();
        }
      };
      if (name === 'sqlite') return run(async () => new SqliteDatabase(path.join(tempDir(), 'kiln.db')));
      return withSchema('idempotency expiry', (schema) =>
        run(async () => {
          const db = new PostgresDatabase(TEST_DATABASE_URL, schema);
          await db.init();
          return db;
        }),
      );
    });
  });
}
