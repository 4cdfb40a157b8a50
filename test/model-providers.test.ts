import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Api, type SseEvent } from './helpers/api.js';
import { anthropic, FakeProvider, openai, responses } from './helpers/fake-llm.js';
import { kilnCli, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

const FAST_RETRIES = { KILN_MODEL_RETRIES: '2', KILN_MODEL_RETRY_BASE_MS: '30' };

function ofType(events: SseEvent[], type: string) {
  return events.filter((e) => e.event === type).map((e) => e.data);
}

describe('an OpenAI-compatible server as the model', () => {
  let provider: FakeProvider;
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    provider = await new FakeProvider().start();
    kiln = await startKiln({
      env: { KILN_MODEL: 'openai-compatible:fake-llama', KILN_MODEL_BASE_URL: `${provider.url}/v1`, KILN_MODEL_API_KEY: 'compat-key-123', ...FAST_RETRIES },
    });
    api = Api.of(kiln);
  });
  beforeEach(() => {
    provider.requests.length = 0;
  });
  after(async () => {
    await kiln.stop();
    await provider.stop();
  });

  it('streams the answer as content deltas, records token usage, and sends Kiln\'s prompt before the task\'s', async () => {
    provider.enqueue({ kind: 'stream', events: openai.text(['Hel', 'lo ', 'there'], { prompt: 21, completion: 5 }, 'Let me greet them.') });
    const id = await api.createTask({ message: 'Say hello', systemPrompt: 'Answer in English.' });
    const events = await api.events(id);
    assert.deepEqual(ofType(events, 'content').map((c) => c.text).join(''), 'Hello there');
    assert.ok(ofType(events, 'content').length >= 2, 'several deltas');
    assert.deepEqual(ofType(events, 'thought'), [{ subject: 'Thinking', description: 'Let me greet them.' }]);
    const done = events[events.length - 1]!;
    assert.equal(done.data.finalResponse, 'Hello there');
    assert.deepEqual(done.data.usage, { inputTokens: 21, outputTokens: 5, totalTokens: 26, reasoningTokens: 0, cachedInputTokens: 0 });
    assert.deepEqual((await api.get(`/api/v1/tasks/${id}`)).body.data.output.usage.totalTokens, 26);

    const request = provider.requests[0]!;
    assert.equal(request.path, '/v1/chat/completions');
    assert.equal(request.headers.authorization, 'Bearer compat-key-123');
    assert.equal(request.body.model, 'fake-llama');
    assert.equal(request.body.stream, true);
    const system = request.body.messages[0];
    assert.equal(system.role, 'system');
    assert.match(system.content, /private workspace/);
    assert.ok(system.content.indexOf('uploads/') < system.content.indexOf('Answer in English.'), 'the task prompt comes after Kiln\'s');
    assert.deepEqual(request.body.tools.map((t: any) => t.function.name).sort(), ['edit_file', 'list_directory', 'read_file', 'run_command', 'search_files', 'write_file']);
  });

  it('runs tool calls whose arguments arrive in pieces, and gives the results back to the model', needs(sandbox), async () => {
    provider.enqueue(
      { kind: 'stream', events: openai.toolCalls([{ id: 'call_a', name: 'run_command', args: { command: 'echo from-the-tool' } }]) },
      { kind: 'stream', events: openai.text(['It printed ', 'from-the-tool.']) },
    );
    const id = await api.createTask({ message: 'Run echo' });
    const events = await api.events(id);
    assert.deepEqual(ofType(events, 'tool_call').map((c) => [c.callId, c.args]), [['call_a', { command: 'echo from-the-tool' }]]);
    assert.equal(ofType(events, 'tool_result')[0].output, 'from-the-tool\n[exit code 0]');
    assert.equal(events[events.length - 1]!.data.finalResponse, 'It printed from-the-tool.');
    assert.equal(events[events.length - 1]!.data.usage.totalTokens, 42 + 27);
    const second = provider.requests[1]!.body.messages;
    const toolMessage = second.find((m: any) => m.role === 'tool');
    assert.equal(toolMessage.tool_call_id, 'call_a');
    assert.match(toolMessage.content, /from-the-tool/);
  });

  it('retries a 429 and a dropped connection, saying so in the stream, then answers', async () => {
    provider.enqueue(
      openai.error(429, 'Rate limit reached for requests'),
      { kind: 'drop', events: openai.text(['never seen']), after: 0 },
      { kind: 'stream', events: openai.text(['Recovered.']) },
    );
    const id = await api.createTask({ message: 'hi' });
    const events = await api.events(id);
    const retrying = ofType(events, 'status').filter((s) => s.status === 'retrying');
    assert.equal(retrying.length, 2);
    assert.match(retrying[0].message, /429: Rate limit reached for requests; retrying in/);
    assert.equal(events[events.length - 1]!.data.finalResponse, 'Recovered.');
    assert.equal(provider.requests.length, 3);
  });

  it('fails the turn with the provider\'s message once retries run out', async () => {
    provider.enqueue(openai.error(503, 'upstream overloaded'), openai.error(503, 'upstream overloaded'), openai.error(503, 'upstream overloaded'));
    const id = await api.createTask({ message: 'hi' });
    const end = await api.waitForEnd(id);
    assert.equal(end.event, 'error');
    assert.equal(end.data.code, 'MODEL_ERROR');
    assert.match(end.data.message, /503: upstream overloaded \(after 3 attempts\)/);
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'failed');
    assert.match(task.error, /upstream overloaded/);
  });

  it('does not retry a request the provider refused as invalid', async () => {
    provider.enqueue(openai.error(400, 'Invalid value for tools'));
    const id = await api.createTask({ message: 'hi' });
    const end = await api.waitForEnd(id);
    assert.match(end.data.message, /400: Invalid value for tools/);
    assert.equal(provider.requests.length, 1);
  });

  it('fails cleanly when the connection drops in the middle of an answer', async () => {
    provider.enqueue({ kind: 'drop', events: openai.text(['Partial ', 'answer ', 'that ', 'stops']), after: 3 });
    const id = await api.createTask({ message: 'hi' });
    const events = await api.events(id);
    const end = events[events.length - 1]!;
    assert.equal(end.event, 'error');
    assert.match(end.data.message, /cut off part way; send a follow-up message to continue/);
    assert.equal(provider.requests.length, 1, 'no retry once text reached the client');
  });

  it('gives the model the earlier turns, tool calls included, on a follow-up', async () => {
    provider.enqueue(
      { kind: 'stream', events: openai.toolCalls([{ id: 'call_w', name: 'write_file', args: { path: 'downloads/x.txt', content: 'x' } }]) },
      { kind: 'stream', events: openai.text(['Wrote it.']) },
      { kind: 'stream', events: openai.text(['Yes, x.txt.']) },
    );
    const id = await api.createTask({ message: 'Write x' });
    await api.waitForEnd(id);
    await api.post(`/api/v1/tasks/${id}/messages`, { message: 'Did you write it?' });
    await api.waitForEnd(id);
    const messages = provider.requests[2]!.body.messages.map((m: any) => m.role);
    assert.deepEqual(messages, ['system', 'user', 'assistant', 'tool', 'assistant', 'user']);
    assert.equal(provider.requests[2]!.body.messages[2].tool_calls[0].id, 'call_w');
  });

  it('lets a task name its own model and refuses one the server cannot serve', async () => {
    provider.enqueue({ kind: 'stream', events: openai.text(['ok']) });
    const id = await api.createTask({ message: 'hi', model: 'openai-compatible:other-model' });
    await api.waitForEnd(id);
    assert.equal(provider.requests[0]!.body.model, 'other-model');
    assert.equal((await api.get(`/api/v1/tasks/${id}`)).body.data.model, 'openai-compatible:other-model');
    for (const model of ['anthropic:claude-x', 'mystery:model', 'openai-compatible:']) {
      const response = await api.post('/api/v1/tasks', { message: 'hi', model });
      assert.equal(response.status, 400, model);
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
    }
    assert.match((await api.post('/api/v1/tasks', { message: 'hi', model: 'anthropic:claude-x' })).body.error.message, /ANTHROPIC_API_KEY/);
  });
});

/** Kiln on a fake OpenAI-compatible provider, with a context budget of 1,000 tokens. */
async function withSmallBudget(fn: (provider: FakeProvider, api: Api) => Promise<void>): Promise<void> {
  const provider = await new FakeProvider().start();
  const kiln = await startKiln({ env: { KILN_MODEL: 'openai-compatible:m', KILN_MODEL_BASE_URL: `${provider.url}/v1`, KILN_CONTEXT_TOKENS: '1000' } });
  try {
    await fn(provider, Api.of(kiln));
  } finally {
    await kiln.stop();
    await provider.stop();
  }
}

describe('conversation budget', () => {
  it('leaves the oldest turns out when the conversation outgrows KILN_CONTEXT_TOKENS, and says so', () =>
    withSmallBudget(async (provider, api) => {
      provider.enqueue({ kind: 'stream', events: openai.text(['one']) }, { kind: 'stream', events: openai.text(['two']) }, { kind: 'stream', events: openai.text(['three']) });
      const id = await api.createTask({ message: `first ${'x'.repeat(6000)}` });
      await api.waitForEnd(id);
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'second' });
      await api.waitForEnd(id);
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'third' });
      await api.waitForEnd(id);
      const sent = provider.requests[2]!.body.messages;
      const texts = sent.map((m: any) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
      assert.ok(texts.some((t: string) => /1 earlier turn\(s\) of this conversation are left out/.test(t)));
      assert.ok(!texts.some((t: string) => t.includes('x'.repeat(100))), 'the long first turn was left out');
      assert.ok(texts.some((t: string) => t.includes('second')) && texts.some((t: string) => t.includes('third')));
    }));

  it('sends only the latest turns that fit, counting every turn it left out, past the first page of saved messages', () =>
    withSmallBudget(async (provider, api) => {
      // 120 turns of two saved messages each, about 50 tokens a turn: more than one page of
      // saved messages, and far more than the budget.
      const turns = 120;
      for (let i = 0; i < turns; i++) provider.enqueue({ kind: 'stream', events: openai.text([`answer ${i} `, 'y'.repeat(100)]) });
      const id = await api.createTask({ message: `question 0 ${'q'.repeat(60)}` });
      await api.waitForEnd(id);
      for (let i = 1; i < turns; i++) {
        await api.post(`/api/v1/tasks/${id}/messages`, { message: `question ${i} ${'q'.repeat(60)}` });
        await api.waitForEnd(id);
      }
      const sent: { role: string; content: unknown }[] = provider.requests[turns - 1]!.body.messages;
      const texts = sent.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
      const note = texts.map((t) => /\[(\d+) earlier turn\(s\) of this conversation are left out/.exec(t)).find(Boolean);
      assert.ok(note, 'the request says that turns were left out');
      const questions = texts.flatMap((t) => [...t.matchAll(/question (\d+) /g)].map((m) => Number(m[1])));
      const left = Number(note[1]);
      assert.ok(questions.length > 1 && questions.length < 40, `a few of the latest turns are sent (${questions.length})`);
      assert.deepEqual(questions, Array.from({ length: turns - left }, (_, i) => left + i), 'the latest turns, in order, and every other one counted as left out');
    }));
});

describe('Anthropic as the model', () => {
  it('streams text and thinking, runs tool calls with split JSON input, retries overload, and records usage', async () => {
    const provider = await new FakeProvider().start();
    const kiln = await startKiln({
      env: { KILN_MODEL: 'anthropic:claude-fake', ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: `${provider.url}/v1`, ...FAST_RETRIES },
    });
    const api = Api.of(kiln);
    try {
      provider.enqueue(
        anthropic.error(529, 'overloaded_error', 'Overloaded'),
        { kind: 'stream', events: anthropic.message([{ thinking: 'I should list the files.' }, { text: ['Let me look.'] }, { toolUse: { id: 'toolu_1', name: 'list_directory', args: { path: '.' } } }], 'tool_use', { input: 40, output: 20 }) },
        { kind: 'stream', events: anthropic.message([{ text: ['There are ', 'two folders.'] }], 'end_turn', { input: 60, output: 8 }) },
      );
      const id = await api.createTask({ message: 'What is in the workspace?' });
      const events = await api.events(id);
      assert.match(ofType(events, 'status').find((s) => s.status === 'retrying').message, /529/);
      assert.deepEqual(ofType(events, 'thought'), [{ subject: 'Thinking', description: 'I should list the files.' }]);
      assert.deepEqual(ofType(events, 'tool_call').map((c) => [c.toolName, c.args]), [['list_directory', { path: '.' }]]);
      assert.equal(ofType(events, 'tool_result')[0].output, 'downloads/\nuploads/');
      const done = events[events.length - 1]!;
      assert.equal(done.data.finalResponse, 'Let me look.There are two folders.');
      assert.equal(done.data.usage.inputTokens, 100);
      assert.equal(done.data.usage.outputTokens, 28);
      const request = provider.requests[1]!;
      assert.equal(request.path, '/v1/messages');
      assert.equal(request.headers['x-api-key'], 'sk-ant-test');
      assert.match(JSON.stringify(request.body.system), /private workspace/);
      const followUp = provider.requests[2]!.body.messages;
      assert.equal(followUp[followUp.length - 1].content[0].type, 'tool_result');
    } finally {
      await kiln.stop();
      await provider.stop();
    }
  });
});

describe('OpenAI as the model', () => {
  it('talks to the Responses API with the key and base URL from the environment', async () => {
    const provider = await new FakeProvider().start();
    const kiln = await startKiln({ env: { KILN_MODEL: 'openai:gpt-fake', OPENAI_API_KEY: 'sk-openai-test', OPENAI_BASE_URL: `${provider.url}/v1` } });
    const api = Api.of(kiln);
    try {
      provider.enqueue({ kind: 'stream', events: responses.text(['Hi ', 'from OpenAI.']) });
      const events = await api.events(await api.createTask({ message: 'hello' }));
      const done = events[events.length - 1]!;
      assert.equal(done.data.finalResponse, 'Hi from OpenAI.');
      assert.equal(done.data.usage.totalTokens, 15);
      assert.equal(provider.requests[0]!.path, '/v1/responses');
      assert.equal(provider.requests[0]!.headers.authorization, 'Bearer sk-openai-test');
      assert.equal(provider.requests[0]!.body.model, 'gpt-fake');
    } finally {
      await kiln.stop();
      await provider.stop();
    }
  });
});

describe('model configuration', () => {
  it('refuses to start without what the chosen provider needs, saying what to set', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ KILN_MODEL: 'openai:gpt-4.1' }, /needs OPENAI_API_KEY/],
      [{ KILN_MODEL: 'anthropic:claude-sonnet-4-5' }, /needs ANTHROPIC_API_KEY/],
      [{ KILN_MODEL: 'openai-compatible:llama3.1' }, /needs KILN_MODEL_BASE_URL/],
      [{ KILN_MODEL: 'gemini:pro' }, /provider one of openai, anthropic, openai-compatible/],
      [{ KILN_MODEL: 'openai-compatible:x', KILN_MODEL_BASE_URL: 'localhost:11434' }, /KILN_MODEL_BASE_URL must be an http/],
    ];
    for (const [env, message] of cases) {
      const result = await kilnCli(['serve'], { KILN_DATA_DIR: tempDir(), ...env });
      assert.equal(result.code, 2, JSON.stringify(env));
      assert.match(result.stderr, message);
    }
  });

  it('fails a turn with a plain message when the model cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const kiln = await startKiln({ env: { KILN_MODEL: 'openai-compatible:m', KILN_MODEL_BASE_URL: `http://127.0.0.1:${closed}/v1`, ...FAST_RETRIES } });
    try {
      const api = Api.of(kiln);
      const end = await api.waitForEnd(await api.createTask({ message: 'hi' }));
      assert.equal(end.event, 'error');
      assert.match(end.data.message, new RegExp(`Could not reach the model provider at http://127.0.0.1:${closed}`));
    } finally {
      await kiln.stop();
    }
  });
});
