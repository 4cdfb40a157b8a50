import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Kiln, KilnError, type TaskEvent } from '@kiln/sdk';
import { downloadToFile, fileFromPath } from '@kiln/sdk/node';
import { ROOT, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { buildZip } from './helpers/zip.js';

const run = promisify(execFile);

async function collect(events: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const all: TaskEvent[] = [];
  for await (const e of events) all.push(e);
  return all;
}

/**
 * A 100 MB file of 2 bits of entropy a byte, so that its deflated ZIP stays under the 50 MB
 * upload limit. Made before the server starts: deflating takes long enough that a pooled
 * keep-alive connection would be closed by the server meanwhile.
 */
function bigFile(): { size: number; expected: string; zip: Buffer } {
  const size = 100 * 1024 * 1024;
  const content = Buffer.alloc(size);
  const random = randomBytes(size / 4);
  const letters = Buffer.from('ACGT');
  for (let i = 0; i < size; i++) content[i] = letters[(random[i >> 2]! >> ((i & 3) * 2)) & 3]!;
  return { size, expected: createHash('sha256').update(content).digest('hex'), zip: buildZip([{ name: 'big.txt', content }], true) };
}

function logged(events: TaskEvent[]): number[] {
  return events.filter((e): e is TaskEvent & { id: number } => 'id' in e).map((e) => e.id);
}

describe('the TypeScript SDK', () => {
  let server: KilnServer;
  let kiln: Kiln;
  let big: ReturnType<typeof bigFile>;
  before(async () => {
    big = bigFile();
    server = await startKiln();
    kiln = new Kiln({ baseUrl: server.url, apiKey: server.key });
  });
  after(() => server.stop());

  it('creates a task with files of every kind, streams it to the end and reads it back', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'from-disk.txt'), 'on disk');
    const { id, status } = await kiln.tasks.create({
      message: 'ls uploads\ncat uploads/bytes.bin',
      systemPrompt: 'Be brief.',
      files: [
        { name: 'bytes.bin', data: new Uint8Array([1, 2, 3]) },
        { name: 'buffer.txt', data: Buffer.from('a buffer') },
        { name: 'blob.txt', data: new Blob(['a blob']) },
        new File(['a file'], 'file.txt'),
        { name: 'stream.txt', data: new Blob(['a stream']).stream() },
        await fileFromPath(path.join(dir, 'from-disk.txt')),
      ],
    });
    assert.equal(status, 'pending');
    const events = await collect(kiln.tasks.stream(id));
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'history_message');
    assert.ok(names.includes('history_done'));
    assert.equal(names.at(-1), 'done');
    // The turn may have ended before the stream opened; the log from id 0 has all of it.
    const log = await collect(kiln.tasks.stream(id, { lastEventId: 0 }));
    const logNames = log.map((e) => e.event);
    assert.ok(logNames.includes('tool_call') && logNames.includes('tool_result'));
    assert.equal(logNames.at(-1), 'done');
    const ids = logged(log);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));

    const task = await kiln.tasks.get(id);
    assert.equal(task.status, 'completed');
    assert.equal(task.systemPrompt, 'Be brief.');
    assert.ok(task.output);
    const history = await kiln.tasks.history(id);
    assert.equal(history.messages[0]!.content, 'ls uploads\ncat uploads/bytes.bin');
    assert.deepEqual(
      history.messages[0]!.attachedFiles!.map((f) => f.name).sort(),
      ['blob.txt', 'buffer.txt', 'bytes.bin', 'file.txt', 'from-disk.txt', 'stream.txt'],
    );

    const files = await kiln.artifacts.list(id);
    const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
    assert.deepEqual([...(await kiln.artifacts.bytes(id, 'uploads/bytes.bin'))], [1, 2, 3]);
    for (const [name, text] of [['buffer.txt', 'a buffer'], ['blob.txt', 'a blob'], ['file.txt', 'a file'], ['stream.txt', 'a stream'], ['from-disk.txt', 'on disk']]) {
      assert.equal(new TextDecoder().decode(await kiln.artifacts.bytes(id, `uploads/${name}`)), text);
      assert.equal(byPath[`uploads/${name}`]!.size, text!.length);
    }
  });

  it('refuses files together with env or secrets, which need JSON, before sending anything', async () => {
    await assert.rejects(
      kiln.tasks.create({ message: 'x', env: { A: '1' }, files: [{ name: 'a.txt', data: 'a' }] }),
      /env cannot be sent with files/,
    );
    const { id } = await kiln.tasks.create({ message: 'hello', env: { GREETING: 'hi' }, secrets: { TOKEN: 'abcd' }, toolPolicy: { read_file: 'allow' } });
    assert.equal((await kiln.tasks.wait(id)).event, 'done');
    const task = await kiln.tasks.get(id);
    assert.deepEqual(task.env, { GREETING: 'hi' });
    assert.deepEqual(task.toolPolicy, { read_file: 'allow' });
  });

  it('lists tasks a page at a time and iterates over all of them once each', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await kiln.tasks.create({ message: `count ${i}` })).id);
    const page = await kiln.tasks.list({ limit: 2 });
    assert.equal(page.tasks.length, 2);
    assert.equal(page.pagination.limit, 2);
    assert.equal(page.pagination.hasMore, true);
    const all: string[] = [];
    for await (const task of kiln.tasks.iterate({ pageSize: 2 })) all.push(task.id);
    assert.equal(new Set(all).size, all.length, 'each task once');
    for (const id of created) assert.ok(all.includes(id));
    assert.equal(all.length, page.pagination.total);
    for (const id of created) await kiln.tasks.wait(id);
  });

  it('sends a follow-up with a file, and streams the new turn', async () => {
    const { id } = await kiln.tasks.create({ message: 'first' });
    await kiln.tasks.wait(id);
    const accepted = await kiln.tasks.send(id, { message: 'cat uploads/later.txt', files: [{ name: 'later.txt', data: 'sent later' }] });
    assert.equal(accepted.status, 'running');
    // The turn may end before the stream opens: then its work arrives as history.
    const events = await collect(kiln.tasks.stream(id));
    assert.equal(events.at(-1)!.event, 'done');
    const messages = (await kiln.tasks.history(id)).messages;
    assert.equal(messages.length, 4);
    assert.equal(messages[3]!.toolCalls?.[0]?.output, 'sent later');
    await kiln.tasks.send(id, 'a plain follow-up');
    assert.equal((await kiln.tasks.wait(id)).event, 'done');
  });

  it('decides a waiting tool call from the stream, and cancels a running task', async () => {
    const { id } = await kiln.tasks.create({ message: 'write notes.txt\nhello\nEOF', autoExecute: false });
    const seen: string[] = [];
    for await (const e of kiln.tasks.stream(id)) {
      seen.push(e.event);
      if (e.event === 'tool_call' && e.data.status === 'awaiting_approval') {
        assert.equal((await kiln.tasks.get(id)).pendingApprovals?.[0]?.callId, e.data.callId);
        assert.deepEqual(await kiln.tasks.approve(id, e.data.callId, 'once'), { approved: true });
      }
    }
    assert.ok(seen.includes('tool_approval'));
    assert.equal(seen.at(-1), 'done');
    assert.equal(new TextDecoder().decode(await kiln.artifacts.bytes(id, 'notes.txt')), 'hello\n');

    const slow = await kiln.tasks.create({ message: 'sleep 30000' });
    const stream = kiln.tasks.stream(slow.id);
    for await (const e of stream) {
      if (e.event === 'status') await kiln.tasks.cancel(slow.id);
      if (e.event === 'cancelled') break;
    }
    assert.equal((await kiln.tasks.get(slow.id)).status, 'cancelled');
  });

  it('lists versions of a file, downloads any version, and zips a folder', async () => {
    const { id } = await kiln.tasks.create({ message: 'write out/a.txt\none\nEOF' });
    await kiln.tasks.wait(id);
    await kiln.tasks.send(id, 'write out/a.txt\ntwo\nEOF');
    await kiln.tasks.wait(id);
    const { versions } = await kiln.artifacts.versions(id, 'out/a.txt');
    assert.deepEqual(versions.map((v) => v.version), [2, 1]);
    assert.equal(new TextDecoder().decode(await kiln.artifacts.bytes(id, 'out/a.txt', { version: 1 })), 'one\n');
    const latest = await kiln.artifacts.download(id, 'out/a.txt');
    assert.equal(latest.size, 4);
    assert.equal(latest.etag, `"${versions[0]!.sha256}"`);
    assert.equal(await new Response(latest.body).text(), 'two\n');
    const zip = await kiln.artifacts.archive(id, { path: 'out' });
    const bytes = new Uint8Array(await new Response(zip.body).arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 2)], [0x50, 0x4b], 'a zip');
  });

  it('creates, lists, reads and changes agents, and runs a task as one', async () => {
    const agent = await kiln.agents.create({ name: 'careful', autoExecute: false, systemPrompt: 'Ask first.' });
    assert.equal(agent.name, 'careful');
    assert.ok((await kiln.agents.list()).some((a) => a.id === agent.id && !a.isDefault));
    assert.equal((await kiln.agents.get(agent.id)).systemPrompt, 'Ask first.');
    const changed = await kiln.agents.update(agent.id, { autoExecute: true, name: 'bold' });
    assert.equal(changed.name, 'bold');
    assert.equal(changed.autoExecute, true);
    const { id } = await kiln.tasks.create({ message: 'hi', agentId: agent.id });
    await kiln.tasks.wait(id);
    assert.equal((await kiln.tasks.get(id)).agentId, agent.id);
  });

  it('reaches the Gumloop and Syntropic137 faces in their own shapes', async () => {
    const { id } = await kiln.tasks.create({ message: 'write report.md\n# Report\nEOF' });
    await kiln.tasks.wait(id);
    const agentId = (await kiln.tasks.get(id)).agentId!;
    assert.ok((await kiln.gumloop.listAgents()).some((a) => a.id === agentId));
    assert.equal((await kiln.gumloop.getAgent(agentId)).id, agentId);
    const rows = [];
    for await (const row of kiln.gumloop.artifacts(agentId, { session_id: id, page_size: 1 })) rows.push(row);
    assert.deepEqual(rows.map((r) => r.filename), ['report.md']);
    const link = await kiln.gumloop.downloadLink(rows[0]!.id, { versionId: rows[0]!.version_id });
    assert.equal(await (await fetch(link.download_url)).text(), '# Report\n');

    const created = await kiln.syntropic.create({ workflow_id: 'wf-sdk', artifact_type: 'plan', title: 'Plan', content: '# Plan', session_id: id });
    assert.equal(created.status, 'created');
    assert.deepEqual((await kiln.syntropic.list({ workflow_id: 'wf-sdk' })).map((a) => a.id), [created.id]);
    assert.equal((await kiln.syntropic.get(created.id.slice(0, 12), { includeContent: true })).content, '# Plan');
    const uploaded = await kiln.syntropic.upload(created.id, { name: 'plan.md', data: '# Plan, v2', type: 'text/markdown' });
    assert.equal(uploaded.version, 2);
    assert.equal((await kiln.syntropic.content(created.id)).content, '# Plan, v2');
  });

  it('manages API keys and lists users through the keys API', async (t) => {
    let own;
    try {
      own = await kiln.keys.list();
    } catch (error) {
      if (error instanceof KilnError && error.status === 404 && /No such endpoint/.test(error.message)) {
        t.skip('this server has no keys API (GET /api/v1/keys)');
        return;
      }
      throw error;
    }
    assert.ok(Array.isArray(own));
    const created = await kiln.keys.create({ name: 'laptop' });
    assert.match(created.key, /^kiln_[0-9a-f]{64}$/);
    assert.equal(created.name, 'laptop');
    const listed = (await kiln.keys.list()).find((k) => k.id === created.id);
    assert.ok(listed, 'the new key is listed');
    assert.equal((listed as unknown as { key?: string }).key, undefined, 'without its secret');
    const withNewKey = new Kiln({ baseUrl: server.url, apiKey: created.key });
    await withNewKey.tasks.list({ limit: 1 });
    assert.deepEqual(await kiln.keys.revoke(created.id), { id: created.id, revoked: true });
    await assert.rejects(withNewKey.tasks.list({ limit: 1 }), (e: unknown) => e instanceof KilnError && e.status === 401);
    try {
      const users = await kiln.users.list();
      assert.ok(users.every((u) => typeof u.id === 'string' && typeof u.keyCount === 'number'));
    } catch (error) {
      assert.ok(error instanceof KilnError && error.status === 403, `users.list refused otherwise than with 403: ${error}`);
    }
  });

  it('throws KilnError with the code, status and message of each face', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(kiln.tasks.get(missing), (e: unknown) => {
      assert.ok(e instanceof KilnError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.status, 404);
      assert.match(e.message, /not found/i);
      assert.equal(e.requestId, undefined);
      return true;
    });
    const stranger = new Kiln({ baseUrl: server.url, apiKey: `kiln_${'0'.repeat(64)}` });
    await assert.rejects(stranger.tasks.list(), (e: unknown) => {
      assert.ok(e instanceof KilnError);
      assert.equal(e.code, 'INVALID_API_KEY');
      assert.equal(e.status, 401);
      assert.equal(e.isAuthError, true);
      return true;
    });
    await assert.rejects(kiln.gumloop.getAgent('nope'), (e: unknown) => e instanceof KilnError && e.code === 'gummie_not_found' && e.status === 404);
    await assert.rejects(kiln.syntropic.get('nope'), (e: unknown) => e instanceof KilnError && e.code === 'NOT_FOUND' && e.status === 404 && e.message.length > 0);
    await assert.rejects(kiln.tasks.stream(missing).next(), (e: unknown) => e instanceof KilnError && e.code === 'NOT_FOUND');
    const nowhere = new Kiln({ baseUrl: 'http://127.0.0.1:9', apiKey: server.key });
    await assert.rejects(nowhere.tasks.list(), (e: unknown) => e instanceof KilnError && e.code === 'CONNECTION_FAILED' && e.status === 0);
  });

  it('downloads a 100 MB file to disk with progress, the same bytes as uploaded', async () => {
    const { size, expected, zip } = big;
    const { id } = await kiln.tasks.create({ message: 'hello', files: [{ name: 'big.zip', data: zip }] });
    await kiln.tasks.wait(id);

    const target = path.join(tempDir(), 'nested', 'big.txt');
    let calls = 0;
    let last = { received: 0, total: undefined as number | undefined };
    const result = await downloadToFile(kiln, id, 'uploads/big.txt', target, {
      onProgress: (p) => {
        calls++;
        last = p;
      },
    });
    assert.equal(result.size, size);
    assert.equal(result.sha256, expected);
    assert.equal(fs.statSync(target).size, size);
    const { stdout } = await run('sha256sum', [target]);
    assert.equal(stdout.split(' ')[0], expected, 'the bytes on disk are the ones uploaded');
    assert.ok(calls > 1, 'progress reported along the way');
    assert.deepEqual(last, { received: size, total: size });
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ['big.txt'], 'no partial file left');
  });
});

describe('the SDK stream across a server crash', () => {
  it('reconnects by itself after kill -9 and restart, every event once, ids strictly increasing', async () => {
    let server = await startKiln();
    const port = new URL(server.url).port;
    const kiln = new Kiln({ baseUrl: server.url, apiKey: server.key });
    try {
      const { id } = await kiln.tasks.create({ message: 'think before the pause\nsleep 3000\nthink after the pause' });
      const reconnects: number[] = [];
      const iterator = kiln.tasks.stream(id, { onReconnect: ({ attempt }) => reconnects.push(attempt) });
      const received: TaskEvent[] = [];
      for (;;) {
        const { value } = await iterator.next();
        received.push(value!);
        if (value!.event === 'thought') break;
      }
      await server.kill();
      server = await server.restart({ args: ['--port', port] });
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) received.push(next.value);

      assert.ok(reconnects.length > 0, 'it reconnected');
      const ids = logged(received);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids strictly increase: ${ids.join(',')}`);
      const log = await collect(kiln.tasks.stream(id, { lastEventId: 0 }));
      assert.deepEqual(
        received.filter((e) => 'id' in e),
        log,
        'the events received are the task log, each once',
      );
      assert.equal(received.filter((e) => e.event === 'history_done').length, 1, 'history once');
      const last = received.at(-1)!;
      assert.equal(last.event, 'error');
      assert.equal(last.event === 'error' && last.data.code, 'INTERRUPTED');
    } finally {
      await server.stop();
    }
  });
});

describe('the SDK package', () => {
  it('keeps src/generated/openapi.ts what the generator makes of docs/openapi.json', async () => {
    const fresh = path.join(tempDir(), 'openapi.ts');
    await run(process.execPath, [path.join(ROOT, 'packages/sdk/scripts/generate.mjs'), fresh], { cwd: path.join(ROOT, 'packages/sdk') });
    const committed = fs.readFileSync(path.join(ROOT, 'packages/sdk/src/generated/openapi.ts'), 'utf8');
    assert.ok(
      fs.readFileSync(fresh, 'utf8') === committed,
      'packages/sdk/src/generated/openapi.ts is out of date: run `npm run generate -w @kiln/sdk` and commit it',
    );
  });

  it('imports nothing of Node in its core, so it runs in browsers', () => {
    const dist = path.join(ROOT, 'packages/sdk/dist');
    const core = fs.readdirSync(dist).filter((f) => f.endsWith('.js'));
    assert.ok(core.length > 5);
    for (const file of core) {
      const text = fs.readFileSync(path.join(dist, file), 'utf8');
      assert.doesNotMatch(text, /from ['"](node:|fs|path|stream|crypto)/, `${file} imports a Node module`);
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      assert.doesNotMatch(code, /\b(process|Buffer|require)\b\./, `${file} uses a Node global`);
    }
  });
});

