import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { ROOT, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { parseMetrics, sample } from './helpers/prometheus.js';

const TOKEN = 'metrics-token-0123456789abcdef';

async function scrape(server: KilnServer, token: string | null = TOKEN) {
  const response = await fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

describe('Prometheus metrics', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln({ env: { KILN_METRICS_TOKEN: TOKEN, KILN_CONCURRENCY: '1' } });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('are served only to a scraper that sends the metrics token', async () => {
    assert.equal((await scrape(kiln, null)).status, 401);
    assert.equal((await scrape(kiln, 'wrong-token-0123456789abcdef')).status, 401);
    assert.equal((await scrape(kiln, kiln.key)).status, 401, 'an API key is not the metrics token');
    const ok = await scrape(kiln);
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain/);
  });

  it('count requests by route pattern, tasks by status, turns, model and tool calls, blob bytes, without task ids', async () => {
    const id = await api.createTask({ message: '$ echo hello\nwrite downloads/report.txt\nsome bytes\nEOF' });
    await api.waitForEnd(id);
    await api.get(`/api/v1/tasks/${id}`);
    await api.get('/api/v1/no-such-route');
    const { text } = await scrape(kiln);
    const samples = parseMetrics(text);

    assert.equal(text.includes(id), false, 'no task id appears in any label');
    assert.equal(sample(samples, 'kiln_http_requests_total', { method: 'POST', route: '/api/v1/tasks', status: '200' }), 1);
    assert.equal(sample(samples, 'kiln_http_requests_total', { method: 'GET', route: '/api/v1/tasks/:id', status: '200' }), 1);
    assert.equal(sample(samples, 'kiln_http_requests_total', { method: 'GET', route: '/api/v1/tasks/:id/stream', status: '200' }), 1);
    assert.equal(sample(samples, 'kiln_http_requests_total', { route: 'unmatched', status: '404' }), 1);
    assert.equal(sample(samples, 'kiln_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/tasks' }), 1);
    assert.ok(sample(samples, 'kiln_http_request_duration_seconds_bucket', { route: '/api/v1/tasks', le: '+Inf' }) === 1);

    assert.equal(sample(samples, 'kiln_tasks', { status: 'completed' }), 1);
    assert.equal(sample(samples, 'kiln_tasks', { status: 'running' }), 0);
    assert.equal(sample(samples, 'kiln_turn_duration_seconds_count', { outcome: 'completed' }), 1);
    assert.equal(sample(samples, 'kiln_model_calls_total', { provider: 'kiln', model: 'offline', outcome: 'ok' }), 3);
    assert.equal(sample(samples, 'kiln_model_call_duration_seconds_count', { provider: 'kiln', model: 'offline' }), 3);
    assert.ok(sample(samples, 'kiln_model_tokens_total', { model: 'offline', type: 'input' })! > 0);
    assert.equal(sample(samples, 'kiln_tool_calls_total', { tool: 'run_command', status: 'success' }), 1);
    assert.equal(sample(samples, 'kiln_tool_calls_total', { tool: 'write_file', status: 'success' }), 1);
    assert.equal(sample(samples, 'kiln_tool_call_duration_seconds_count', { tool: 'run_command' }), 1);
    assert.equal(sample(samples, 'kiln_blob_bytes_total', { direction: 'in' }), 'some bytes\n'.length);
    assert.ok(sample(samples, 'kiln_event_delivery_lag_seconds_count')! > 0, 'events reached the open stream');
    assert.equal(sample(samples, 'kiln_db_pool_connections'), undefined, 'SQLite has no pool');
    assert.ok(sample(samples, 'kiln_process_resident_memory_bytes')! > 0);

    const download = await api.get(`/api/v1/tasks/${id}/artifacts/download?path=downloads/report.txt`);
    assert.equal(download.status, 200);
    assert.equal(sample(parseMetrics((await scrape(kiln)).text), 'kiln_blob_bytes_total', { direction: 'out' }), 'some bytes\n'.length);
  });

  it('show the queue, its oldest turn and the open streams while work waits', async () => {
    const busy = await api.createTask({ message: 'sleep 60000' });
    const stream = await api.openStream(busy);
    await stream.readUntil((e) => e.event === 'status');
    const queued = await api.createTask({ message: 'waiting' });
    let samples = parseMetrics((await scrape(kiln)).text);
    assert.equal(sample(samples, 'kiln_queue_depth'), 1);
    assert.ok(sample(samples, 'kiln_queue_oldest_age_seconds')! >= 0);
    assert.equal(sample(samples, 'kiln_tasks', { status: 'pending' }), 1);
    assert.equal(sample(samples, 'kiln_tasks', { status: 'running' }), 1);
    assert.equal(sample(samples, 'kiln_open_streams'), 1);

    await api.request('DELETE', `/api/v1/tasks/${busy}`);
    await stream.readAll();
    await api.waitForEnd(queued);
    samples = parseMetrics((await scrape(kiln)).text);
    assert.equal(sample(samples, 'kiln_queue_depth'), 0);
    assert.equal(sample(samples, 'kiln_queue_oldest_age_seconds'), 0);
    assert.equal(sample(samples, 'kiln_open_streams'), 0);
    assert.equal(sample(samples, 'kiln_tasks', { status: 'cancelled' }), 1);
    assert.equal(sample(samples, 'kiln_turn_duration_seconds_count', { outcome: 'cancelled' }), 1);
  });
});

describe('metrics settings', () => {
  it('serves no /metrics by default, and an open one with KILN_METRICS=on', async () => {
    const off = await startKiln();
    try {
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
    } finally {
      await off.stop();
    }
    const on = await startKiln({ env: { KILN_METRICS: 'on' } });
    try {
      const response = await fetch(`${on.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^# HELP kiln_/m);
    } finally {
      await on.stop();
    }
  });

  it('refuses KILN_METRICS=token without a token, naming the variable', async () => {
    await assert.rejects(startKiln({ env: { KILN_METRICS: 'token' } }), /KILN_METRICS=token needs KILN_METRICS_TOKEN/);
  });

  it('with PostgreSQL, shows the connection pool of each process', async () => {
    await withSchema('metrics pool', async (schema) => {
      const kiln = await startKiln({ env: { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema, KILN_METRICS: 'on' } });
      try {
        await Api.of(kiln).waitForEnd(await Api.of(kiln).createTask({ message: 'hi' }));
        const text = await (await fetch(`${kiln.url}/metrics`)).text();
        const samples = parseMetrics(text);
        assert.ok(sample(samples, 'kiln_db_pool_connections')! >= 1);
        assert.ok(sample(samples, 'kiln_db_pool_idle_connections')! >= 0);
        assert.ok(sample(samples, 'kiln_db_pool_waiting_requests')! >= 0);
        assert.equal(sample(samples, 'kiln_tasks', { status: 'completed' }), 1);

        // The sample dashboard only charts series Kiln exports.
        const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
        const dashboard = fs.readFileSync(path.join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8');
        const charted = new Set([...dashboard.matchAll(/\b(kiln_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')));
        assert.ok(charted.size >= 15);
        assert.deepEqual([...charted].filter((name) => !exported.has(name)), []);
      } finally {
        await kiln.stop();
      }
    });
  });
});
