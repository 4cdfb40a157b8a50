import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { InvalidInput } from '../src/core/errors.js';
import { Api, form } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { head, RawConnection } from './helpers/raw-http.js';

/** Mistakes a newcomer makes with the API, and what Kiln answers instead of a misleading error. */
describe('requests a newcomer gets wrong', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('says to send Content-Type: application/json when a JSON body comes as a form (curl -d) or as text', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const response = await api.request('POST', '/api/v1/tasks', { headers: { 'content-type': type }, body: '{"message":"hi"}' });
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      assert.match(response.body.error.message, /Content-Type: application\/json/);
    }
  });

  it('refuses a follow-up env and a text field named files instead of dropping them', async () => {
    const id = await api.createTask({ message: 'hi' });
    await api.waitForEnd(id);
    const env = await api.post(`/api/v1/tasks/${id}/messages`, { message: 'again', env: { A: '1' } });
    assert.equal(env.status, 400);
    assert.match(env.body.error.message, /env/);
    const files = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'hi', files: 'report.pdf' }) });
    assert.equal(files.status, 400);
    assert.match(files.body.error.message, /files must be sent as file parts/);
  });

  it('accepts DELETE with Content-Type: application/json and no body', async () => {
    const id = await api.createTask({ message: 'sleep 5000' });
    const response = await api.request('DELETE', `/api/v1/tasks/${id}`, { headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  });

  it('answers GET / with the name, version and links, and serves the OpenAPI document', async () => {
    const home = await new Api(kiln.url, null).get('/');
    assert.equal(home.status, 200);
    assert.equal(home.body.name, 'Kiln');
    const document = await new Api(kiln.url, null).get(home.body.links.openapi);
    assert.equal(document.body.openapi, '3.1.0');
  });

  it('answers 204 to a reconnection at the end of a finished task, so that an EventSource stops', async () => {
    const id = await api.createTask({ message: 'hi' });
    const events = await api.streamAll(id);
    const last = events[events.length - 1]!;
    assert.equal(last.event, 'done');
    for (const path of [`/api/v1/tasks/${id}/stream?lastEventId=${last.id}`]) {
      assert.equal((await api.get(path)).status, 204);
    }
    assert.equal((await api.get(`/api/v1/tasks/${id}/stream`, { 'last-event-id': String(last.id) })).status, 204);
    // Without Last-Event-ID the stream replays the history and the terminal event, as documented.
    const replay = await api.streamAll(id);
    assert.equal(replay[replay.length - 1]!.event, 'done');
  });

  it('builds signed links on the address connected to, not on a forged Host header', async () => {
    const id = await api.createTask({ message: 'write a.txt\nhello\nEOF' });
    await api.waitForEnd(id);
    const agents = await api.get('/gumloop/agents');
    // fetch does not let a caller forge Host; a raw request does.
    const connection = new RawConnection(kiln.url);
    connection.send(head('GET', `/gumloop/agents/${agents.body.agents[0].id}/artifacts?session_id=${id}`, { host: 'evil.example', authorization: `Bearer ${kiln.key}` }));
    const response = await connection.response();
    connection.close();
    assert.equal(response.status, 200);
    const rows = { body: response.json() };
    assert.ok(rows.body.artifacts.length > 0);
    for (const row of rows.body.artifacts) assert.ok(row.url.startsWith(kiln.url), row.url);
  });

  it('answers an HTTP/1.1 request without a Host header in the face envelope, and serves HTTP/1.0 without one', async () => {
    const faces: [string, (body: any) => boolean][] = [
      ['/api/v1/tasks', (body) => body.success === false && body.error.code === 'VALIDATION_ERROR' && /Host header/.test(body.error.message)],
      ['/syntropic/artifacts', (body) => /Host header/.test(body.detail)],
      ['/gumloop/agents', (body) => body.error.type === 'invalid_request_error' && /Host header/.test(body.error.message)],
    ];
    for (const [path, inEnvelope] of faces) {
      const connection = new RawConnection(kiln.url);
      connection.send(`GET ${path} HTTP/1.1\r\nAuthorization: Bearer ${kiln.key}\r\n\r\n`);
      const response = await connection.response();
      assert.equal(response.status, 400, path);
      assert.ok(inEnvelope(response.json()), `${path}: ${response.body}`);
      await connection.closed;
    }
    const old = new RawConnection(kiln.url);
    old.send(`GET /api/v1/tasks HTTP/1.0\r\nAuthorization: Bearer ${kiln.key}\r\n\r\n`);
    const served = await old.response();
    old.close();
    assert.equal(served.status, 200, served.body);
    assert.equal(served.json().success, true);
  });

  it('tells a client that asks first (Expect: 100-continue) to send its body only once the request is accepted', async () => {
    const upload = { 'content-type': 'multipart/form-data; boundary=x', 'content-length': 10 * 1024 * 1024, expect: '100-continue' };
    // Refused before the body is read: the answer comes instead of 100 Continue, and no body need be sent.
    const refusals: [string, Record<string, string | number>, number][] = [
      ['a wrong key', { authorization: `Bearer kiln_${'0'.repeat(64)}` }, 401],
      ['no Host header', { authorization: `Bearer ${kiln.key}` }, 400],
    ];
    for (const [what, headers, status] of refusals) {
      const connection = new RawConnection(kiln.url);
      const request = head('POST', '/api/v1/tasks', { ...headers, ...upload });
      connection.send(what === 'no Host header' ? request.replace('Host: 127.0.0.1\r\n', '') : request);
      const response = await connection.response();
      assert.equal(response.status, status, `${what}: ${connection.text.slice(0, 200)}`);
      assert.equal(response.json().success, false, what);
      connection.close();
    }
    // Accepted: 100 Continue, then the body, then the task.
    const body = JSON.stringify({ message: 'hello after 100 Continue' });
    const connection = new RawConnection(kiln.url);
    connection.send(head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' }));
    assert.ok(await connection.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/), connection.text);
    connection.send(body);
    assert.ok(await connection.waitFor(/HTTP\/1\.1 200 [^]*\r\n\r\n\{[^]*\}$/), connection.text);
    const id = JSON.parse(connection.text.slice(connection.text.lastIndexOf('\r\n\r\n') + 4)).data.id;
    connection.close();
    assert.equal((await api.get(`/api/v1/tasks/${id}`)).status, 200);
  });

  it('answers pipelined requests before the garbage that follows them, so that a client learns of the task it made', async () => {
    const body = JSON.stringify({ message: 'hello from a pipelined request' });
    const connection = new RawConnection(kiln.url);
    connection.send(
      head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) +
        body +
        'THIS IS NOT HTTP\r\n\r\n',
    );
    await connection.closed;
    const answers = connection.text.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.deepEqual(answers.map((answer) => Number(answer.slice(9, 12))), [200, 400], connection.text);
    const id = JSON.parse(answers[0]!.slice(answers[0]!.indexOf('\r\n\r\n') + 4)).data.id;
    assert.equal((await api.get(`/api/v1/tasks/${id}`)).status, 200);
    assert.equal(JSON.parse(answers[1]!.slice(answers[1]!.indexOf('\r\n\r\n') + 4)).success, false);
  });
});

describe('PostgreSQL refusing a value', () => {
  it('is the caller\'s invalid input, not a server error', async () => {
    await withSchema('unstorable', async (schema) => {
      const db = new PostgresDatabase(TEST_DATABASE_URL, schema);
      await db.init();
      try {
        await db.run('CREATE TABLE t (n INTEGER, s TEXT)');
        await assert.rejects(db.run('INSERT INTO t (s) VALUES (?)', ['a\u0000b']), InvalidInput);
        await assert.rejects(db.run('INSERT INTO t (n) VALUES (?)', [2 ** 40]), InvalidInput);
        await assert.rejects(db.get('SELECT * FROM t OFFSET ?', ['1e400']), InvalidInput);
      } finally {
        await db.close();
      }
    });
  });
});
