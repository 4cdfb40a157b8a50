import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { newKey, startKiln } from './helpers/kiln-process.js';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';

const SERVER = 2;

/** A client's own span, sent as a W3C traceparent header. */
function clientSpan(): { traceId: string; spanId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

function one(spans: ReceivedSpan[], predicate: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(predicate);
  assert.equal(found.length, 1, `expected one ${what}, got ${found.length}: ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0]!;
}

async function createTraced(api: Api, traceparent: string, message: string): Promise<string> {
  const response = await fetch(`${api.baseUrl}/api/v1/tasks`, {
    method: 'POST',
    headers: { ...api.headers({ traceparent }), 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as any).data.id;
}

describe('OpenTelemetry traces', () => {
  const receiver = new OtlpReceiver();
  before(() => receiver.start());
  after(() => receiver.stop());

  it('link the request, the turn, each model step, its model call and the tool call in the caller\'s trace', async () => {
    const kiln = await startKiln({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'kiln-under-test' } });
    const api = Api.of(kiln);
    const client = clientSpan();
    let id: string;
    try {
      id = await createTraced(api, client.header, '$ echo traced');
      await api.waitForEnd(id);
      const inTrace = () => receiver.spans.filter((s) => s.traceId === client.traceId);
      await receiver.until(() => inTrace().some((s) => s.name === 'kiln.turn'));
    } finally {
      await kiln.stop();
    }
    const spans = receiver.spans.filter((s) => s.traceId === client.traceId);
    assert.ok(spans.every((s) => s.service === 'kiln-under-test'));

    const request = one(spans, (s) => s.name === 'POST /api/v1/tasks', 'request span');
    assert.equal(request.kind, SERVER);
    assert.equal(request.parentSpanId, client.spanId, 'the request span continues the caller\'s span');
    assert.equal(request.attributes['http.route'], '/api/v1/tasks');
    assert.equal(request.attributes['http.response.status_code'], 200);

    const turn = one(spans, (s) => s.name === 'kiln.turn', 'turn span');
    assert.equal(turn.parentSpanId, request.spanId, 'the turn, run by the worker, is a child of the request that queued it');
    assert.equal(turn.attributes['kiln.task.id'], id!);
    assert.equal(turn.attributes['kiln.turn.outcome'], 'completed');

    const steps = spans.filter((s) => s.name === 'kiln.step');
    assert.equal(steps.length, 2, 'a step with the tool call, then the answer');
    assert.ok(steps.every((s) => s.parentSpanId === turn.spanId));
    const first = steps.find((s) => s.attributes['kiln.step'] === 1)!;

    const modelCall = spans.find((s) => s.name.startsWith('chat ') && s.parentSpanId === first.spanId);
    assert.ok(modelCall, 'the model call has its own span under the step');
    assert.equal(modelCall.attributes['gen_ai.operation.name'], 'chat');
    assert.ok(modelCall.attributes['gen_ai.request.model'], 'naming the model');

    const tool = one(spans, (s) => s.name === 'execute_tool run_command', 'tool span');
    assert.equal(tool.parentSpanId, first.spanId);
    assert.equal(tool.attributes['gen_ai.tool.name'], 'run_command');
    assert.equal(tool.attributes['kiln.tool.status'], 'success');
    assert.equal(JSON.stringify(spans).includes('echo traced'), false, 'prompts and commands stay out of spans');
  });

  it('carry the trace from an API process to the worker process that runs the turn, for the first turn and a follow-up', async () => {
    await withSchema('tracing split', async (schema) => {
      const key = newKey();
      const shared = { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, KILN_SIGNING_KEY: 'ab'.repeat(32) };
      const apiProcess = await startKiln({ env: { ...shared, KILN_ROLE: 'api', OTEL_SERVICE_NAME: 'kiln-api' } }, key);
      const worker = await startKiln({ env: { ...shared, KILN_ROLE: 'worker', OTEL_SERVICE_NAME: 'kiln-worker' } }, key);
      const api = Api.of(apiProcess);
      const first = clientSpan();
      const second = clientSpan();
      try {
        const id = await createTraced(api, first.header, 'hello');
        await api.waitForEnd(id);
        const response = await fetch(`${api.baseUrl}/api/v1/tasks/${id}/messages`, {
          method: 'POST',
          headers: { ...api.headers({ traceparent: second.header }), 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'again' }),
        });
        assert.equal(response.status, 200);
        await api.waitForEnd(id);
        await receiver.until((spans) => [first, second].every((c) => spans.some((s) => s.traceId === c.traceId && s.name === 'kiln.turn')));
      } finally {
        await worker.stop();
        await apiProcess.stop();
      }
      for (const [client, route] of [
        [first, 'POST /api/v1/tasks'],
        [second, 'POST /api/v1/tasks/:id/messages'],
      ] as const) {
        const spans = receiver.spans.filter((s) => s.traceId === client.traceId);
        const request = one(spans, (s) => s.name === route, route);
        assert.equal(request.service, 'kiln-api');
        const turn = one(spans, (s) => s.name === 'kiln.turn', 'turn span');
        assert.equal(turn.service, 'kiln-worker');
        assert.equal(turn.parentSpanId, request.spanId);
      }
    });
  });

  it('are off without an endpoint: nothing is sent', async () => {
    const before = receiver.spans.length;
    const kiln = await startKiln();
    try {
      const api = Api.of(kiln);
      await api.waitForEnd(await createTraced(api, clientSpan().header, 'quiet'));
    } finally {
      await kiln.stop();
    }
    assert.equal(receiver.spans.length, before);
    assert.doesNotMatch(kiln.logs(), /OTLP/);
  });
});
