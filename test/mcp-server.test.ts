import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createUserKey, newKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

/** An MCP client, as an MCP host would run it, connected to Kiln's `/mcp` with a key. */
async function connect(kiln: KilnServer, key: string): Promise<Client> {
  const client = new Client({ name: 'kiln-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: any };

async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

/** The JSON a tool answered with. */
async function callJson(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const result = await callTool(client, name, args);
  assert.notEqual(result.isError, true, `${name} failed: ${result.content[0]?.text}`);
  return JSON.parse(result.content[0]!.text!);
}

describe('Kiln as an MCP server', () => {
  let kiln: KilnServer;
  let client: Client;
  before(async () => {
    kiln = await startKiln();
    client = await connect(kiln, kiln.key);
  });
  after(async () => {
    await client?.close();
    await kiln.stop();
  });

  it('lists its tools, each with a description and an input schema', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['cancel_task', 'create_task', 'decide_approval', 'get_task', 'list_artifacts', 'list_tasks', 'read_artifact', 'send_message']);
    for (const tool of tools) {
      assert.ok((tool.description ?? '').length > 30, `${tool.name} explains itself`);
      assert.equal(tool.inputSchema.type, 'object');
    }
    const create = tools.find((t) => t.name === 'create_task')!;
    assert.deepEqual(create.inputSchema.required, ['message']);
    assert.equal(client.getServerVersion()?.name, 'kiln');
  });

  it('creates a task and, when asked to wait, answers with its final answer', async () => {
    const done = await callJson(client, 'create_task', { message: 'What is 2+2?', waitSeconds: 60 });
    assert.equal(done.status, 'completed');
    assert.equal(done.finalAnswer, 'Echo: What is 2+2?');
    assert.ok(done.usage, 'with its token usage');

    const queued = await callJson(client, 'create_task', { message: 'sleep 200' });
    assert.ok(['pending', 'running'].includes(queued.status), 'without waitSeconds it answers at once');
    const later = await callJson(client, 'get_task', { taskId: queued.taskId, waitSeconds: 60 });
    assert.equal(later.status, 'completed');

    const followUp = await callJson(client, 'send_message', { taskId: done.taskId, message: 'And 3+3?', waitSeconds: 60 });
    assert.deepEqual([followUp.status, followUp.finalAnswer, followUp.turn], ['completed', 'Echo: And 3+3?', 2]);
    const progress: string[] = [];
    const withProgress = (await client.callTool({ name: 'create_task', arguments: { message: 'ls', waitSeconds: 60 } }, undefined, {
      onprogress: (p) => progress.push(p.message ?? ''),
    })) as ToolResult;
    assert.equal(JSON.parse(withProgress.content[0]!.text!).status, 'completed');
    assert.ok(progress.includes('tool_call list_directory') && progress.includes('done'), `progress was reported while waiting: ${progress.join(', ')}`);
    const listed = await callJson(client, 'list_tasks', { limit: 5 });
    assert.ok(listed.tasks.some((t: any) => t.taskId === done.taskId));
  });

  it('waits for an approval, runs the call once it is decided, and reads the file it wrote', async () => {
    const waiting = await callJson(client, 'create_task', { message: 'write out.txt\nhello from mcp\nEOF', autoExecute: false, waitSeconds: 60 });
    assert.equal(waiting.status, 'awaiting_approval');
    const [pending] = waiting.pendingApprovals;
    assert.deepEqual([pending.toolName, pending.args.path], ['write_file', 'out.txt']);
    assert.deepEqual((await callJson(client, 'list_artifacts', { taskId: waiting.taskId })).files, [], 'nothing is written before the decision');

    const decided = await callJson(client, 'decide_approval', { taskId: waiting.taskId, callId: pending.callId, outcome: 'proceed_once', waitSeconds: 60 });
    assert.equal(decided.approved, true);
    assert.equal(decided.status, 'completed');
    const task = await callJson(client, 'get_task', { taskId: waiting.taskId });
    assert.equal(task.status, 'completed');
    assert.match(task.finalAnswer, /write_file: success/);

    const files = (await callJson(client, 'list_artifacts', { taskId: waiting.taskId })).files;
    assert.deepEqual(files.map((f: any) => [f.path, f.version]), [['out.txt', 1]]);
    const read = await callTool(client, 'read_artifact', { taskId: waiting.taskId, path: 'out.txt' });
    assert.equal(read.content[0]!.text, 'hello from mcp\n');
    assert.equal(JSON.parse(read.content[1]!.text!).mediaType, 'text/plain');

    const again = await callTool(client, 'decide_approval', { taskId: waiting.taskId, callId: pending.callId, outcome: 'cancel' });
    assert.equal(again.isError, true);
    assert.match(again.content[0]!.text!, /^CONFLICT: Tool call .* was already decided \(proceed_once\); the first decision stands/);
  });

  it('gives binary files as a description with a download link that works without a key', async () => {
    const made = await callJson(client, 'create_task', { message: "$ printf 'PK\\000\\001binary' > data.bin", waitSeconds: 60 });
    assert.equal(made.status, 'completed', JSON.stringify(made));
    const read = await callTool(client, 'read_artifact', { taskId: made.taskId, path: 'data.bin' });
    assert.notEqual(read.isError, true, read.content[0]?.text);
    assert.match(read.content[0]!.text!, /binary file .*10 bytes/);
    const { downloadUrl } = JSON.parse(read.content[1]!.text!);
    const download = await fetch(downloadUrl);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), Buffer.from('PK\0\x01binary'));
  });

  it("answers another user's task as not found, as a tool error", async () => {
    const mine = await callJson(client, 'create_task', { message: 'private', waitSeconds: 60 });
    const other = await connect(kiln, await createUserKey(kiln, 'mallory'));
    try {
      for (const [name, args] of [
        ['get_task', { taskId: mine.taskId }],
        ['send_message', { taskId: mine.taskId, message: 'hi' }],
        ['list_artifacts', { taskId: mine.taskId }],
        ['read_artifact', { taskId: mine.taskId, path: 'out.txt' }],
        ['decide_approval', { taskId: mine.taskId, callId: 'call_x', outcome: 'cancel' }],
        ['cancel_task', { taskId: mine.taskId }],
      ] as const) {
        const result = await callTool(other, name, args);
        assert.equal(result.isError, true, name);
        assert.equal(result.content[0]!.text, 'NOT_FOUND: Task not found', name);
      }
      assert.deepEqual((await callJson(other, 'list_tasks', {})).tasks, []);
    } finally {
      await other.close();
    }
    const history = await fetch(`${kiln.url}/api/v1/tasks/${mine.taskId}/history`, { headers: { authorization: `Bearer ${kiln.key}` } });
    assert.equal(((await history.json()) as any).data.messages.length, 2, "the other user's follow-up did not reach the task");
  });

  it('refuses bad tool input with a clear error, and a follow-up while the task works', async () => {
    const bad = await callTool(client, 'create_task', { message: 'x', waitSeconds: 100_000 });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0]!.text!, /waitSeconds/);
    const busy = await callJson(client, 'create_task', { message: 'sleep 5000' });
    const refused = await callTool(client, 'send_message', { taskId: busy.taskId, message: 'too soon' });
    assert.equal(refused.isError, true);
    assert.match(refused.content[0]!.text!, /^CONFLICT: /);
    await callJson(client, 'cancel_task', { taskId: busy.taskId });
  });

  it('refuses requests without a valid key with 401', async () => {
    for (const headers of [{}, { authorization: `Bearer ${newKey()}` }, { authorization: 'Basic abc' }] as Record<string, string>[]) {
      const response = await fetch(`${kiln.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
      const body = (await response.json()) as any;
      assert.equal(body.jsonrpc, '2.0');
      assert.ok(body.error.message.length > 10);
    }
    await assert.rejects(connect(kiln, newKey()), (error: Error & { code?: number }) => error.code === 401 || /401/.test(error.message));
  });
});
