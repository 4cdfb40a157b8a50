import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { BACKENDS, openBackend, tracked, type Backend } from './helpers/backends.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { pollUntil } from './helpers/poll.js';
import { verify, WebhookReceiver, type Behaviour, type Received } from './helpers/webhook-receiver.js';

const FAST_RETRIES = {
  KILN_WEBHOOK_ALLOW_PRIVATE: 'true',
  KILN_WEBHOOK_POLL_MS: '50',
  KILN_WEBHOOK_RETRY_BASE_MS: '100',
  KILN_WEBHOOK_TIMEOUT_MS: '1000',
};

async function register(api: Api, url: string, events: string[] = ['task.created', 'task.awaiting_approval', 'task.completed', 'task.failed', 'task.cancelled', 'artifact.created']) {
  const response = await api.post('/api/v1/webhooks', { url, events, description: 'test receiver' });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.data as { id: string; secret: string };
}

/** Reads an endpoint's delivery log until `predicate` holds for it (deliveries are asynchronous). */
async function deliveriesWhen(api: Api, endpointId: string, predicate: (log: any[]) => boolean): Promise<any[]> {
  return pollUntil(async () => (await api.get(`/api/v1/webhooks/${endpointId}/deliveries`)).body.data, predicate, 'the deliveries looked for', { withinMs: 60_000, everyMs: 50 });
}

for (const { name, options } of BACKENDS) {
  describe(`webhooks on ${name}`, options, () => {
    const state = { failed: false };
    const test = (title: string, fn: () => Promise<void>) => it(title, tracked(state, fn));
    let backend: Backend;
    let kiln: KilnServer;
    let api: Api;
    const receivers: WebhookReceiver[] = [];
    const receiver = async (behaviour?: Behaviour) => {
      const r = await WebhookReceiver.start(behaviour);
      receivers.push(r);
      return r;
    };

    before(async () => {
      backend = await openBackend(name, 'webhooks');
      kiln = await startKiln({ env: { ...backend.env, ...FAST_RETRIES } });
      api = Api.of(kiln);
    });
    after(async () => {
      await kiln?.stop();
      await Promise.all(receivers.map((r) => r.close()));
      await backend?.finish(!state.failed);
    });

    test('registers an endpoint with a whsec_ secret shown once, and lists it without the secret', async () => {
      const r = await receiver();
      const created = await api.post('/api/v1/webhooks', { url: r.url, events: ['task.completed'] });
      assert.equal(created.status, 201);
      assert.match(created.body.data.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(created.body.data.enabled, true);
      const listed = (await api.get('/api/v1/webhooks')).body.data.find((e: any) => e.id === created.body.data.id);
      assert.equal(listed.url, r.url);
      assert.equal('secret' in listed, false);
      assert.equal('secret' in (await api.get(`/api/v1/webhooks/${created.body.data.id}`)).body.data, false);
      const bad = await api.post('/api/v1/webhooks', { url: r.url, events: ['task.exploded'] });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
      const scheme = await api.post('/api/v1/webhooks', { url: 'ftp://example.com/', events: ['task.created'] });
      assert.equal(scheme.status, 400);
      const other = new Api(kiln.url, (await api.post('/api/v1/keys', { userId: 'mallory' })).body.data.key);
      assert.equal((await other.get(`/api/v1/webhooks/${created.body.data.id}`)).status, 404, "another user's endpoint is not found");
      assert.equal((await api.request('DELETE', `/api/v1/webhooks/${created.body.data.id}`)).status, 200);
    });

    test('sends task.created, artifact.created and task.completed, signed per Standard Webhooks, and logs each delivery', async () => {
      const r = await receiver();
      const endpoint = await register(api, r.url);
      const id = await api.createTask({ message: 'write downloads/out.txt\nhello\nEOF' });
      await api.waitForEnd(id);
      const created = await r.event('task.created', id);
      const artifact = await r.event('artifact.created', id);
      const completed = await r.event('task.completed', id);
      for (const got of [created, artifact, completed]) {
        assert.deepEqual(verify(endpoint.secret, got), got.json, 'the signature verifies with the secret');
        assert.match(got.id, /^msg_[0-9a-f]{32}$/);
        assert.ok(Math.abs(Number(got.timestamp) - Date.now() / 1000) < 600);
      }
      assert.throws(() => verify(endpoint.secret, { ...completed, body: completed.body.replace('completed', 'complete!') }), 'a changed body fails verification');
      assert.equal(created.json.data.status, 'pending');
      assert.equal(artifact.json.data.path, 'downloads/out.txt');
      assert.equal(artifact.json.data.size, 6);
      assert.match(artifact.json.data.sha256, /^[0-9a-f]{64}$/);
      assert.equal(completed.json.data.status, 'completed');
      assert.equal(completed.json.data.finalResponse, 'write_file: success');
      assert.ok(completed.json.data.usage);

      const log = await deliveriesWhen(api, endpoint.id, (l) => l.filter((d) => d.status === 'succeeded').length >= 3);
      const mine = log.find((d: any) => d.id === completed.id);
      assert.equal(mine.eventType, 'task.completed');
      assert.equal(mine.status, 'succeeded');
      assert.equal(mine.responseStatus, 200);
      assert.equal(mine.attempts, 1);
      assert.equal(typeof mine.durationMs, 'number');
      assert.equal(mine.error, null);
    });

    test('sends task.failed, task.awaiting_approval and task.cancelled with what happened', async () => {
      const r = await receiver();
      await register(api, r.url);
      const failing = await api.createTask({ message: 'fail the model gave up' });
      const failed = await r.event('task.failed', failing);
      assert.equal(failed.json.data.error.code, 'TASK_FAILED');
      assert.match(failed.json.data.error.message, /the model gave up/);

      const asking = await api.createTask({ message: '$ echo hi', autoExecute: false });
      const waiting = await r.event('task.awaiting_approval', asking);
      assert.equal(waiting.json.data.pendingApprovals.length, 1);
      assert.equal(waiting.json.data.pendingApprovals[0].toolName, 'run_command');
      await api.request('DELETE', `/api/v1/tasks/${asking}`);
      const cancelled = await r.event('task.cancelled', asking);
      assert.equal(cancelled.json.data.status, 'cancelled');
    });

    test('retries a failing receiver with backoff until it accepts, never holding the turn up', async () => {
      // Fails twice, then accepts.
      const r = await receiver((got, nth) => (got.json.type !== 'task.created' ? 200 : nth <= 2 ? 500 : 200));
      const endpoint = await register(api, r.url, ['task.created']);
      const id = await api.createTask({ message: 'hello' });
      await api.waitForEnd(id);
      await r.waitFor((all) => all.filter((x) => x.json.data.taskId === id && x.headers['webhook-id']).length >= 3);
      const attempts = r.received.filter((x) => x.json.data.taskId === id);
      assert.equal(new Set(attempts.map((x) => x.id)).size, 1, 'every attempt carries the same webhook-id');
      const log = await deliveriesWhen(api, endpoint.id, (l) => l[0]?.status === 'succeeded');
      assert.equal(log[0].attempts, 3);
      assert.equal(log[0].responseStatus, 200);
    });

    test('gives a slow receiver up after the timeout and tries again; the task ends meanwhile', async () => {
      const r = await receiver((_got, nth) => (nth === 1 ? 'hang' : 200));
      const endpoint = await register(api, r.url, ['task.created']);
      const id = await api.createTask({ message: 'slow receiver' });
      await r.waitFor((all) => all.length >= 1);
      // The receiver holds the first delivery: the turn runs and ends all the same.
      assert.equal((await api.waitForEnd(id)).event, 'done');
      await r.waitFor((all) => all.length >= 2);
      const log = await deliveriesWhen(api, endpoint.id, (l) => l[0]?.status === 'succeeded');
      assert.equal(log[0].attempts, 2);
    });

    test('delivers to a receiver that was down once it is back up', async () => {
      const r = await receiver();
      const endpoint = await register(api, r.url, ['task.completed']);
      await r.close();
      const id = await api.createTask({ message: 'while it is down' });
      await api.waitForEnd(id);
      const failedOnce = await deliveriesWhen(api, endpoint.id, (l) => l[0]?.status === 'pending' && l[0].error !== null);
      assert.match(failedOnce[0].error, /ECONNREFUSED/);
      await r.listen();
      const got = await r.event('task.completed', id);
      assert.deepEqual(verify(endpoint.secret, got), got.json);
    });

    test('redelivers a delivery on request, with the same webhook-id', async () => {
      const r = await receiver();
      const endpoint = await register(api, r.url, ['task.created']);
      const id = await api.createTask({ message: 'redeliver me' });
      const first = await r.event('task.created', id);
      await deliveriesWhen(api, endpoint.id, (l) => l[0]?.status === 'succeeded');
      const again = await api.request('POST', `/api/v1/webhooks/${endpoint.id}/deliveries/${first.id}/redeliver`);
      assert.equal(again.status, 202);
      await r.waitFor((all) => all.filter((x) => x.id === first.id).length === 2);
      assert.equal((await api.request('POST', `/api/v1/webhooks/${endpoint.id}/deliveries/msg_nope/redeliver`)).status, 404);
      await api.waitForEnd(id);
    });

    test('sends nothing to a disabled endpoint, nor events it did not subscribe to', async () => {
      const r = await receiver();
      const off = await register(api, r.url, ['task.created']);
      assert.equal((await api.request('PATCH', `/api/v1/webhooks/${off.id}`, { json: { enabled: false } })).body.data.enabled, false);
      const on = await register(api, r.url, ['task.completed']);
      const id = await api.createTask({ message: 'quiet' });
      await r.event('task.completed', id);
      await deliveriesWhen(api, on.id, (l) => l[0]?.status === 'succeeded');
      assert.equal(r.received.filter((x) => x.json.data.taskId === id).length, 1);
      assert.deepEqual((await api.get(`/api/v1/webhooks/${off.id}/deliveries`)).body.data, []);
    });
  });
}

for (const { name, options } of BACKENDS) {
  describe(`webhooks that keep failing, on ${name}`, options, () => {
    const state = { failed: false };
    let backend: Backend;
    let kiln: KilnServer;
    let failing: WebhookReceiver;

    before(async () => {
      backend = await openBackend(name, 'webhooks failing');
      failing = await WebhookReceiver.start(() => 503);
      kiln = await startKiln({ env: { ...backend.env, ...FAST_RETRIES, KILN_WEBHOOK_RETRY_SECONDS: '1', KILN_WEBHOOK_DISABLE_AFTER_SECONDS: '2' } });
    });
    after(async () => {
      await kiln?.stop();
      await failing?.close();
      await backend?.finish(!state.failed);
    });

    it('gives a delivery up after the retry period, and disables an endpoint that failed for too long, saying why', tracked(state, async () => {
      const api = Api.of(kiln);
      const endpoint = await register(api, failing.url, ['task.created']);
      await api.createTask({ message: 'never accepted' });
      const log = await deliveriesWhen(api, endpoint.id, (l) => l[0]?.status === 'failed');
      assert.ok(log[0].attempts >= 2, 'it was retried before being given up');
      assert.equal(log[0].responseStatus, 503);
      assert.equal(log[0].nextAttemptAt, null);
      // The failure streak goes on with each new event until the endpoint is disabled.
      let current: any;
      do {
        await api.createTask({ message: 'still failing' });
        // Until the new delivery's attempt is recorded (the failure that disables the endpoint is
        // recorded with it), or a retry of an earlier one disabled the endpoint first, in which
        // case the new delivery is never attempted.
        const read = await pollUntil(
          async () => ({
            endpoint: (await api.get(`/api/v1/webhooks/${endpoint.id}`)).body.data,
            log: (await api.get(`/api/v1/webhooks/${endpoint.id}/deliveries`)).body.data,
          }),
          ({ endpoint: now, log }) => !now.enabled || log[0]?.responseStatus != null,
          'the new delivery attempted, or the endpoint disabled',
          { withinMs: 60_000, everyMs: 50 },
        );
        current = read.endpoint;
      } while (current.enabled);
      assert.match(current.disabledReason, /every delivery failed for more than/);
      assert.match(current.disabledReason, /HTTP 503/);
      const enabled = (await api.request('PATCH', `/api/v1/webhooks/${endpoint.id}`, { json: { enabled: true } })).body.data;
      assert.equal(enabled.enabled, true);
      assert.equal(enabled.disabledReason, null);
      assert.equal(enabled.failingSince, null);
    }));
  });
}

for (const { name, options } of BACKENDS) {
  describe(`a webhook across a crash, on ${name}`, options, () => {
    const state = { failed: false };
    let backend: Backend;
    let kiln: KilnServer;
    let r: WebhookReceiver;

    before(async () => {
      backend = await openBackend(name, 'webhooks crash');
      r = await WebhookReceiver.start((_got, nth) => (nth === 1 ? 'hang' : 200));
      kiln = await startKiln({ env: { ...backend.env, ...FAST_RETRIES } });
    });
    after(async () => {
      await kiln?.stop();
      await r?.close();
      await backend?.finish(!state.failed);
    });

    it('is still delivered after the server is killed (kill -9) between the task\'s end and the delivery', tracked(state, async () => {
      const api = Api.of(kiln);
      const endpoint = await register(api, r.url, ['task.completed']);
      const id = await api.createTask({ message: 'finish, then crash' });
      await api.waitForEnd(id);
      // The delivery is on its way (the receiver holds it): the server dies before it is recorded.
      await r.waitFor((all) => all.length === 1);
      await kiln.kill();
      kiln = await kiln.restart();
      await r.waitFor((all) => all.length === 2);
      const [first, second] = r.received as [Received, Received];
      assert.equal(second.id, first.id, 'the same message, delivered at least once');
      assert.equal(second.json.data.taskId, id);
      assert.deepEqual(verify(endpoint.secret, second), second.json);
      const log = await deliveriesWhen(Api.of(kiln), endpoint.id, (l) => l[0]?.status === 'succeeded');
      assert.equal(log[0].attempts, 2);
    }));
  });
}

describe('webhook address rules', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln();
  });
  after(() => kiln?.stop());

  it('refuses loopback, private and link-local addresses unless KILN_WEBHOOK_ALLOW_PRIVATE=true', async () => {
    const api = Api.of(kiln);
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/', 'http://10.0.0.8/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/', 'http://[fe80::1]/']) {
      const response = await api.post('/api/v1/webhooks', { url, events: ['task.completed'] });
      assert.equal(response.status, 400, url);
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      assert.match(response.body.error.message, /KILN_WEBHOOK_ALLOW_PRIVATE|cannot be resolved/, url);
    }
  });
});
