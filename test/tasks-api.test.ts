import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

const TASK_FIELDS = [
  'id',
  'apiKeyId',
  'username',
  'sessionId',
  'conversationId',
  'status',
  'message',
  'systemPrompt',
  'showInHistory',
  'autoExecute',
  'env',
  'error',
  'createdAt',
  'startedAt',
  'completedAt',
];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('the Tasks API', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  describe('creating a task', () => {
    it('accepts JSON with env, echoes env on the task and keeps every documented field', async () => {
      const id = await api.createTask({ message: 'hello', systemPrompt: 'Be brief.', autoExecute: true, showInHistory: false, env: { REGION: 'eu' } });
      await api.waitForEnd(id);
      const { status, body } = await api.get(`/api/v1/tasks/${id}`);
      assert.equal(status, 200);
      const task = body.data;
      for (const field of TASK_FIELDS) assert.ok(field in task, `task has ${field}`);
      assert.equal(task.username, 'default');
      assert.equal(task.systemPrompt, 'Be brief.');
      assert.equal(task.showInHistory, false);
      assert.deepEqual(task.env, { REGION: 'eu' });
      assert.equal(task.status, 'completed');
      assert.match(task.createdAt, ISO);
      assert.match(task.startedAt, ISO);
      assert.match(task.completedAt, ISO);
      assert.match(task.conversationId, /^\d{13}-[0-9a-z]{9}$/);
      assert.equal(task.output.content, 'Echo: hello');
      assert.ok(!('pendingApprovals' in task), 'pendingApprovals is left out when empty');
    });

    it('reads multipart booleans literally: "false" is false', async () => {
      const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'hi', autoExecute: 'false', showInHistory: 'FALSE' }) });
      assert.equal(response.status, 200);
      const task = (await api.get(`/api/v1/tasks/${response.body.data.id}`)).body.data;
      assert.equal(task.autoExecute, false);
      assert.equal(task.showInHistory, false);
    });

    it('accepts a URL-encoded form', async () => {
      const response = await api.request('POST', '/api/v1/tasks', {
        body: 'message=from+a+form',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(response.status, 200);
      assert.equal((await api.waitForEnd(response.body.data.id)).data.finalResponse, 'Echo: from a form');
    });

    it('refuses bad input with VALIDATION_ERROR and stores nothing', async () => {
      const before = (await api.get('/api/v1/tasks?limit=1')).body.pagination.total;
      const cases: [unknown, RegExp][] = [
        [{}, /message is required/],
        [{ message: '   ' }, /message must not be empty/],
        [{ message: 42 }, /^message is required and must be a string$/],
        [{ message: 'x', autoExecute: 'yes' }, /^autoExecute must be true or false$/],
        [{ message: 'x', systemPrompt: 5 }, /systemPrompt must be a string or null/],
        [[1, 2], /./],
      ];
      for (const [body, message] of cases) {
        const response = await api.post('/api/v1/tasks', body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.success, false);
        assert.equal(response.body.error.code, 'VALIDATION_ERROR');
        assert.match(response.body.error.message, message);
      }
      const multipart = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x', autoExecute: 'maybe' }) });
      assert.equal(multipart.status, 400);
      assert.match(multipart.body.error.message, /autoExecute must be "true" or "false"/);
      const broken = await api.request('POST', '/api/v1/tasks', { body: '{"message":', headers: { 'content-type': 'application/json' } });
      assert.equal(broken.status, 400);
      assert.equal(broken.body.error.code, 'VALIDATION_ERROR');
      const wrongType = await api.request('POST', '/api/v1/tasks', { body: 'message', headers: { 'content-type': 'text/plain' } });
      assert.equal(wrongType.body.error.code, 'VALIDATION_ERROR');
      assert.equal((await api.get('/api/v1/tasks?limit=1')).body.pagination.total, before);
    });

    it('refuses bad env and secrets with INVALID_ENV, naming the key but never a secret value', async () => {
      const cases = [
        { env: { 'BAD-NAME': 'x' } },
        { env: { '1ST': 'x' } },
        { env: { GOOD: 5 } },
        { env: ['A'] },
        { secrets: { TOKEN: { nested: 'hunter2-value' } } },
        { secrets: 'hunter2-value' },
      ];
      for (const extra of cases) {
        const response = await api.post('/api/v1/tasks', { message: 'x', ...extra });
        assert.equal(response.status, 400, JSON.stringify(extra));
        assert.equal(response.body.error.code, 'INVALID_ENV');
        assert.doesNotMatch(JSON.stringify(response.body), /hunter2-value/);
      }
    });

    it('refuses env or secrets sent in a form request, pointing to JSON', async () => {
      const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x', env: '{"A":"b"}' }) });
      assert.equal(response.status, 400);
      assert.match(response.body.error.message, /application\/json/);
      const urlEncoded = await api.request('POST', '/api/v1/tasks', {
        body: 'message=x&secrets=hunter2-value',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(urlEncoded.status, 400, 'not silently dropped');
      assert.match(urlEncoded.body.error.message, /application\/json/);
    });
  });

  describe('listing tasks', () => {
    it('pages by offset, newest activity first, with total and hasMore', async () => {
      const other = new Api(kiln.url, await createUserKey(kiln, 'pager'));
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const id = await other.createTask({ message: `task ${i}` });
        await other.waitForEnd(id);
        ids.push(id);
      }
      const page1 = await other.get('/api/v1/tasks?limit=3');
      assert.equal(page1.status, 200);
      assert.deepEqual(page1.body.pagination, { total: 7, limit: 3, offset: 0, hasMore: true });
      assert.deepEqual(page1.body.data.map((t: any) => t.message), ['task 6', 'task 5', 'task 4']);
      const page3 = await other.get('/api/v1/tasks?limit=3&offset=6');
      assert.deepEqual(page3.body.pagination, { total: 7, limit: 3, offset: 6, hasMore: false });
      assert.deepEqual(page3.body.data.map((t: any) => t.message), ['task 0']);
      const all = [...page1.body.data, ...(await other.get('/api/v1/tasks?limit=3&offset=3')).body.data, ...page3.body.data];
      assert.deepEqual(new Set(all.map((t: any) => t.id)), new Set(ids));

      const item = page1.body.data[0];
      assert.equal(item.messageCount, 2);
      assert.equal(item.lastActivityAt, item.completedAt);
      assert.ok(!('output' in item) && !('pendingApprovals' in item));

      // A follow-up makes an old task the most recently active.
      await other.post(`/api/v1/tasks/${ids[0]}/messages`, { message: 'again' });
      await other.waitForEnd(ids[0]!);
      const top = (await other.get('/api/v1/tasks?limit=1')).body.data[0];
      assert.equal(top.id, ids[0]);
      assert.equal(top.messageCount, 4);
    });

    it('clamps limit to 100 and refuses nonsense', async () => {
      assert.equal((await api.get('/api/v1/tasks?limit=500')).body.pagination.limit, 100);
      assert.equal((await api.get('/api/v1/tasks')).body.pagination.limit, 50);
      for (const query of ['limit=0', 'limit=abc', 'offset=-1', 'limit=2.5']) {
        const response = await api.get(`/api/v1/tasks?${query}`);
        assert.equal(response.status, 400, query);
        assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      }
    });
  });

  describe('history and follow-ups', () => {
    it('keeps the conversation, tool calls included, across turns', async () => {
      const id = await api.createTask({ message: 'write downloads/n.txt\n42\nEOF' });
      await api.waitForEnd(id);
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'cat downloads/n.txt' });
      await api.waitForEnd(id);
      const { body } = await api.get(`/api/v1/tasks/${id}/history`);
      assert.equal(body.data.taskId, id);
      assert.equal(body.data.status, 'completed');
      const messages = body.data.messages;
      assert.deepEqual(messages.map((m: any) => [m.id, m.role]), [
        ['msg-1', 'user'],
        ['msg-2', 'assistant'],
        ['msg-3', 'user'],
        ['msg-4', 'assistant'],
      ]);
      assert.equal(messages[1].toolCalls[0].toolName, 'write_file');
      assert.equal(messages[1].toolCalls[0].status, 'success');
      assert.deepEqual(messages[3].toolCalls[0].args, { path: 'downloads/n.txt' });
      assert.equal(messages[3].toolCalls[0].output, '42\n');
    });

    it('accepts a follow-up as multipart with files', async () => {
      const id = await api.createTask({ message: 'first' });
      await api.waitForEnd(id);
      const response = await api.request('POST', `/api/v1/tasks/${id}/messages`, {
        body: form({ message: 'cat uploads/notes.txt' }, [{ name: 'notes.txt', content: 'remember this' }]),
      });
      assert.deepEqual(response.body, { success: true, data: { status: 'running' } });
      const end = await api.waitForEnd(id);
      assert.equal(end.data.finalResponse, 'read_file: success');
      const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
      assert.deepEqual(history[2].attachedFiles, [{ name: 'notes.txt', path: 'uploads/notes.txt' }]);
      assert.equal(history[3].toolCalls[0].output, 'remember this');
    });

    it('refuses a follow-up while a turn is running, with CONFLICT, and keeps the turn going', async () => {
      const id = await api.createTask({ message: 'sleep 400' });
      const response = await api.post(`/api/v1/tasks/${id}/messages`, { message: 'too soon' });
      assert.equal(response.status, 409);
      assert.equal(response.body.error.code, 'CONFLICT');
      assert.match(response.body.error.message, /follow-up can be sent once the current turn has ended/);
      assert.equal((await api.waitForEnd(id)).event, 'done');
      assert.equal((await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages.length, 2, 'the refused message was not stored');
    });

    it('lets a failed turn be followed up, and clears the error', async () => {
      const id = await api.createTask({ message: 'fail the model broke' });
      const end = await api.waitForEnd(id);
      assert.equal(end.event, 'error');
      assert.equal(end.data.message, 'the model broke');
      let task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'failed');
      assert.equal(task.error, 'the model broke');
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'try again' });
      await api.waitForEnd(id);
      task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'completed');
      assert.equal(task.error, null);
    });
  });

  describe('cancelling', () => {
    it('stops a running turn at once and keeps the task as cancelled', async () => {
      const id = await api.createTask({ message: 'sleep 30000' });
      const stream = await api.openStream(id);
      await stream.readUntil((e) => e.event === 'status');
      const started = Date.now();
      const response = await api.request('DELETE', `/api/v1/tasks/${id}`);
      assert.deepEqual(response.body, { success: true, data: { message: 'Task cancelled' } });
      const rest = await stream.readAll();
      assert.ok(Date.now() - started < 5000, 'the stream ended promptly');
      assert.equal(rest[rest.length - 1]!.event, 'cancelled');
      const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
      assert.equal(task.status, 'cancelled');
      assert.match(task.completedAt, ISO);
      // Cancelling again is harmless.
      assert.equal((await api.request('DELETE', `/api/v1/tasks/${id}`)).status, 200);
    });

    it('takes a follow-up after a turn was cancelled in the middle of a tool call', async () => {
      const id = await api.createTask({ message: '$ sleep 30' });
      const stream = await api.openStream(id);
      await stream.readUntil((e) => e.event === 'tool_call');
      await api.request('DELETE', `/api/v1/tasks/${id}`);
      await stream.readAll();
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'are you there?' });
      const end = await api.waitForEnd(id);
      assert.equal(end.event, 'done', JSON.stringify(end.data));
      assert.equal(end.data.finalResponse, 'Echo: are you there?');
    });

    it('refuses to cancel a completed task, saying why', async () => {
      const id = await api.createTask({ message: 'quick' });
      await api.waitForEnd(id);
      const response = await api.request('DELETE', `/api/v1/tasks/${id}`);
      assert.equal(response.status, 409);
      assert.match(response.body.error.message, /already completed/);
    });
  });

  it('answers NOT_FOUND in the envelope for unknown tasks and routes', async () => {
    for (const path of ['/api/v1/tasks/00000000-0000-4000-8000-000000000000', '/api/v1/tasks/not-a-uuid/history', '/api/v1/nope']) {
      const response = await api.get(path);
      assert.equal(response.status, 404, path);
      assert.deepEqual(Object.keys(response.body), ['success', 'error']);
      assert.equal(response.body.error.code, 'NOT_FOUND');
    }
  });

  it('reports healthy once it accepts work', async () => {
    const response = await fetch(`${kiln.url}/healthz`);
    assert.equal(response.status, 200);
  });
});
