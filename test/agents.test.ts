import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { FakeProvider, openai } from './helpers/fake-llm.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

describe('agents', () => {
  let provider: FakeProvider;
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    provider = await new FakeProvider().start();
    kiln = await startKiln({ env: { KILN_MODEL: 'offline', KILN_MODEL_BASE_URL: `${provider.url}/v1` } });
    api = Api.of(kiln);
  });
  after(async () => {
    await kiln.stop();
    await provider.stop();
  });

  it('creates, lists, reads and changes agents, with a default agent for every user', async () => {
    const created = await api.post('/api/v1/agents', { name: 'Reviewer', systemPrompt: 'Review carefully.', autoExecute: false, toolPolicy: { read_file: 'allow' } });
    assert.equal(created.status, 200);
    const agent = created.body.data;
    assert.deepEqual(
      { name: agent.name, systemPrompt: agent.systemPrompt, model: agent.model, autoExecute: agent.autoExecute, toolPolicy: agent.toolPolicy, isDefault: agent.isDefault },
      { name: 'Reviewer', systemPrompt: 'Review carefully.', model: null, autoExecute: false, toolPolicy: { read_file: 'allow' }, isDefault: false },
    );
    const list = (await api.get('/api/v1/agents')).body.data;
    assert.equal(list.length, 2);
    assert.equal(list[0].isDefault, true);
    assert.equal((await api.get(`/api/v1/agents/${agent.id}`)).body.data.name, 'Reviewer');
    const patched = await api.request('PATCH', `/api/v1/agents/${agent.id}`, { json: { name: 'Strict reviewer', toolPolicy: null } });
    assert.equal(patched.body.data.name, 'Strict reviewer');
    assert.equal(patched.body.data.toolPolicy, null);
    assert.equal(patched.body.data.systemPrompt, 'Review carefully.', 'fields not sent stay as they were');
    assert.ok(patched.body.data.updatedAt >= agent.updatedAt);
  });

  it('refuses bad agent input and hides other users\' agents', async () => {
    for (const body of [{}, { name: '' }, { name: 'x', toolPolicy: { nope: 'allow' } }, { name: 'x', model: 'mystery:m' }, { name: 'x', autoExecute: 'yes' }]) {
      const response = await api.post('/api/v1/agents', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
    }
    assert.equal((await api.request('PATCH', `/api/v1/agents/${(await api.get('/api/v1/agents')).body.data[0].id}`, { json: { colour: 'red' } })).status, 400);
    const mine = (await api.post('/api/v1/agents', { name: 'Mine' })).body.data.id;
    const other = new Api(kiln.url, await createUserKey(kiln, 'mallory'));
    assert.equal((await other.get(`/api/v1/agents/${mine}`)).status, 404);
    assert.equal((await other.request('PATCH', `/api/v1/agents/${mine}`, { json: { name: 'stolen' } })).status, 404);
    const refused = await other.post('/api/v1/tasks', { message: 'hi', agentId: mine });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /agentId/);
  });

  it('gives tasks without an agent the default one, and tasks with one its settings', async () => {
    const defaultAgent = (await api.get('/api/v1/agents')).body.data.find((a: any) => a.isDefault);
    const plain = await api.createTask({ message: 'hi' });
    assert.equal((await api.get(`/api/v1/tasks/${plain}`)).body.data.agentId, defaultAgent.id);

    const agent = (await api.post('/api/v1/agents', { name: 'Careful', autoExecute: false, toolPolicy: { run_command: 'deny', read_file: 'allow' } })).body.data;
    const id = await api.createTask({ message: 'cat nothing.txt\n$ echo hi', agentId: agent.id, toolPolicy: { run_command: 'ask' } });
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.agentId, agent.id);
    assert.equal(task.autoExecute, false, "the agent's default");
    assert.deepEqual(task.toolPolicy, { run_command: 'ask', read_file: 'allow' }, "the task's entries win over the agent's");
    const overridden = await api.createTask({ message: 'hi', agentId: agent.id, autoExecute: true });
    assert.equal((await api.get(`/api/v1/tasks/${overridden}`)).body.data.autoExecute, true);
    await api.request('DELETE', `/api/v1/tasks/${id}`);

    await api.request('PATCH', `/api/v1/agents/${agent.id}`, { json: { autoExecute: true, toolPolicy: null } });
    await api.request('PATCH', `/api/v1/agents/${defaultAgent.id}`, { json: { autoExecute: false } });
    const changed = (await api.get(`/api/v1/tasks/${await api.createTask({ message: 'hi', agentId: agent.id })}`)).body.data;
    assert.deepEqual([changed.autoExecute, changed.toolPolicy], [true, null], 'a new task takes the agent as changed');
    assert.equal((await api.get(`/api/v1/tasks/${await api.createTask({ message: 'hi' })}`)).body.data.autoExecute, false, 'and the default agent as changed');
    await api.request('PATCH', `/api/v1/agents/${defaultAgent.id}`, { json: { autoExecute: true } });
  });

  it("puts Kiln's prompt first, then the agent's, then the task's, and uses the agent's model", async () => {
    const agent = (await api.post('/api/v1/agents', { name: 'Writer', systemPrompt: 'AGENT-PROMPT', model: 'openai-compatible:writer-model' })).body.data;
    provider.enqueue({ kind: 'stream', events: openai.text(['done']) });
    const id = await api.createTask({ message: 'write', agentId: agent.id, systemPrompt: 'TASK-PROMPT' });
    assert.equal((await api.waitForEnd(id)).data.finalResponse, 'done');
    const request = provider.requests[provider.requests.length - 1]!;
    assert.equal(request.body.model, 'writer-model');
    const system: string = request.body.messages[0].content;
    assert.ok(system.indexOf('private workspace') < system.indexOf('AGENT-PROMPT'));
    assert.ok(system.indexOf('AGENT-PROMPT') < system.indexOf('TASK-PROMPT'));
  });
});
