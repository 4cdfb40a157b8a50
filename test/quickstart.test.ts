import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Api, form } from './helpers/api.js';
import { ROOT, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';

const run = promisify(execFile);

/** The documented Quickstart page, when the checkout sits next to the reference material. */
const QUICKSTART_PAGE = path.resolve(ROOT, '../shared/seeds/002_f087ad4d8d537882.txt');

describe('the Quickstart, against Kiln', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('creates a task from a form, streams its answer, takes a follow-up and streams again', async () => {
    const created = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'What is 2+2?' }) });
    assert.equal(created.status, 200);
    assert.equal(created.body.success, true);
    assert.equal(created.body.data.status, 'pending');
    assert.match(created.body.data.id, /^[0-9a-f-]{36}$/);
    const id = created.body.data.id;

    const first = await api.streamAll(id);
    assert.deepEqual(first[0]!.data.role, 'user');
    assert.equal(first[0]!.event, 'history_message');
    assert.equal(first[0]!.data.content, 'What is 2+2?');
    const done = first[first.length - 1]!;
    assert.equal(done.event, 'done');
    assert.equal(done.data.finalResponse, 'Echo: What is 2+2?');

    const followUp = await api.post(`/api/v1/tasks/${id}/messages`, { message: 'Now multiply that by 10' });
    assert.deepEqual(followUp.body, { success: true, data: { status: 'running' } });

    const second = await api.streamAll(id);
    const history = second.filter((e) => e.event === 'history_message').map((e) => [e.data.role, e.data.content]);
    assert.deepEqual(history.slice(0, 3), [
      ['user', 'What is 2+2?'],
      ['assistant', 'Echo: What is 2+2?'],
      ['user', 'Now multiply that by 10'],
    ]);
    assert.equal(second[second.length - 1]!.data.finalResponse, 'Echo: Now multiply that by 10');
  });

  it('works with a client that parses the stream the way the documented examples do', async () => {
    // The documented parsers split on blank lines, read the event from the first line and the
    // JSON from the second, and skip blocks that start with ":".
    const client = `
      const res = await fetch(process.env.BASE + '/api/v1/tasks', { method: 'POST', headers: { Authorization: 'Bearer ' + process.env.KEY }, body: (() => { const f = new FormData(); f.append('message', 'Explain what an API is in one sentence'); return f; })() });
      const { data: { id } } = await res.json();
      const stream = await fetch(process.env.BASE + '/api/v1/tasks/' + id + '/stream', { headers: { Authorization: 'Bearer ' + process.env.KEY } });
      const reader = stream.body.getReader(); const decoder = new TextDecoder(); let buffer = ''; let text = ''; let final = ''; let history = 0;
      while (true) { const { done, value } = await reader.read(); if (done) break; buffer += decoder.decode(value, { stream: true });
        const events = buffer.split('\\n\\n'); buffer = events.pop() || '';
        for (const block of events) { if (!block.trim() || block.startsWith(':')) continue; const lines = block.split('\\n');
          const type = lines[0]?.replace('event: ', ''); const dataLine = lines[1]?.replace('data: ', ''); if (!dataLine) continue; const data = JSON.parse(dataLine);
          if (type === 'history_done') history = data.messageCount; if (type === 'content') text += data.text; if (type === 'done') final = data.finalResponse; } }
      console.log(JSON.stringify({ history, text, final }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', client], { env: { ...process.env, BASE: kiln.url, KEY: kiln.key } });
    const result = JSON.parse(stdout);
    assert.equal(result.history >= 1, true);
    assert.equal(result.final, 'Echo: Explain what an API is in one sentence');
  });

  it('runs the Quickstart page\'s complete Node.js example unchanged but for its key and base URL', { skip: !fs.existsSync(QUICKSTART_PAGE) && 'the Quickstart page is not next to this checkout' }, async () => {
    const page = fs.readFileSync(QUICKSTART_PAGE, 'utf8');
    const start = page.indexOf("const API_KEY = '");
    const endMarker = "console.log('Final response:', finalResponse);";
    const end = page.indexOf(endMarker);
    assert.ok(start >= 0 && end > start, 'the example was found on the page');
    const example = page
      .slice(start, end + endMarker.length)
      .replace(/const API_KEY = '[^']*';/, `const API_KEY = '${kiln.key}';`)
      .replace(/const BASE_URL = '[^']*';/, `const BASE_URL = '${kiln.url}';`);
    const file = path.join(tempDir(), 'quickstart.mjs');
    fs.writeFileSync(file, example);
    const { stdout } = await run(process.execPath, [file]);
    assert.match(stdout, /Task ID: [0-9a-f-]{36}/);
    assert.match(stdout, /Loaded [12] history messages/);
    assert.match(stdout, /Final response: Echo: Explain what an API is in one sentence/);
  });
});
