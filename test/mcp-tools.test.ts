import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, form, type SseEvent } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { PIXEL_PNG, startMcpHttpServer, type McpHttpServer } from './helpers/mcp-http-server.js';
import { stdioServerZip } from './helpers/mcp-stdio-package.js';
import { needs, sandbox } from './helpers/requirements.js';

function results(events: SseEvent[]) {
  return events.filter((e) => e.event === 'tool_result').map((e) => e.data);
}

function statuses(events: SseEvent[]): string[] {
  return events.filter((e) => e.event === 'status' && e.data.message).map((e) => e.data.message);
}

/** The tools the offline model was offered (its `tools` directive lists them in a thought). */
function offered(events: SseEvent[]): { name: string; description: string; inputSchema: any }[] {
  const thought = events.find((e) => e.event === 'thought' && e.data.description.startsWith('['));
  assert.ok(thought, 'the model listed its tools');
  return JSON.parse(thought.data.description);
}

async function createAgent(api: Api, body: Record<string, unknown>): Promise<any> {
  const response = await api.post('/api/v1/agents', { name: 'MCP user', ...body });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.data;
}

/** Waits until the task has `n` pending approvals. */
async function pending(api: Api, id: string, n = 1): Promise<{ callId: string; toolName: string; args: any }[]> {
  for (let i = 0; i < 1000; i++) {
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    if (task.status === 'awaiting_approval' && (task.pendingApprovals?.length ?? 0) >= n) return task.pendingApprovals;
    await sleep(10);
  }
  throw new Error(`task ${id} never had ${n} pending approvals`);
}

/** Host processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

describe('MCP servers of an agent', () => {
  let kiln: KilnServer;
  let api: Api;
  let open: McpHttpServer;
  let guarded: McpHttpServer;
  const SECRET = 'tok-9f8e7d6c5b4a-SECRET';

  before(async () => {
    open = await startMcpHttpServer();
    guarded = await startMcpHttpServer({ requireAuth: `Bearer ${SECRET}` });
    kiln = await startKiln({ env: { KILN_MCP_ALLOW_PRIVATE: 'true' } });
    api = Api.of(kiln);
  });
  after(async () => {
    await kiln.stop();
    await open.close();
    await guarded.close();
  });

  it('offers the tools of HTTP and SSE servers as <server>__<tool>, with their descriptions and schemas, and calls reach them', async () => {
    const agent = await createAgent(api, {
      mcpServers: {
        calc: { type: 'http', url: `${open.url}/mcp` },
        legacy: { type: 'sse', url: `${open.url}/sse`, tools: { allow: ['echo'] } },
      },
    });
    const id = await api.createTask({ agentId: agent.id, message: 'tools\ncall calc__add {"a": 2, "b": 40}\ncall legacy__echo {"text": "over SSE"}' });
    const events = await api.events(id);
    const tools = offered(events);
    const add = tools.find((t) => t.name === 'calc__add');
    assert.ok(add, 'calc__add is offered');
    assert.match(add.description, /Adds two numbers/);
    assert.deepEqual(add.inputSchema.properties, { a: { type: 'number' }, b: { type: 'number' } });
    assert.ok(tools.some((t) => t.name === 'read_file'), 'beside the built-in tools');
    assert.deepEqual(tools.filter((t) => t.name.startsWith('legacy__')).map((t) => t.name), ['legacy__echo'], 'the allow filter applies');

    const out = results(events);
    assert.deepEqual(out.map((r) => [r.toolName, r.server, r.status, r.output]), [
      ['calc__add', 'calc', 'success', '42'],
      ['legacy__echo', 'legacy', 'success', 'echo: over SSE'],
    ]);
    const calls = events.filter((e) => e.event === 'tool_call');
    assert.deepEqual(calls.map((e) => e.data.server), ['calc', 'legacy'], 'tool_call events name the server');
    assert.ok(open.requests.some((r) => r.url === '/sse'), 'the SSE transport was used');
  });

  it('applies deny filters, skips disabled servers, and gives the default agent its servers too', async () => {
    const agents = (await api.get('/api/v1/agents')).body.data;
    const fallback = agents.find((a: any) => a.isDefault);
    const patched = await api.request('PATCH', `/api/v1/agents/${fallback.id}`, {
      json: { mcpServers: { calc: { type: 'http', url: `${open.url}/mcp`, tools: { deny: ['add'] } }, off: { type: 'http', url: `${open.url}/mcp`, enabled: false } } },
    });
    assert.equal(patched.status, 200);
    try {
      const id = await api.createTask({ message: 'tools\ncall calc__add {"a": 1, "b": 1}' });
      const events = await api.events(id);
      const names = offered(events).map((t) => t.name);
      assert.ok(names.includes('calc__echo'));
      assert.ok(!names.includes('calc__add'), 'a denied tool is not offered');
      assert.ok(!names.some((n) => n.startsWith('off__')), 'a disabled server is not connected');
      const [result] = results(events);
      assert.equal(result.status, 'error');
      assert.match(result.output, /calc__add/);
    } finally {
      await api.request('PATCH', `/api/v1/agents/${fallback.id}`, { json: { mcpServers: null } });
    }
  });

  it('fills {{mcp.KEY}} from env and secrets at connection time, and never stores, logs, streams or returns the values', async () => {
    const agent = await createAgent(api, {
      mcpServers: {
        vault: { type: 'http', url: `${guarded.url}/mcp?team={{mcp.TEAM}}`, headers: { Authorization: 'Bearer {{mcp.TOKEN}}', 'X-Team': '{{mcp.TEAM}}' } },
      },
    });
    assert.equal(agent.mcpServers.vault.headers.Authorization, 'Bearer {{mcp.TOKEN}}', 'the agent shows the template as written');
    const before = guarded.requests.length;
    // TOKEN is in env too: the secret wins.
    const id = await api.createTask({ agentId: agent.id, message: 'call vault__secret_word {}', env: { TEAM: 'blue', TOKEN: 'not-the-token' }, secrets: { TOKEN: SECRET } });
    const events = await api.events(id);
    const [result] = results(events);
    assert.equal(result.status, 'success', JSON.stringify(result));
    assert.equal(result.output, 'the word is Bearer [redacted]', 'a result that repeats the secret is redacted');
    const seen = guarded.requests.slice(before);
    assert.ok(seen.length > 0 && seen.every((r) => r.headers.authorization === `Bearer ${SECRET}` && r.headers['x-team'] === 'blue'));
    assert.ok(seen.every((r) => r.url === '/mcp?team=blue'), 'the URL template was filled from env');

    const everything = [
      JSON.stringify(events.map((e) => e.raw)),
      JSON.stringify((await api.get(`/api/v1/tasks/${id}`)).body),
      JSON.stringify((await api.get(`/api/v1/tasks/${id}/history`)).body),
      JSON.stringify((await api.get(`/api/v1/agents/${agent.id}`)).body),
      JSON.stringify((await api.get('/api/v1/agents')).body),
      kiln.logs(),
    ];
    for (const text of everything) assert.ok(!text.includes(SECRET), 'the secret is nowhere in what Kiln answers or logs');
    for (const file of fs.readdirSync(kiln.dataDir).filter((f) => f.startsWith('kiln.db'))) {
      assert.ok(!fs.readFileSync(path.join(kiln.dataDir, file)).includes(SECRET), `the secret is not in ${file}`);
    }
  });

  it('reports a placeholder without a value once, naming the server and the key, and goes on with the other tools', async () => {
    const agent = await createAgent(api, {
      mcpServers: {
        vault: { type: 'http', url: `${guarded.url}/mcp`, headers: { Authorization: 'Bearer {{mcp.MISSING_TOKEN}}' } },
        calc: { type: 'http', url: `${open.url}/mcp` },
      },
    });
    const id = await api.createTask({ agentId: agent.id, message: 'call vault__secret_word {}\ncall vault__secret_word {}\ncall calc__add {"a": 1, "b": 2}', env: { OTHER: 'x' } });
    const events = await api.events(id);
    const messages = statuses(events).filter((m) => m.includes('vault'));
    assert.equal(messages.length, 1, 'reported once per turn, not once per call');
    assert.match(messages[0]!, /MCP server "vault".*\{\{mcp\.MISSING_TOKEN\}\}.*no value.*goes on without its tools/);
    const out = results(events);
    assert.deepEqual(out.map((r) => r.status), ['error', 'error', 'success']);
    assert.equal(out[2].output, '3');
    assert.equal((await api.get(`/api/v1/tasks/${id}`)).body.data.status, 'completed');
  });

  it('reports a server that cannot be reached once per turn, and the turn goes on', async () => {
    const gone = await startMcpHttpServer();
    await gone.close();
    const agent = await createAgent(api, { mcpServers: { gone: { type: 'http', url: `${gone.url}/mcp`, timeout: 2000 } } });
    const id = await api.createTask({ agentId: agent.id, message: 'call gone__add {"a": 1, "b": 2}\ncall gone__add {"a": 1, "b": 2}\nls' });
    const events = await api.events(id);
    const messages = statuses(events).filter((m) => m.includes('"gone"'));
    assert.equal(messages.length, 1);
    assert.match(messages[0]!, /could not be reached/);
    assert.deepEqual(results(events).map((r) => r.status), ['error', 'error', 'success']);
  });

  it('puts MCP calls through the same approvals and tool policy, and proceed_always survives a restart', async () => {
    const agent = await createAgent(api, { autoExecute: false, mcpServers: { calc: { type: 'http', url: `${open.url}/mcp` } } });
    const id = await api.createTask({
      agentId: agent.id,
      message: 'call calc__add {"a": 1, "b": 1}\ncall calc__add {"a": 2, "b": 2}\ncall calc__echo {"text": "x"}',
      toolPolicy: { calc__echo: 'deny' },
    });
    const echoes = open.calls.get('echo') ?? 0;
    const [first] = await pending(api, id);
    assert.equal(first!.toolName, 'calc__add');
    const before = open.calls.get('add') ?? 0;

    await kiln.stop();
    kiln = await kiln.restart();
    api = Api.of(kiln);
    const decided = await api.post(`/api/v1/tasks/${id}/tools/${first!.callId}/approve`, { outcome: 'proceed_always' });
    assert.deepEqual(decided.body, { success: true, data: { approved: true } });
    const end = await api.waitForEnd(id);
    assert.equal(end.event, 'done');
    const events = await api.streamAll(id, 0);
    const out = results(events);
    assert.deepEqual(out.map((r) => [r.toolName, r.status]), [
      ['calc__add', 'success'],
      ['calc__add', 'success'],
      ['calc__echo', 'cancelled'],
    ]);
    assert.equal((open.calls.get('add') ?? 0) - before, 2, 'the second add ran without asking again');
    assert.equal(open.calls.get('echo') ?? 0, echoes, 'the denied call never reached the server');
    const parked = events.find((e) => e.event === 'tool_call' && e.data.status === 'awaiting_approval');
    assert.equal(parked?.data.server, 'calc');
  });

  it('lets a policy name all tools of a server with <server>__*', async () => {
    const agent = await createAgent(api, { mcpServers: { calc: { type: 'http', url: `${open.url}/mcp` } }, toolPolicy: { 'calc__*': 'ask', calc__echo: 'allow' } });
    const id = await api.createTask({ agentId: agent.id, message: 'call calc__echo {"text": "free"}\ncall calc__add {"a": 1, "b": 1}' });
    const [waiting] = await pending(api, id);
    assert.equal(waiting!.toolName, 'calc__add', 'echo ran without asking; add waits');
    await api.post(`/api/v1/tasks/${id}/tools/${waiting!.callId}/approve`, { outcome: 'cancel' });
    const out = results(await api.events(id));
    assert.deepEqual(out.map((r) => r.status), ['success', 'cancelled']);
  });

  it('saves images and embedded resources into the workspace as artifacts, and shows isError results as errors', async () => {
    const agent = await createAgent(api, { mcpServers: { media: { type: 'http', url: `${open.url}/mcp` } } });
    const id = await api.createTask({ agentId: agent.id, message: 'call media__picture {}\ncall media__refuse {}' });
    const [picture, refused] = results(await api.events(id));
    assert.equal(picture.status, 'success');
    const saved = [...picture.output.matchAll(/saved to (\S+) \((\d+) bytes\)/g)].map((m) => m[1]!);
    assert.equal(saved.length, 2, picture.output);
    assert.match(picture.output, /^here you are\n/);
    assert.match(saved[0]!, /^mcp\/media\/picture-[0-9a-f]+-1\.png$/);
    assert.match(saved[1]!, /^mcp\/media\/[0-9a-f]+-2-summary\.pdf$/);
    const listing = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files;
    const image = listing.find((f: any) => f.path === saved[0]);
    assert.ok(image, 'the image is an artifact');
    assert.equal(image.mimeType, 'image/png');
    const bytes = await fetch(`${kiln.url}/api/v1/tasks/${id}/artifacts/download?path=${encodeURIComponent(saved[0]!)}`, { headers: api.headers() });
    assert.deepEqual(Buffer.from(await bytes.arrayBuffer()), PIXEL_PNG);
    assert.ok(listing.some((f: any) => f.path === saved[1]));
    assert.deepEqual([refused.status, refused.output], ['error', 'the server refused this']);
  });

  it('bounds each call by the server timeout and the size of results; the turn goes on', async () => {
    const agent = await createAgent(api, { mcpServers: { slowpoke: { type: 'http', url: `${open.url}/mcp`, timeout: 700 } } });
    const id = await api.createTask({ agentId: agent.id, message: 'call slowpoke__slow {"ms": 30000}\ncall slowpoke__big {"bytes": 5000000}\ncall slowpoke__echo {"text": "still here"}' });
    const out = results(await api.events(id));
    assert.equal(out[0].status, 'error');
    assert.match(out[0].output, /timeout of 700 ms/);
    assert.equal(out[1].status, 'success');
    assert.ok(out[1].output.length < 300_000, `the 5 MB result was cut (${out[1].output.length})`);
    assert.match(out[1].output, /result truncated: \d+ more bytes not shown/);
    assert.equal(out[2].output, 'echo: still here');
  });

  it('aborts a call in flight when the task is cancelled', async () => {
    const agent = await createAgent(api, { mcpServers: { slowpoke: { type: 'http', url: `${open.url}/mcp` } } });
    const id = await api.createTask({ agentId: agent.id, message: 'call slowpoke__slow {"ms": 120000}' });
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'tool_call');
    await api.request('DELETE', `/api/v1/tasks/${id}`);
    const rest = await stream.readAll();
    assert.equal(rest[rest.length - 1]!.event, 'cancelled');
    const call = (await api.get(`/api/v1/tasks/${id}`)).body.data.output.toolCalls[0];
    assert.equal(call.status, 'cancelled');
  });

  it('keeps one user\'s agents and their MCP settings from another user', async () => {
    const agent = await createAgent(api, { mcpServers: { calc: { type: 'http', url: `${open.url}/mcp`, headers: { 'X-Key': '{{mcp.KEY}}' } } } });
    const other = new Api(kiln.url, await createUserKey(kiln, 'mallory'));
    assert.equal((await other.get(`/api/v1/agents/${agent.id}`)).status, 404);
    assert.equal((await other.request('PATCH', `/api/v1/agents/${agent.id}`, { json: { mcpServers: null } })).status, 404);
    const theirs = (await other.get('/api/v1/agents')).body.data;
    assert.ok(theirs.every((a: any) => a.id !== agent.id && a.mcpServers === null));
    const refused = await other.post('/api/v1/tasks', { message: 'hi', agentId: agent.id });
    assert.equal(refused.status, 400);
    assert.equal((await api.get(`/api/v1/agents/${agent.id}`)).body.data.mcpServers.calc.headers['X-Key'], '{{mcp.KEY}}');
  });

  it('refuses invalid MCP settings with a validation error that says what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [{ 'bad__name': { command: 'node' } }, /mcpServers\.bad__name: "bad__name" is not a valid server name/],
      [{ 'has space': { command: 'node' } }, /not a valid server name/],
      [{ x: { type: 'websocket', url: 'ws://x' } }, /mcpServers\.x\.type: must be "http" \(Streamable HTTP\), "sse" or "stdio"/],
      [{ x: { args: ['a'] } }, /mcpServers\.x\.command: is required for a stdio server/],
      [{ x: { type: 'http' } }, /mcpServers\.x\.url is required|mcpServers\.x\.url: is required/],
      [{ x: { type: 'http', url: 'file:///etc/passwd' } }, /mcpServers\.x\.url: must be an http:\/\/ or https:\/\/ URL/],
      [{ x: { type: 'sse', url: 'https://x', timeout: 'soon' } }, /mcpServers\.x\.timeout/],
      [{ x: { command: 'node', cwd: '../elsewhere' } }, /mcpServers\.x\.cwd: must be a path relative to the workspace/],
      [{ x: { command: 'node', env: { 'not-a-name': 'v' } } }, /mcpServers\.x\.env: "not-a-name" is not allowed/],
      [{ x: { command: 'node', tools: { allow: 'add' } } }, /mcpServers\.x\.tools\.allow/],
      [{ x: { command: 'node', surprise: true } }, /mcpServers\.x: Unrecognized key/],
      [['node'], /mcpServers: must be an object/],
    ];
    for (const [mcpServers, message] of cases) {
      const response = await api.post('/api/v1/agents', { name: 'bad', mcpServers });
      assert.equal(response.status, 400, JSON.stringify(mcpServers));
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      assert.match(response.body.error.message, message);
    }
    const policy = await api.post('/api/v1/tasks', { message: 'x', toolPolicy: { 'no such tool': 'allow' } });
    assert.equal(policy.status, 400);
    assert.match(policy.body.error.message, /<server>__<tool>/);
  });
});

describe('stdio MCP servers', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  let agentId: string;
  let taskId: string;
  const marker = `marker-${Date.now()}`;
  /** Settings of the test server. */
  const local = (extra: Record<string, unknown> = {}) => ({
    command: 'node',
    args: ['server.mjs', marker],
    cwd: 'uploads/mcp-server',
    env: { API_TOKEN: '{{mcp.TOKEN}}' },
    ...extra,
  });

  /** Sends a follow-up to the task and returns the events of that turn once it has ended. */
  async function turn(message: string, secrets?: Record<string, string>): Promise<SseEvent[]> {
    const last = (await api.streamAll(taskId)).at(-1)!.id!;
    const sent = await api.post(`/api/v1/tasks/${taskId}/messages`, { message, ...(secrets ? { secrets } : {}) });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    return api.streamAll(taskId, last);
  }

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
    agentId = (await createAgent(api, { mcpServers: { local: local() } })).id;
    // The server and the packages it imports are uploaded into the workspace: inside the sandbox
    // the workspace is the only place a program can load files from besides the system folders.
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'ls uploads', agentId }, [{ name: 'server.zip', content: stdioServerZip() }]) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    taskId = response.body.data.id;
    await api.waitForEnd(taskId);
  });
  after(() => kiln.stop());

  it('run inside the task\'s sandbox, in the workspace, with the task\'s secrets, and what they write becomes artifacts', async () => {
    const secret = 'stdio-secret-4242';
    const events = await turn(
      [
        'tools',
        `call local__where {"probe": ${JSON.stringify(kiln.dataDir)}}`,
        'call local__env_digest {"name": "API_TOKEN"}',
        'call local__note {"name": "from-server.txt", "content": "written by the MCP server"}',
        'call local__picture {}',
        'call local__crash {}',
        'call local__echo {"text": "after the crash"}',
        'ls',
      ].join('\n'),
      { TOKEN: secret },
    );
    const names = offered(events).map((t) => t.name);
    assert.ok(names.includes('local__echo') && names.includes('local__crash'), JSON.stringify(statuses(events)));
    const out = results(events);
    const where = JSON.parse(out[0].output);
    assert.equal(where.cwd, '/workspace/uploads/mcp-server');
    assert.equal(where.home, '/workspace');
    assert.equal(where.probeVisible, false, 'the data dir is not visible from the sandbox');
    assert.equal(out[1].output, `API_TOKEN sha256=${createHash('sha256').update(secret).digest('hex')}`, 'the env template was filled from the secret');
    assert.equal(out[2].status, 'success');
    const listing = (await api.get(`/api/v1/tasks/${taskId}/artifacts`)).body.data.files;
    assert.ok(listing.some((f: any) => f.path === 'uploads/mcp-server/from-server.txt'), 'a file the server wrote is an artifact');
    assert.match(out[3].output, /saved to mcp\/local\/picture-[0-9a-f]+-1\.png/);
    assert.equal(out[4].status, 'error');
    assert.match(out[4].output, /MCP server "local".*stopped.*exited with code 3.*crashing on purpose/);
    assert.ok(!out[4].output.includes(secret.slice(-4)), `no piece of the secret is left where stderr was cut: ${out[4].output.slice(0, 80)}`);
    assert.equal(out[5].status, 'error');
    assert.match(out[5].output, /MCP server "local" is no longer available/);
    assert.equal(out[6].status, 'success', 'the turn went on');
    assert.equal(events.at(-1)!.event, 'done');
    for (let i = 0; i < 200 && processesWith(marker).length > 0; i++) await sleep(20);
    assert.deepEqual(processesWith(marker), [], 'the server does not outlive the turn');
    assert.ok(!kiln.logs().includes(secret));
  });

  it('stop a hanging call at the server timeout, and a cancel stops the server', async () => {
    await api.request('PATCH', `/api/v1/agents/${agentId}`, { json: { mcpServers: { local: local({ timeout: 800 }) } } });
    // Secrets last only as long as the turn they were sent with: each turn sends the token again.
    const out = results(await turn('call local__hang {}\ncall local__echo {"text": "next"}', { TOKEN: 'stdio-secret-4242' }));
    assert.equal(out[0].status, 'error');
    assert.match(out[0].output, /timeout of 800 ms/);
    assert.equal(out[1].output, 'echo: next');

    await api.request('PATCH', `/api/v1/agents/${agentId}`, { json: { mcpServers: { local: local() } } });
    const last = (await api.streamAll(taskId)).at(-1)!.id!;
    await api.post(`/api/v1/tasks/${taskId}/messages`, { message: 'call local__hang {}', secrets: { TOKEN: 'stdio-secret-4242' } });
    const stream = await api.openStream(taskId, last);
    await stream.readUntil((e) => e.event === 'tool_call');
    assert.ok(processesWith(marker).length > 0);
    await api.request('DELETE', `/api/v1/tasks/${taskId}`);
    const rest = await stream.readAll();
    assert.equal(rest.at(-1)!.event, 'cancelled');
    for (let i = 0; i < 200 && processesWith(marker).length > 0; i++) await sleep(20);
    assert.deepEqual(processesWith(marker), [], 'cancelling killed the server');
  });
});

describe('MCP servers on private addresses', () => {
  it('are refused unless KILN_MCP_ALLOW_PRIVATE is true', async () => {
    const server = await startMcpHttpServer();
    const kiln = await startKiln();
    const api = Api.of(kiln);
    try {
      const agent = await createAgent(api, {
        mcpServers: {
          loop: { type: 'http', url: `${server.url}/mcp` },
          named: { type: 'http', url: `http://localhost:${server.port}/mcp` },
          mapped: { type: 'sse', url: `http://[::ffff:127.0.0.1]:${server.port}/sse` },
          meta: { type: 'http', url: 'http://169.254.169.254/mcp', timeout: 1000 },
        },
      });
      const id = await api.createTask({ agentId: agent.id, message: 'tools' });
      const events = await api.events(id);
      const messages = statuses(events);
      assert.match(messages.find((m) => m.includes('"loop"'))!, /127\.0\.0\.1 is a loopback address/);
      assert.match(messages.find((m) => m.includes('"named"'))!, /localhost resolves to .*loopback/);
      assert.match(messages.find((m) => m.includes('"mapped"'))!, /loopback/);
      assert.match(messages.find((m) => m.includes('"meta"'))!, /link-local/);
      assert.equal(server.requests.length, 0, 'no request reached the server');
      assert.ok(!offered(events).some((t) => t.name.includes('__')));
    } finally {
      await kiln.stop();
      await server.close();
    }
  });
});
