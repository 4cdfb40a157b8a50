import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { startKiln } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

describe('restart recovery', () => {
  it('after kill -9, ends the interrupted turn as failed, runs queued tasks, and loses nothing acknowledged', { timeout: 120_000 }, async () => {
    let kiln = await startKiln({ env: { KILN_CONCURRENCY: '1' } });
    let api = Api.of(kiln);
    const running = await api.createTask({ message: 'write downloads/partial.txt\nkept\nEOF\nsleep 60000' });
    const stream = await api.openStream(running);
    await stream.readUntil((e) => e.event === 'tool_result');
    const queued: string[] = [];
    for (let i = 0; i < 5; i++) queued.push(await api.createTask({ message: `queued ${i}` }));
    for (const id of queued) assert.equal((await api.get(`/api/v1/tasks/${id}`)).body.data.status, 'pending');
    await kiln.kill();
    stream.close();

    // More room than waiting work, and no lease sweep during the test: the start itself must
    // claim every queued task, not one of them.
    kiln = await kiln.restart({ env: { KILN_CONCURRENCY: '8', KILN_USER_CONCURRENCY: '8', KILN_LEASE_MS: '3600000' } });
    api = Api.of(kiln);
    try {
      const task = (await api.get(`/api/v1/tasks/${running}`)).body.data;
      assert.equal(task.status, 'failed');
      assert.match(task.error, /interrupted/);
      assert.match(task.error, /follow-up/);
      assert.ok(task.completedAt);
      assert.equal(task.output.toolCalls[0].status, 'success', 'work done before the crash is still shown');
      for (const [i, id] of queued.entries()) {
        const end = await api.waitForEnd(id);
        assert.equal(end.data.finalResponse, `Echo: queued ${i}`);
      }
      // The interrupted task carries on with a follow-up, and its files survived.
      await api.post(`/api/v1/tasks/${running}/messages`, { message: 'cat downloads/partial.txt' });
      const end = await api.waitForEnd(running);
      assert.equal(end.data.finalResponse, 'read_file: success');
      const history = (await api.get(`/api/v1/tasks/${running}/history`)).body.data.messages;
      assert.equal(history[history.length - 1].toolCalls[0].output, 'kept\n');
      assert.match(kiln.logs(), /1 interrupted turn\(s\) from the previous run marked failed/);
    } finally {
      await kiln.stop();
    }
  });

  it('on a graceful stop, lets a short turn finish before exiting', needs(sandbox), async () => {
    const kiln = await startKiln();
    const api = Api.of(kiln);
    const id = await api.createTask({ message: 'sleep 500\n$ echo finished' });
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'status');
    await kiln.stop();
    const restarted = await kiln.restart();
    try {
      const task = (await Api.of(restarted).get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'completed');
      assert.equal(task.output.content, 'run_command: success');
    } finally {
      await restarted.stop();
    }
  });
});
