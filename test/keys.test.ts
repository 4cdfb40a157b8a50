import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { createUserKey, kilnCli, newKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';

const KEY_FIELDS = ['admin', 'createdAt', 'id', 'lastUsedAt', 'name', 'userId'];

describe('API keys managed over the API', () => {
  let kiln: KilnServer;
  /** KILN_API_KEY: an admin key of user `default`. */
  let admin: Api;
  before(async () => {
    kiln = await startKiln();
    admin = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('creates a key shown once, lists keys without their secret, and accepts the new key', async () => {
    const alice = new Api(kiln.url, await createUserKey(kiln, 'alice'));
    const created = await alice.post('/api/v1/keys', { name: 'laptop' });
    assert.equal(created.status, 201);
    const { key, ...record } = created.body.data;
    assert.match(key, /^kiln_[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(record).sort(), KEY_FIELDS);
    assert.equal(record.name, 'laptop');
    assert.equal(record.admin, false);
    assert.equal(record.lastUsedAt, null);

    const laptop = new Api(kiln.url, key);
    const id = await laptop.createTask({ message: 'hello' });
    assert.equal((await laptop.get(`/api/v1/tasks/${id}`)).body.data.username, 'alice', 'the new key acts for its user');

    const listed = await alice.get('/api/v1/keys');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.data.length, 2, "alice's CLI key and the new one");
    for (const item of listed.body.data) assert.deepEqual(Object.keys(item).sort(), KEY_FIELDS);
    const text = JSON.stringify(listed.body);
    assert.ok(!text.includes(key), 'the key is never shown again');
    assert.ok(!text.includes(key.slice(5, 21)), 'not even part of it');
    const mine = listed.body.data.find((k: any) => k.id === record.id);
    assert.ok(mine.lastUsedAt, 'a used key says when it was last used');
    assert.ok(listed.body.data.every((k: any) => k.userId === record.userId));
  });

  it('records the last use of a key at most once a minute, not on every request', async () => {
    const key = await createUserKey(kiln, 'frequent');
    const api = new Api(kiln.url, key);
    const first = (await api.get('/api/v1/keys')).body.data[0].lastUsedAt;
    assert.ok(first);
    for (let i = 0; i < 3; i++) await api.get('/api/v1/tasks');
    assert.equal((await api.get('/api/v1/keys')).body.data[0].lastUsedAt, first);
  });

  it('revokes a key at once, including the key making the request', async () => {
    const bob = new Api(kiln.url, await createUserKey(kiln, 'bob'));
    const spare = (await bob.post('/api/v1/keys', { name: 'spare' })).body.data;
    const spareApi = new Api(kiln.url, spare.key);
    assert.equal((await spareApi.get('/api/v1/tasks')).status, 200);

    const revoked = await bob.request('DELETE', `/api/v1/keys/${spare.id}`);
    assert.deepEqual([revoked.status, revoked.body], [200, { success: true, data: { id: spare.id, revoked: true } }]);
    const refused = await spareApi.get('/api/v1/tasks');
    assert.deepEqual([refused.status, refused.body.error.code], [401, 'INVALID_API_KEY']);
    assert.ok(!(await bob.get('/api/v1/keys')).body.data.some((k: any) => k.id === spare.id), 'a revoked key is no longer listed');
    assert.equal((await bob.request('DELETE', `/api/v1/keys/${spare.id}`)).status, 404, 'revoking twice finds nothing');

    const own = (await bob.get('/api/v1/keys')).body.data[0].id;
    assert.equal((await bob.request('DELETE', `/api/v1/keys/${own}`)).status, 200);
    assert.equal((await bob.get('/api/v1/keys')).status, 401, 'the key that revoked itself stops working');
  });

  it('keeps non-admin keys to their own user, and lets an admin key manage everyone', async () => {
    const carolKey = await createUserKey(kiln, 'carol');
    const carol = new Api(kiln.url, carolKey);
    const dave = new Api(kiln.url, await createUserKey(kiln, 'dave'));
    const carolId = (await carol.get('/api/v1/keys')).body.data[0].userId;
    const daveKeyId = (await dave.get('/api/v1/keys')).body.data[0].id;
    const daveId = (await dave.get('/api/v1/keys')).body.data[0].userId;

    const forbidden: [string, string, unknown?][] = [
      ['POST', '/api/v1/keys', { userId: daveId }],
      ['POST', '/api/v1/keys', { userId: 'dave' }],
      ['POST', '/api/v1/keys', { admin: true }],
      ['GET', `/api/v1/keys?userId=${daveId}`],
      ['GET', '/api/v1/keys?all=true'],
      ['GET', '/api/v1/users'],
    ];
    for (const [method, path, json] of forbidden) {
      const response = await carol.request(method, path, json === undefined ? {} : { json });
      assert.deepEqual([response.status, response.body.error.code], [403, 'FORBIDDEN'], `${method} ${path} ${JSON.stringify(json)}`);
    }
    const notHers = await carol.request('DELETE', `/api/v1/keys/${daveKeyId}`);
    assert.deepEqual([notHers.status, notHers.body.error.code], [404, 'NOT_FOUND']);
    assert.equal((await dave.get('/api/v1/tasks')).status, 200, "dave's key still works");
    assert.equal((await carol.post('/api/v1/keys', { userId: carolId })).status, 201, 'naming oneself is allowed');
    assert.equal((await carol.post('/api/v1/keys', { admin: 'yes' })).body.error.code, 'VALIDATION_ERROR');

    // The admin key: other users' keys, new users, admin keys, every key, users.
    assert.deepEqual((await admin.get(`/api/v1/keys?userId=${daveId}`)).body.data.map((k: any) => k.id), [daveKeyId]);
    const forErin = await admin.post('/api/v1/keys', { userId: 'erin', name: 'erin-ci' });
    assert.equal(forErin.status, 201);
    const erin = new Api(kiln.url, forErin.body.data.key);
    const task = await erin.createTask({ message: 'hi' });
    assert.equal((await erin.get(`/api/v1/tasks/${task}`)).body.data.username, 'erin', 'a new user was made for the key');
    const second = await admin.post('/api/v1/keys', { admin: true, name: 'second admin' });
    assert.equal(second.body.data.admin, true);
    assert.equal((await new Api(kiln.url, second.body.data.key).get('/api/v1/users')).status, 200, 'an admin key made over the API is an admin');
    const all = (await admin.get('/api/v1/keys?all=true')).body.data;
    assert.ok(all.some((k: any) => k.id === daveKeyId) && all.some((k: any) => k.id === forErin.body.data.id));

    const users = (await admin.get('/api/v1/users')).body.data;
    for (const user of users) assert.deepEqual(Object.keys(user).sort(), ['createdAt', 'id', 'keyCount', 'name']);
    assert.equal(users.find((u: any) => u.name === 'erin').keyCount, 1);
    assert.equal(users.find((u: any) => u.name === 'carol').keyCount, 2);

    assert.equal((await admin.request('DELETE', `/api/v1/keys/${daveKeyId}`)).status, 200);
    assert.equal((await dave.get('/api/v1/tasks')).status, 401, "an admin revoked dave's key");
    assert.equal((await admin.get('/api/v1/keys?userId=nobody-here')).status, 404);
    assert.equal((await admin.post('/api/v1/keys', { userId: 'no spaces allowed' })).body.error.code, 'VALIDATION_ERROR');
  });

  it('makes admin keys with kiln keys create --admin, and labels them with --name', async () => {
    const result = await kilnCli(['keys', 'create', '--user', 'ops', '--name', 'bootstrap', '--admin'], { KILN_DATA_DIR: kiln.dataDir });
    assert.equal(result.code, 0, result.stderr);
    const ops = new Api(kiln.url, result.stdout.trim().split('\n').pop()!);
    const [record] = (await ops.get('/api/v1/keys')).body.data;
    assert.deepEqual([record.name, record.admin], ['bootstrap', true]);
    assert.equal((await ops.get('/api/v1/users')).status, 200);
  });

  it('keeps a revoked KILN_API_KEY refused after a restart with the same value', async () => {
    const own = await startKiln();
    let restarted: KilnServer | undefined;
    try {
      const api = Api.of(own);
      const [envKey] = (await api.get('/api/v1/keys')).body.data;
      assert.deepEqual([envKey.name, envKey.admin], ['KILN_API_KEY', true]);
      assert.equal((await api.request('DELETE', `/api/v1/keys/${envKey.id}`)).status, 200);
      await own.stop();
      restarted = await own.restart();
      assert.equal((await Api.of(restarted).get('/api/v1/tasks')).status, 401);
      assert.match(restarted.logs(), /KILN_API_KEY was revoked/);
    } finally {
      await own.stop();
      await restarted?.stop();
    }
  });

  it('stores keys made over the API only as hashes', async () => {
    const created = (await admin.post('/api/v1/keys', { userId: 'hashed-api' })).body.data.key as string;
    for (const file of fs.readdirSync(kiln.dataDir).filter((f) => f.startsWith('kiln.db'))) {
      assert.equal(fs.readFileSync(`${kiln.dataDir}/${file}`).includes(Buffer.from(created)), false, `${file} does not contain the key`);
    }
  });
});

describe('API keys on several processes sharing PostgreSQL', () => {
  it('refuses a key revoked through one API process on the other at once', () =>
    withSchema('key revocation', async (schema) => {
      const env = { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema, KILN_LOG_LEVEL: 'info' };
      const key = newKey();
      const a = await startKiln({ env, args: ['--role', 'api'] }, key);
      let b: KilnServer | undefined;
      try {
        b = await startKiln({ env, args: ['--role', 'api'] }, key);
        const created = (await new Api(a.url, key).post('/api/v1/keys', { userId: 'shared', name: 'both' })).body.data;
        const onB = new Api(b.url, created.key);
        assert.equal((await onB.get('/api/v1/tasks')).status, 200, 'a key made on A works on B');
        assert.equal((await new Api(a.url, key).request('DELETE', `/api/v1/keys/${created.id}`)).status, 200);
        const refused = await onB.get('/api/v1/tasks');
        assert.deepEqual([refused.status, refused.body.error.code], [401, 'INVALID_API_KEY']);
      } finally {
        await a.stop();
        await b?.stop();
      }
    }));
});
