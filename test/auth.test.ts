import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { createUserKey, newKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

describe('authentication and tenants', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln();
  });
  after(() => kiln.stop());

  it('answers each credential problem with its own code', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{}, 401, 'AUTH_REQUIRED'],
      [{ authorization: 'Bearer ' }, 401, 'AUTH_REQUIRED'],
      [{ authorization: `Bearer ${newKey()}` }, 401, 'INVALID_API_KEY'],
      [{ authorization: 'Bearer kiln_short' }, 401, 'INVALID_API_KEY'],
      [{ 'x-api-key': newKey() }, 401, 'INVALID_API_KEY'],
      [{ authorization: 'Bearer sk-something' }, 401, 'INVALID_AUTH_FORMAT'],
      [{ authorization: 'Basic dXNlcjpwYXNz' }, 401, 'INVALID_AUTH_FORMAT'],
      [{ authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x' }, 401, 'INVALID_TOKEN'],
    ];
    for (const [headers, status, code] of cases) {
      const response = await fetch(`${kiln.url}/api/v1/tasks`, { headers });
      const body = (await response.json()) as any;
      assert.equal(response.status, status, JSON.stringify(headers));
      assert.deepEqual(body, { success: false, error: { code, message: body.error.message } });
      assert.ok(body.error.message.length > 10, 'the message says what to do');
    }
  });

  it('accepts the key as a Bearer token or in X-API-Key', async () => {
    assert.equal((await fetch(`${kiln.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${kiln.key}` } })).status, 200);
    assert.equal((await fetch(`${kiln.url}/api/v1/tasks`, { headers: { 'x-api-key': kiln.key } })).status, 200);
  });

  it('keeps each user to their own tasks on every endpoint', async () => {
    const alice = new Api(kiln.url, await createUserKey(kiln, 'alice'));
    const bob = new Api(kiln.url, await createUserKey(kiln, 'bob'));
    const id = await alice.createTask({ message: 'write downloads/private.txt\nalice only\nEOF' });
    await alice.waitForEnd(id);
    const pending = await alice.createTask({ message: 'sleep 20000' });

    const attempts: [string, string, unknown?][] = [
      ['GET', `/api/v1/tasks/${id}`],
      ['GET', `/api/v1/tasks/${id}/history`],
      ['GET', `/api/v1/tasks/${id}/stream`],
      ['POST', `/api/v1/tasks/${id}/messages`, { message: 'cat downloads/private.txt' }],
      ['DELETE', `/api/v1/tasks/${pending}`],
      ['POST', `/api/v1/tasks/${pending}/tools/call_x/approve`, { outcome: 'proceed_once' }],
    ];
    const missing = await bob.get('/api/v1/tasks/00000000-0000-4000-8000-000000000000');
    for (const [method, path, json] of attempts) {
      const response = await bob.request(method, path, json === undefined ? {} : { json });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.deepEqual(response.body, { success: false, error: { code: 'NOT_FOUND', message: response.body.error.message } });
      if (path.endsWith(id)) assert.equal(response.body.error.message, missing.body.error.message, 'indistinguishable from a missing task');
    }
    const multipart = await bob.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'x' }, [{ name: 'evil.txt', content: 'x' }]) });
    assert.equal(multipart.status, 404);

    const list = await bob.get('/api/v1/tasks');
    assert.equal(list.body.pagination.total, 0);
    assert.deepEqual(list.body.data, []);
    assert.equal((await alice.get(`/api/v1/tasks/${pending}`)).body.data.status, 'running', "bob could not cancel alice's task");
    const history = (await alice.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
    assert.equal(history.length, 2, "bob's follow-up did not reach alice's task");
    await alice.request('DELETE', `/api/v1/tasks/${pending}`);
  });

  it('stores keys only as hashes', async () => {
    const key = await createUserKey(kiln, 'hashed');
    const fs = await import('node:fs');
    for (const file of fs.readdirSync(kiln.dataDir).filter((f) => f.startsWith('kiln.db'))) {
      const bytes = fs.readFileSync(`${kiln.dataDir}/${file}`);
      assert.equal(bytes.includes(Buffer.from(key)), false, `${file} does not contain the key`);
      assert.equal(bytes.includes(Buffer.from(kiln.key)), false, `${file} does not contain KILN_API_KEY`);
    }
  });

  it('drops the old KILN_API_KEY when the server restarts with a new one', async () => {
    const server = await startKiln();
    const oldKey = server.key;
    await server.stop();
    const restarted = await startKiln({ dataDir: server.dataDir });
    try {
      assert.equal((await fetch(`${restarted.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${oldKey}` } })).status, 401);
      assert.equal((await fetch(`${restarted.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${restarted.key}` } })).status, 200);
    } finally {
      await restarted.stop();
    }
  });
});
