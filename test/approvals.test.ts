import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, type SseEvent } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

/** Waits (by polling the documented alternative to SSE) until the task has `n` pending approvals. */
async function pending(api: Api, id: string, n = 1): Promise<{ callId: string; toolName: string; args: any }[]> {
  for (let i = 0; i < 500; i++) {
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    if (task.status === 'awaiting_approval' && (task.pendingApprovals?.length ?? 0) >= n) return task.pendingApprovals;
    await sleep(10);
  }
  throw new Error(`task ${id} never had ${n} pending approvals`);
}

function approve(api: Api, id: string, callId: string, outcome: string) {
  return api.post(`/api/v1/tasks/${id}/tools/${callId}/approve`, { outcome });
}

function results(events: SseEvent[]) {
  return events.filter((e) => e.event === 'tool_result').map((e) => e.data);
}

describe('tool approvals', () => {
  let kiln: KilnServer;
  let api: Api;
  const workspace = (id: string) => path.join(kiln.dataDir, 'workspaces', id);
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('stops before each tool call and shows it as awaiting approval in the stream and on the task', needs(sandbox), async () => {
    const id = await api.createTask({ message: '$ touch made.txt', autoExecute: false });
    const stream = await api.openStream(id);
    const seen = await stream.readUntil((e) => e.event === 'tool_call');
    stream.close();
    const call = seen[seen.length - 1]!.data;
    assert.equal(call.status, 'awaiting_approval');
    assert.deepEqual(call.args, { command: 'touch made.txt' });
    assert.deepEqual(call.data, { callId: call.callId, toolName: 'run_command', status: 'awaiting_approval', args: { command: 'touch made.txt' } });
    assert.equal(call.type, 'tool_call');

    const [waiting] = await pending(api, id);
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'awaiting_approval');
    assert.deepEqual(waiting, { callId: call.callId, toolName: 'run_command', args: { command: 'touch made.txt' } });
    assert.equal(task.output.toolCalls[0].status, 'awaiting_approval');
    assert.equal(fs.existsSync(path.join(workspace(id), 'made.txt')), false, 'nothing ran yet');

    const response = await approve(api, id, call.callId, 'proceed_once');
    assert.deepEqual(response.body, { success: true, data: { approved: true } });
    const end = await api.waitForEnd(id);
    assert.equal(end.data.finalResponse, 'run_command: success');
    assert.equal(fs.existsSync(path.join(workspace(id), 'made.txt')), true);
    const events = await api.streamAll(id, 0);
    const types = events.map((e) => e.event);
    assert.ok(types.indexOf('tool_approval') < types.lastIndexOf('tool_result'), 'the result follows the approval');
  });

  it('rejects a call with cancel: it never runs, the model hears it was rejected, and the agent goes on', async () => {
    const id = await api.createTask({ message: '$ touch forbidden.txt\nwrite downloads/after.txt\nstill going\nEOF', autoExecute: false });
    const [call] = await pending(api, id);
    assert.deepEqual((await approve(api, id, call!.callId, 'cancel')).body.data, { approved: false });
    const [next] = await pending(api, id);
    assert.equal(next!.toolName, 'write_file', 'the agent continued with its next step');
    await approve(api, id, next!.callId, 'proceed_once');
    const end = await api.waitForEnd(id);
    assert.equal(end.data.finalResponse, 'run_command: rejected\nwrite_file: success');
    assert.equal(fs.existsSync(path.join(workspace(id), 'forbidden.txt')), false);
    const rejected = results(await api.streamAll(id, 0))[0];
    assert.deepEqual([rejected.status, rejected.callId], ['cancelled', call!.callId]);
    const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
    assert.deepEqual(history[1].toolCalls.map((c: any) => c.status), ['cancelled', 'success']);
  });

  it('with proceed_always, runs later calls of that tool in the task without asking, in later turns too', needs(sandbox), async () => {
    const id = await api.createTask({ message: '$ echo 1\n$ echo 2\ncat nothing.txt', autoExecute: false });
    const [first] = await pending(api, id);
    await approve(api, id, first!.callId, 'proceed_always');
    const [next] = await pending(api, id);
    assert.equal(next!.toolName, 'read_file', 'the second run_command did not ask');
    await approve(api, id, next!.callId, 'proceed_once');
    await api.waitForEnd(id);
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo 3' });
    const end = await api.waitForEnd(id);
    assert.equal(end.data.finalResponse, 'run_command: success');
  });

  it('lists several calls of one step at once, takes each decision separately, and goes on when all are decided', needs(sandbox), async () => {
    const id = await api.createTask({ message: '$ echo a > a.txt\n& $ echo b > b.txt\n& cat a.txt', autoExecute: false });
    const calls = await pending(api, id, 3);
    assert.deepEqual(calls.map((c) => c.toolName), ['run_command', 'run_command', 'read_file']);
    await approve(api, id, calls[0]!.callId, 'proceed_once');
    let task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'awaiting_approval');
    assert.deepEqual(task.pendingApprovals.map((c: any) => c.callId), [calls[1]!.callId, calls[2]!.callId]);
    await approve(api, id, calls[2]!.callId, 'proceed_once');
    await approve(api, id, calls[1]!.callId, 'cancel');
    const end = await api.waitForEnd(id);
    assert.equal(end.data.finalResponse, 'run_command: success\nrun_command: rejected\nread_file: success');
    assert.equal(fs.existsSync(path.join(workspace(id), 'b.txt')), false);
    task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'completed');
    assert.ok(!('pendingApprovals' in task));
  });

  it('answers a call it could not run with its error after an approval, without asking about it', async () => {
    const id = await api.createTask({ message: 'write kept.txt\nkept\nEOF\n& call no_such_tool {}', autoExecute: false });
    const waiting = await pending(api, id);
    assert.deepEqual(waiting.map((c) => c.toolName), ['write_file'], 'only the call that can run is asked about');
    await approve(api, id, waiting[0]!.callId, 'proceed_once');
    let task: any;
    for (let i = 0; i < 500; i++) {
      task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
      if (task.status !== 'running' && task.status !== 'pending') break;
      await sleep(10);
    }
    assert.equal(task.status, 'completed', 'the turn went on to its end without a second question');
    assert.match((await api.waitForEnd(id)).data.finalResponse, /^write_file: success\nno_such_tool: error: The call to "no_such_tool" could not run/);
    assert.equal(fs.readFileSync(path.join(workspace(id), 'kept.txt'), 'utf8'), 'kept\n');
  });

  it('answers bad decisions clearly, and the first decision stands', needs(sandbox), async () => {
    const id = await api.createTask({ message: '$ echo once', autoExecute: false });
    const [call] = await pending(api, id);
    const bad = await approve(api, id, call!.callId, 'maybe');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
    assert.match(bad.body.error.message, /outcome must be one of proceed_once, proceed_always, cancel/);
    const missing = await api.post(`/api/v1/tasks/${id}/tools/call_nope/approve`, { outcome: 'proceed_once' });
    assert.equal(missing.status, 404);
    const noTask = await api.post(`/api/v1/tasks/00000000-0000-4000-8000-000000000000/tools/${call!.callId}/approve`, { outcome: 'cancel' });
    assert.equal(noTask.status, 404);

    assert.deepEqual((await approve(api, id, call!.callId, 'proceed_once')).body.data, { approved: true });
    assert.deepEqual((await approve(api, id, call!.callId, 'proceed_once')).body.data, { approved: true }, 'the same decision again is accepted');
    const conflict = await approve(api, id, call!.callId, 'cancel');
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.error.code, 'CONFLICT');
    assert.match(conflict.body.error.message, /already decided \(proceed_once\); the first decision stands/);
    assert.equal((await api.waitForEnd(id)).data.finalResponse, 'run_command: success');
    const late = await approve(api, id, call!.callId, 'cancel');
    assert.equal(late.status, 409);
    assert.match(late.body.error.message, /already decided \(proceed_once\); the first decision stands/, 'also once the turn has ended');
    assert.deepEqual((await approve(api, id, call!.callId, 'proceed_once')).body.data, { approved: true }, 'and the same decision is still accepted');
  });

  it('refuses a follow-up while calls wait, saying why', async () => {
    const id = await api.createTask({ message: '$ echo wait', autoExecute: false });
    await pending(api, id);
    const response = await api.post(`/api/v1/tasks/${id}/messages`, { message: 'hello?' });
    assert.equal(response.status, 409);
    assert.match(response.body.error.message, /awaiting_approval/);
    await api.request('DELETE', `/api/v1/tasks/${id}`);
  });

  it('ends the turn at once when cancelled while a call waits', async () => {
    const id = await api.createTask({ message: '$ touch never.txt', autoExecute: false });
    const [call] = await pending(api, id);
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'status' && e.data.status === 'awaiting_approval');
    await api.request('DELETE', `/api/v1/tasks/${id}`);
    const rest = await stream.readAll();
    assert.equal(rest[rest.length - 1]!.event, 'cancelled');
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'cancelled');
    assert.equal(task.output.toolCalls[0].status, 'cancelled');
    assert.equal((await approve(api, id, call!.callId, 'proceed_once')).status, 409);
    assert.equal(fs.existsSync(path.join(workspace(id), 'never.txt')), false);
  });

  describe('per-tool policy', () => {
    it('allows, asks or denies per tool, with autoExecute as the default for the rest', async () => {
      const id = await api.createTask({
        message: 'write notes.txt\nhi\nEOF\ncat notes.txt\n$ touch denied.txt\nls',
        autoExecute: true,
        toolPolicy: { write_file: 'ask', read_file: 'allow', run_command: 'deny' },
      });
      const [ask] = await pending(api, id);
      assert.equal(ask!.toolName, 'write_file');
      await approve(api, id, ask!.callId, 'proceed_once');
      const end = await api.waitForEnd(id);
      assert.equal(end.data.finalResponse, 'write_file: success\nread_file: success\nrun_command: rejected\nlist_directory: success');
      const events = await api.streamAll(id, 0);
      const denied = results(events).find((r) => r.toolName === 'run_command');
      assert.equal(denied.status, 'cancelled');
      assert.match(denied.output, /tool policy denies run_command/);
      assert.equal(events.filter((e) => e.event === 'tool_call' && e.data.toolName === 'run_command' && e.data.status === 'awaiting_approval').length, 0, 'deny never asks');
      assert.equal(fs.existsSync(path.join(workspace(id), 'denied.txt')), false);
      assert.deepEqual((await api.get(`/api/v1/tasks/${id}`)).body.data.toolPolicy, { write_file: 'ask', read_file: 'allow', run_command: 'deny' });
    });

    it('lets named tools run without asking when autoExecute is false', needs(sandbox), async () => {
      const id = await api.createTask({ message: 'ls\n$ echo hi', autoExecute: false, toolPolicy: { list_directory: 'allow' } });
      const [call] = await pending(api, id);
      assert.equal(call!.toolName, 'run_command');
      await approve(api, id, call!.callId, 'proceed_once');
      assert.equal((await api.waitForEnd(id)).data.finalResponse, 'list_directory: success\nrun_command: success');
    });

    it('refuses a policy with unknown tools or rules', async () => {
      for (const toolPolicy of [{ run_cmd: 'ask' }, { run_command: 'sometimes' }, ['ask']]) {
        const response = await api.post('/api/v1/tasks', { message: 'x', toolPolicy });
        assert.equal(response.status, 400, JSON.stringify(toolPolicy));
        assert.equal(response.body.error.code, 'VALIDATION_ERROR');
        assert.match(response.body.error.message, /toolPolicy/);
      }
    });
  });
});

describe('a task waiting for approval', needs(sandbox), () => {
  it('holds no worker slot, survives a dropped stream and a restart, and shows its pending call to a new stream', async () => {
    let kiln = await startKiln({ env: { KILN_CONCURRENCY: '1' } });
    let api = Api.of(kiln);
    const waiting = await api.createTask({ message: '$ echo approved > out.txt', autoExecute: false });
    const stream = await api.openStream(waiting);
    await stream.readUntil((e) => e.event === 'tool_call');
    stream.close();
    const [call] = await pending(api, waiting);

    const other = await api.createTask({ message: 'meanwhile' });
    assert.equal((await api.waitForEnd(other)).data.finalResponse, 'Echo: meanwhile', 'the only worker slot was free');

    await kiln.kill();
    kiln = await kiln.restart();
    api = Api.of(kiln);
    try {
      const task = (await api.get(`/api/v1/tasks/${waiting}`)).body.data;
      assert.equal(task.status, 'awaiting_approval', 'still waiting after a crash');
      assert.deepEqual(task.pendingApprovals.map((c: any) => c.callId), [call!.callId]);

      const fresh = await api.openStream(waiting);
      const replay = await fresh.readUntil((e) => e.event === 'status' && e.data.status === 'awaiting_approval');
      assert.ok(replay.some((e) => e.event === 'tool_call' && e.data.callId === call!.callId && e.data.status === 'awaiting_approval'));
      assert.equal(replay.find((e) => e.event === 'history_done')!.data.isStreaming, true);

      await approve(api, waiting, call!.callId, 'proceed_once');
      const rest = await fresh.readAll();
      assert.equal(rest[rest.length - 1]!.event, 'done');
      assert.equal(fs.readFileSync(path.join(kiln.dataDir, 'workspaces', waiting, 'out.txt'), 'utf8'), 'approved\n');
    } finally {
      await kiln.stop();
    }
  });
});
