import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api } from './helpers/api.js';
import { newKey, startKiln } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { needs, postgres } from './helpers/requirements.js';

/** Log lines at warn or error level (text format). */
function problems(logs: string): string[] {
  return logs.split('\n').filter((line) => /^\S+Z (warn |error) /.test(line));
}

describe('graceful shutdown', () => {
  it('on SIGTERM, lets a running turn finish, exits 0 and reports nothing as a crash', async () => {
    const kiln = await startKiln();
    const api = Api.of(kiln);
    const id = await api.createTask({ message: 'sleep 1000\n$ echo finished' });
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'status');
    const ended = stream.readAll();
    await kiln.stop();
    assert.equal(kiln.child.exitCode, 0);
    const events = await ended;
    assert.ok(events.some((e) => e.raw === 'retry: 2000'), 'the stream was ended with a reconnect hint');
    assert.deepEqual(problems(kiln.logs()), []);

    const restarted = await kiln.restart();
    try {
      const task = (await Api.of(restarted).get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'completed');
      assert.equal(task.output.content, 'run_command: success');
      assert.doesNotMatch(restarted.logs(), /interrupted turn/);
    } finally {
      await restarted.stop();
    }
  });

  it('hands a turn that outlasts KILN_SHUTDOWN_GRACE_MS back to the queue; the next start continues it', async () => {
    const kiln = await startKiln({ env: { KILN_SHUTDOWN_GRACE_MS: '300' } });
    const api = Api.of(kiln);
    const id = await api.createTask({ message: '$ sleep 1000' });
    const stream = await api.openStream(id);
    const seen = await stream.readUntil((e) => e.event === 'tool_call' && e.data.status === 'executing');
    const ended = stream.readAll();
    await kiln.stop();
    assert.equal(kiln.child.exitCode, 0);
    const events = await ended;
    assert.ok(events.some((e) => e.raw === 'retry: 2000'));
    assert.equal(events.some((e) => e.event === 'error'), false, 'the turn did not fail');
    assert.deepEqual(problems(kiln.logs()), []);
    assert.match(kiln.logs(), /turn handed back to the queue/);

    const restarted = await kiln.restart();
    const again = Api.of(restarted);
    try {
      // Reconnecting where the stream stopped shows the hand-back and the turn going on.
      const lastId = [...seen, ...events].filter((e) => e.id !== undefined).pop()!.id!;
      const resumed = await again.streamAll(id, lastId);
      const handBack = resumed.find((e) => e.event === 'status');
      assert.match(handBack!.data.message, /shutting down; the turn goes back to the queue/);
      const end = resumed[resumed.length - 1]!;
      assert.equal(end.event, 'done');
      const task = (await again.get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'completed');
      assert.doesNotMatch(restarted.logs(), /interrupted turn/);
    } finally {
      await restarted.stop();
    }
  });

  it('a worker handing turns back wakes the other workers for all of them, not one per lease sweep', needs(postgres), async () => {
    await withSchema('hand back', async (schema) => {
      // Sweeps every 60 s: within the test, only the hand-back's signal can make B claim.
      const env = { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema, KILN_SHUTDOWN_GRACE_MS: '300', KILN_LEASE_MS: '120000' };
      const key = newKey();
      const a = await startKiln({ env }, key);
      const api = Api.of(a);
      const ids = await Promise.all([1, 2, 3].map(() => api.createTask({ message: 'sleep 60000' })));
      // All three run on A before B starts (B's start-up claim finds nothing).
      for (const id of ids) {
        const stream = await api.openStream(id);
        await stream.readUntil((e) => e.event === 'status');
        stream.close();
      }
      const b = await startKiln({ env }, key);
      try {
        await a.stop();
        // Each task: processing on A, handed back, processing again on B.
        const streams = await Promise.all(ids.map((id) => Api.of(b).openStream(id)));
        const thirdStatus = streams.map(async (stream) => {
          let statuses = 0;
          await stream.readUntil((e) => e.event === 'status' && ++statuses === 3);
          return statuses;
        });
        const limit = new AbortController();
        const timeLimit = sleep(10_000, 'not every handed-back turn was claimed within 10 s', { signal: limit.signal });
        try {
          assert.deepEqual(await Promise.race([Promise.all(thirdStatus), timeLimit]), [3, 3, 3]);
        } finally {
          limit.abort();
          timeLimit.catch(() => {});
          for (const stream of streams) stream.close();
        }
      } finally {
        await a.stop();
        await b.stop();
      }
    });
  });
});
