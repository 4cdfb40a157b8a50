import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { pollUntil } from './helpers/poll.js';
import { parseMetrics, sample } from './helpers/prometheus.js';
import { needs, sandbox } from './helpers/requirements.js';

describe('fairness between users', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln({ env: { KILN_CONCURRENCY: '4' } });
  });
  after(() => kiln.stop());

  it("runs one user's task soon even while another user has many queued", async () => {
    const alice = Api.of(kiln);
    const bob = new Api(kiln.url, await createUserKey(kiln, 'bob'));
    const queued: string[] = [];
    for (let i = 0; i < 40; i++) queued.push(await alice.createTask({ message: 'sleep 200' }));
    const bobs = await bob.createTask({ message: 'sleep 200' });

    const running = async () => (await alice.get('/api/v1/tasks?limit=100')).body.data.filter((t: { status: string }) => t.status === 'running').length;
    assert.ok((await running()) <= 2, 'one user runs at most KILN_USER_CONCURRENCY (half of KILN_CONCURRENCY) tasks at once');

    assert.equal((await bob.waitForEnd(bobs)).event, 'done');
    const aliceDone = (await alice.get('/api/v1/tasks?limit=100')).body.data.filter((t: { status: string }) => t.status === 'completed').length;
    assert.ok(aliceDone < 20, `bob's task finished before most of alice's (${aliceDone} of 40 had)`);
    for (const id of queued) assert.equal((await alice.waitForEnd(id)).event, 'done');
  });
});

describe('turns of new tasks', () => {
  it('start at once only when nothing queued would go first: a new task never overtakes a waiting one', async () => {
    const kiln = await startKiln({ env: { KILN_CONCURRENCY: '2', KILN_USER_CONCURRENCY: '1' } });
    try {
      const api = Api.of(kiln);
      const status = async (id: string) => (await api.get(`/api/v1/tasks/${id}`)).body.data as { status: string; startedAt: string };
      const first = await api.createTask({ message: 'sleep 400' });
      const second = await api.createTask({ message: 'sleep 10' });
      assert.equal((await status(second)).status, 'pending', 'its user is at the limit: the second waits');
      assert.equal((await api.waitForEnd(first)).event, 'done');
      const third = await api.createTask({ message: 'sleep 10' });
      for (const id of [second, third]) assert.equal((await api.waitForEnd(id)).event, 'done');
      const [secondStart, thirdStart] = [(await status(second)).startedAt, (await status(third)).startedAt];
      assert.ok(secondStart <= thirdStart, `the waiting task started first (${secondStart}, then ${thirdStart})`);
    } finally {
      await kiln.stop();
    }
  });
});

describe('turns and commands', () => {
  it('runs more turns at once than commands: commands beyond KILN_COMMAND_CONCURRENCY wait their turn, and a cancelled turn stops waiting', needs(sandbox), async () => {
    const kiln = await startKiln({ env: { KILN_CONCURRENCY: '16', KILN_USER_CONCURRENCY: '16', KILN_COMMAND_CONCURRENCY: '1', KILN_METRICS: 'on' } });
    try {
      const api = Api.of(kiln);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await api.createTask({ message: '$ date +%s%N; sleep 1; date +%s%N' }));
      const statuses = async () => Promise.all(ids.map(async (id) => (await api.get(`/api/v1/tasks/${id}`)).body.data.status as string));
      const seen = await pollUntil(statuses, (list) => !list.includes('pending'), 'every turn claimed');
      assert.deepEqual(seen, ['running', 'running', 'running'], 'all three turns run while their commands take turns');

      const spans: [bigint, bigint][] = [];
      for (const id of ids) {
        assert.equal((await api.waitForEnd(id)).event, 'done');
        const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
        const [start, end] = ((history[history.length - 1].toolCalls[0].output as string).match(/^\d+$/gm) ?? []).map(BigInt);
        spans.push([start!, end!]);
      }
      spans.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], `command ${i + 1} started after command ${i} ended`);

      const busy = await api.createTask({ message: '$ sleep 5' });
      const stream = await api.openStream(busy);
      await stream.readUntil((e) => e.event === 'tool_call');
      const waiting = await api.createTask({ message: '$ echo never' });
      const waitingStream = await api.openStream(waiting);
      await waitingStream.readUntil((e) => e.event === 'tool_call');
      // The call is announced just before its command asks for a slot.
      const samples = await pollUntil(
        async () => parseMetrics(await (await fetch(`${kiln.url}/metrics`)).text()),
        (read) => sample(read, 'kiln_commands_waiting') !== 0,
        'a command waiting in the metrics',
      );
      assert.equal(sample(samples, 'kiln_commands_waiting'), 1, 'operators see a command waiting for a slot');
      assert.equal(sample(samples, 'kiln_commands_running'), 1);
      await api.request('DELETE', `/api/v1/tasks/${waiting}`);
      const rest = await waitingStream.readAll();
      assert.equal(rest[rest.length - 1]!.event, 'cancelled');
      assert.ok(!rest.some((e) => e.event === 'tool_result' && /never/.test(e.data.output)), 'the waiting command never ran');
      assert.equal((await api.get(`/api/v1/tasks/${busy}`)).body.data.status, 'running', 'the waiting turn ended before the command ahead of it');
      stream.close();
    } finally {
      await kiln.stop();
    }
  });
});
