import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { startKiln } from './helpers/kiln-process.js';

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
});
