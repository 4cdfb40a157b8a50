import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

/** The console's sign-in over HTTP: the session cookie as a credential, its CSRF rule, its end. */
describe('console sessions', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln();
  });
  after(async () => {
    await kiln?.stop();
  });

  async function signIn(key: string): Promise<{ cookie: string; csrf: string; status: number }> {
    const response = await fetch(`${kiln.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
    const cookies = response.headers.getSetCookie();
    const value = (name: string) => cookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0]?.slice(name.length + 1) ?? '';
    return { cookie: `kiln_session=${value('kiln_session')}; kiln_csrf=${value('kiln_csrf')}`, csrf: value('kiln_csrf'), status: response.status };
  }

  it('acts for the key it was opened with, and writes need the CSRF token', async () => {
    const key = await createUserKey(kiln, 'carol');
    const { cookie, csrf } = await signIn(key);
    const me = await fetch(`${kiln.url}/api/v1/session`, { headers: { cookie } });
    assert.equal(((await me.json()) as { data: { username: string } }).data.username, 'carol');
    const json = { 'content-type': 'application/json', cookie };
    const forged = await fetch(`${kiln.url}/api/v1/tasks`, { method: 'POST', headers: json, body: JSON.stringify({ message: 'hi' }) });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
    const wrongToken = await fetch(`${kiln.url}/api/v1/tasks`, { method: 'POST', headers: { ...json, 'x-kiln-csrf': '0'.repeat(64) }, body: JSON.stringify({ message: 'hi' }) });
    assert.equal(wrongToken.status, 403);
    const created = await fetch(`${kiln.url}/api/v1/tasks`, { method: 'POST', headers: { ...json, 'x-kiln-csrf': csrf }, body: JSON.stringify({ message: 'hi' }) });
    assert.equal(created.status, 200);
  });

  it('refuses a bad key, and a changed session', async () => {
    assert.equal((await signIn('kiln_' + 'f'.repeat(64))).status, 401);
    const { cookie } = await signIn(kiln.key);
    const tampered = cookie.replace(/kiln_session=[0-9a-f-]{36}/, `kiln_session=${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`);
    assert.equal((await fetch(`${kiln.url}/api/v1/tasks`, { headers: { cookie: tampered } })).status, 401);
  });

  it('ends when its key is revoked', async () => {
    const key = await createUserKey(kiln, 'dave');
    const { cookie } = await signIn(key);
    assert.equal((await fetch(`${kiln.url}/api/v1/tasks`, { headers: { cookie } })).status, 200);
    const own = new Api(kiln.url, key);
    const keys = (await own.get('/api/v1/keys')).body.data as { id: string }[];
    assert.equal((await own.request('DELETE', `/api/v1/keys/${keys[0]!.id}`)).status, 200);
    const after = await fetch(`${kiln.url}/api/v1/tasks`, { headers: { cookie } });
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { error: { message: string } }).error.message, /revoked/);
  });

  it('filters the task list by status and text, and counts usage per day', async () => {
    const api = new Api(kiln.url, await createUserKey(kiln, 'erin'));
    const done = await api.createTask({ message: 'Quarterly REPORT please' });
    await api.streamAll(done);
    await api.createTask({ message: 'fail on purpose\nfail broken' }).then((id) => api.streamAll(id));
    const byText = (await api.get('/api/v1/tasks?q=report')).body;
    assert.deepEqual(byText.data.map((t: { id: string }) => t.id), [done]);
    assert.equal(byText.pagination.total, 1);
    assert.equal((await api.get('/api/v1/tasks?status=failed')).body.pagination.total, 1);
    assert.equal((await api.get('/api/v1/tasks?q=50%25')).body.pagination.total, 0, 'LIKE wildcards are taken literally');
    assert.equal((await api.get('/api/v1/tasks?status=nope')).status, 400);
    const usage = (await api.get('/api/v1/usage?days=7')).body.data;
    assert.equal(usage.days.length, 7);
    assert.equal(usage.days[6].tasks, 2);
    assert.ok(usage.days[6].totalTokens > 0);
  });
});
