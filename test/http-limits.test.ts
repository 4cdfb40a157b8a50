import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { head, RawConnection } from './helpers/raw-http.js';

/**
 * What a client can hold on the server without a key or without sending anything useful:
 * slow bodies, bodies that never end, bodies sent to be refused, and connections by the hundred.
 */

const BODY_TIMEOUT_MS = 800;
const MIN_RATE = 2000;

function chunks(count: number, size: number): string[] {
  return Array.from({ length: count }, () => 'a'.repeat(size));
}

/** GET `path` over a fresh connection from `localAddress`; resolves with the status, or 'closed'. */
function getFrom(kiln: KilnServer, path: string, localAddress: string, agent: http.Agent): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const request = http.get(`${kiln.url}${path}`, { localAddress, agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    request.on('error', () => resolve('closed'));
  });
}

describe('HTTP limits', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln({
      env: {
        KILN_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
        KILN_BODY_MIN_BYTES_PER_SECOND: String(MIN_RATE),
        KILN_MAX_CONNECTIONS_PER_ADDRESS: '300',
        KILN_HEARTBEAT_MS: '100',
      },
    });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('answers 408 in the face envelope and closes the connection when a body is shorter than its Content-Length', { timeout: 20_000 }, async () => {
    const connection = new RawConnection(kiln.url);
    connection.send(head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json', 'content-length': 100 }) + '{"message":');
    const response = await connection.response();
    assert.equal(response.status, 408);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.json().success, false);
    assert.equal(response.json().error.code, 'REQUEST_TIMEOUT');
    await connection.closed;

    const gumloop = new RawConnection(kiln.url);
    gumloop.send(head('POST', '/syntropic/artifacts', { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json', 'content-length': 50 }) + '{');
    const fastApi = await gumloop.response();
    assert.equal(fastApi.status, 408);
    assert.equal(typeof fastApi.json().detail, 'string');
    await gumloop.closed;
  });

  it('cuts off a body trickled slower than the minimum rate, even with a valid key', { timeout: 20_000 }, async () => {
    const connection = new RawConnection(kiln.url);
    const body = JSON.stringify({ message: 'x'.repeat(400) });
    connection.send(head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json', 'content-length': body.length }));
    // 10 bytes every 50 ms: 200 bytes a second, a tenth of the minimum rate.
    const pieces = body.match(/.{1,10}/gs)!;
    const sentAll = await connection.trickle(pieces, 50);
    assert.equal(sentAll, false, 'the server closed the connection before the slow body was complete');
    assert.match(connection.text, /^HTTP\/1\.1 408 /);
  });

  it('lets a large upload that keeps arriving at more than the minimum rate finish, however long it takes', { timeout: 20_000 }, async () => {
    const size = 48 * 1024;
    const boundary = 'kilnboundary';
    const preamble = `--${boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\nslow upload\r\n--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`;
    const ending = `\r\n--${boundary}--\r\n`;
    const length = preamble.length + size + ending.length;
    const connection = new RawConnection(kiln.url);
    connection.send(head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': length }) + preamble);
    // 1 KB every 100 ms is 10 KB/s, five times the minimum: the upload takes several body timeouts.
    assert.equal(await connection.trickle([...chunks(size / 1024, 1024), ending], 100), true, 'the whole upload was sent');
    const response = await connection.response();
    assert.equal(response.status, 200, response.body);
    const id = response.json().data.id;
    const files = await api.get(`/api/v1/tasks/${id}/artifacts`);
    assert.equal(files.body.data.files.find((f: { name: string }) => f.name === 'big.txt').size, size);
    connection.close();
  });

  it('answers 401 to a request without a key and closes the connection at once, without reading its body', { timeout: 20_000 }, async () => {
    const connection = new RawConnection(kiln.url);
    connection.send(head('POST', '/api/v1/tasks', { 'content-type': 'application/json', 'content-length': 200 * 1024 }) + '{"message": "');
    const response = await connection.response();
    assert.equal(response.status, 401);
    assert.equal(response.json().error.code, 'AUTH_REQUIRED');
    assert.equal(response.headers.connection, 'close');
    // The client goes on sending its 200 KB: the server must not wait for it.
    const sentAll = await connection.trickle(chunks(200, 1024), 10);
    assert.equal(sentAll, false, 'the connection was closed before the body was sent');
  });

  it('keeps answering normal requests while 200 connections without a key trickle bodies', { timeout: 20_000 }, async () => {
    const attackers = Array.from({ length: 200 }, () => new RawConnection(kiln.url));
    await Promise.all(attackers.map((a) => a.connected));
    for (const [i, a] of attackers.entries()) {
      const face = ['/api/v1/tasks', '/gumloop/agents', '/syntropic/artifacts'][i % 3]!;
      a.send(head('POST', face, { 'content-type': 'application/json', 'content-length': 1024 * 1024 }) + '{');
    }
    const trickling = attackers.map((a) => a.trickle(chunks(100, 10), 50));
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push((await api.get('/api/v1/tasks?limit=1')).status);
    assert.deepEqual(answers, Array(20).fill(200), 'every normal request was answered');
    const finished = await Promise.all(trickling);
    assert.equal(finished.filter(Boolean).length, 0, 'every unauthenticated connection was closed before its body was sent');
    for (const a of attackers) assert.match(a.text, /^HTTP\/1\.1 401 /);
  });

  it('keeps a stream open past the body timeout, with heartbeats, until its turn ends', { timeout: 20_000 }, async () => {
    const id = await api.createTask({ message: `sleep ${BODY_TIMEOUT_MS * 3}\nthink done waiting` });
    const stream = await api.openStream(id);
    const events = await stream.readAll();
    assert.equal(events[events.length - 1]!.event, 'done');
    assert.ok(stream.comments.length >= 3, 'heartbeats kept the stream alive while the turn slept');
  });
});

describe('connection caps', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln({ env: { KILN_MAX_CONNECTIONS_PER_ADDRESS: '4', KILN_CORS_ORIGINS: 'https://app.example', KILN_METRICS: 'on' } });
  });
  after(() => kiln.stop());

  it('answers connections beyond the per-address cap with 503 and closes them, and serves other addresses meanwhile', { timeout: 20_000 }, async () => {
    const crowd = new http.Agent({ keepAlive: true, maxSockets: 10 });
    // Four kept-alive connections from 127.0.0.2 fill its share.
    const held = await Promise.all(Array.from({ length: 4 }, () => getFrom(kiln, '/healthz', '127.0.0.2', crowd)));
    assert.deepEqual(held, [200, 200, 200, 200]);
    const extra = new http.Agent({ keepAlive: false });
    // From a page on a listed origin: the page can read the answer, and when to retry.
    const refused = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }>((resolve, reject) => {
      const headers = { authorization: `Bearer ${kiln.key}`, origin: 'https://app.example' };
      const request = http.get(`${kiln.url}/api/v1/tasks`, { localAddress: '127.0.0.2', agent: extra, headers }, (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(text) }));
      });
      request.on('error', reject);
    });
    assert.deepEqual([refused.status, refused.headers['retry-after'], refused.headers.connection], [503, '1', 'close'], 'a fifth connection from the same address is refused');
    assert.equal(refused.body.error.code, 'TOO_MANY_CONNECTIONS', 'in the native envelope');
    assert.match(refused.body.error.message, /from this address/);
    assert.equal(refused.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(refused.headers['access-control-expose-headers'] ?? '', /retry-after/);
    const metrics = await (await fetch(`${kiln.url}/metrics`)).text();
    assert.match(metrics, /^kiln_http_requests_total\{method="GET",route="\/api\/v1\/tasks",status="503"\} 1$/m, 'counted in the metrics');
    assert.equal(await getFrom(kiln, '/healthz', '127.0.0.1', extra), 200, 'another address is served');
    crowd.destroy();
    // Once the address's connections are gone, it is served again.
    let status: number | 'closed' = 503;
    for (let i = 0; i < 200 && status !== 200; i++) {
      status = await getFrom(kiln, '/healthz', '127.0.0.2', extra);
      if (status !== 200) await sleep(10);
    }
    assert.equal(status, 200);
  });

  it('holds at most 64 refused connections waiting for a request, and closes those that send none', { timeout: 20_000 }, async () => {
    const crowd = new http.Agent({ keepAlive: true, maxSockets: 10 });
    assert.deepEqual(await Promise.all(Array.from({ length: 4 }, () => getFrom(kiln, '/healthz', '127.0.0.3', crowd))), [200, 200, 200, 200]);
    // 80 connections over the cap that never send a request.
    const silent = await Promise.all(
      Array.from(
        { length: 80 },
        () =>
          new Promise<{ closed: boolean }>((resolve, reject) => {
            const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(kiln.url).port), localAddress: '127.0.0.3' }, () => {
              const state = { closed: false, socket };
              socket.on('close', () => (state.closed = true));
              socket.on('error', () => {});
              resolve(state);
            });
            socket.once('error', reject);
          }),
      ),
    );
    await sleep(500);
    assert.equal(silent.filter((s) => s.closed).length, 16, 'beyond 64 waiting, the rest are closed at once');
    for (let i = 0; i < 100 && silent.some((s) => !s.closed); i++) await sleep(50);
    assert.equal(silent.filter((s) => !s.closed).length, 0, 'the waiting ones are closed once their time to send a request is up');
    crowd.destroy();
  });
});
