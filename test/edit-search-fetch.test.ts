import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api, type SseEvent } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

function results(events: SseEvent[]) {
  return events.filter((e) => e.event === 'tool_result').map((e) => e.data);
}

function offeredNames(events: SseEvent[]): string[] {
  const thought = events.find((e) => e.event === 'thought' && e.data.description.startsWith('['));
  assert.ok(thought, 'the model listed its tools');
  return JSON.parse(thought.data.description).map((t: { name: string }) => t.name);
}

describe('edit_file and search_files', () => {
  let kiln: KilnServer;
  let api: Api;
  const workspace = (id: string) => path.join(kiln.dataDir, 'workspaces', id);
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('edit_file replaces exactly one occurrence, and says how many there are otherwise', async () => {
    const id = await api.createTask({
      message: [
        'write src/app.py',
        'def greet():',
        '    return "hello"',
        '',
        'def shout():',
        '    return "hello".upper()',
        'EOF',
        'call edit_file {"path": "src/app.py", "old_text": "hello", "new_text": "bye"}',
        'call edit_file {"path": "src/app.py", "old_text": "goodbye", "new_text": "x"}',
        'call edit_file {"path": "src/app.py", "old_text": "    return \\"hello\\"\\n", "new_text": "    return \\"hi\\"\\n"}',
        'call edit_file {"path": "../outside.py", "old_text": "a", "new_text": "b"}',
        'call edit_file {"path": "src/app.py", "old_text": "", "new_text": "b"}',
      ].join('\n'),
    });
    const out = results(await api.events(id));
    assert.equal(out[1].status, 'error');
    assert.match(out[1].output, /old_text occurs 2 times in src\/app\.py; nothing was changed/);
    assert.equal(out[2].status, 'error');
    assert.match(out[2].output, /old_text was not found in src\/app\.py/);
    assert.deepEqual([out[3].status, out[3].output], ['success', 'Edited src/app.py at line 2 (19 characters replaced by 16).']);
    assert.equal(out[4].status, 'error');
    assert.match(out[4].output, /outside the workspace/);
    assert.match(out[5].output, /old_text must not be empty/);
    assert.equal(fs.readFileSync(path.join(workspace(id), 'src', 'app.py'), 'utf8'), 'def greet():\n    return "hi"\n\ndef shout():\n    return "hello".upper()\n');
    const versions = (await api.get(`/api/v1/tasks/${id}/artifacts/versions?path=src/app.py`)).body.data.versions;
    assert.equal(versions.length, 2, 'the edit is a new version of the artifact');
  });

  it('search_files finds lines by regular expression with paths and line numbers, filtered by glob, without following links', needs(sandbox), async () => {
    const id = await api.createTask({
      message: [
        'write notes/a.md',
        'alpha',
        'TODO: first',
        'EOF',
        'write notes/deep/b.txt',
        'todo later',
        'nothing',
        'TODO: second',
        'EOF',
        'write code/main.py',
        '# TODO: third',
        'EOF',
        '$ ln -s /etc linked-etc && ln -s notes linked-notes',
        'call search_files {"pattern": "TODO"}',
        'call search_files {"pattern": "(?i)todo", "path": "notes"}',
        'call search_files {"pattern": "todo", "path": "notes", "glob": "*.txt"}',
        'call search_files {"pattern": "TODO", "glob": "code/**/*.py"}',
        'call search_files {"pattern": "root:"}',
        'call search_files {"pattern": "(unclosed"}',
        'call search_files {"pattern": "x", "path": "/etc"}',
      ].join('\n'),
    });
    const out = results(await api.events(id)).slice(4);
    assert.deepEqual(out[0], { ...out[0], status: 'success', output: 'code/main.py:1: # TODO: third\nnotes/a.md:2: TODO: first\nnotes/deep/b.txt:3: TODO: second' });
    assert.equal(out[1].status, 'error', 'JavaScript regular expressions have no inline flags');
    assert.equal(out[2].output, 'notes/deep/b.txt:1: todo later');
    assert.equal(out[3].output, 'code/main.py:1: # TODO: third');
    assert.match(out[4].output, /^No matches in the workspace/, 'the link to /etc is not followed');
    assert.match(out[5].output, /not a valid regular expression/);
    assert.match(out[6].output, /is absolute/);
  });

  it('search_files bounds its output', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => `match ${i}`).join('\n');
    const id = await api.createTask({ message: `write many.txt\n${lines}\nEOF\ncall search_files {"pattern": "match"}` });
    const [, result] = results(await api.events(id));
    assert.equal(result.output.split('\n').filter((l: string) => l.startsWith('many.txt:')).length, 200);
    assert.match(result.output, /stopped at 200 matches/);
  });
});

describe('fetch_url', () => {
  let page: http.Server;
  let base: string;
  before(async () => {
    page = http.createServer((req, res) => {
      if (req.url === '/article') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html><head><title>T</title><style>p{}</style><script>var hidden = 1</script></head><body><h1>Kiln news</h1><p>Readable <b>text</b>.</p></body></html>');
      } else if (req.url === '/hop') {
        res.writeHead(302, { location: '/article' }).end();
      } else if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('z'.repeat(6 * 1024 * 1024));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page');
      }
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => page.close(() => resolve())));

  it('reads pages as text with the host network, follows redirects through the same address rules, and bounds the size', async () => {
    const kiln = await startKiln({ env: { KILN_SANDBOX_NETWORK: 'host', KILN_MCP_ALLOW_PRIVATE: 'true' } });
    try {
      const api = Api.of(kiln);
      const id = await api.createTask({
        message: [
          'tools',
          `call fetch_url {"url": "${base}/article"}`,
          `call fetch_url {"url": "${base}/hop"}`,
          `call fetch_url {"url": "${base}/missing"}`,
          `call fetch_url {"url": "${base}/huge"}`,
          'call fetch_url {"url": "file:///etc/passwd"}',
        ].join('\n'),
      });
      const events = await api.events(id);
      assert.ok(offeredNames(events).includes('fetch_url'));
      const out = results(events);
      assert.equal(out[0].status, 'success');
      assert.match(out[0].output, /^HTTP 200 OK from http:\/\/127\.0\.0\.1:\d+\/article \(text\/html\)\n\nKILN NEWS\n\nReadable text\.$/);
      assert.doesNotMatch(out[0].output, /hidden/);
      assert.match(out[1].output, /^HTTP 200 OK from .*\/article/, 'the redirect was followed');
      assert.equal(out[2].status, 'error');
      assert.match(out[2].output, /HTTP 404 Not Found[\s\S]*no such page/);
      assert.ok(out[3].output.length < 110_000);
      assert.match(out[3].output, /more bytes of text not shown[\s\S]*longer than 5242880 bytes/);
      assert.match(out[4].output, /Only http:\/\/ and https:\/\/ URLs/);
    } finally {
      await kiln.stop();
    }
  });

  it('refuses loopback and private addresses (literal or by name) unless KILN_MCP_ALLOW_PRIVATE is true', async () => {
    const kiln = await startKiln({ env: { KILN_SANDBOX_NETWORK: 'host' } });
    try {
      const api = Api.of(kiln);
      const id = await api.createTask({
        message: [`call fetch_url {"url": "${base}/article"}`, `call fetch_url {"url": "http://localhost:${new URL(base).port}/article"}`, 'call fetch_url {"url": "http://[::1]/"}'].join('\n'),
      });
      const out = results(await api.events(id));
      assert.deepEqual(out.map((r) => r.status), ['error', 'error', 'error']);
      assert.match(out[0].output, /127\.0\.0\.1 is a loopback address/);
      assert.match(out[1].output, /localhost resolves to .* a loopback address/);
      assert.match(out[2].output, /::1 is a loopback address/);
    } finally {
      await kiln.stop();
    }
  });

  it('is not offered without the host network', async () => {
    const kiln = await startKiln();
    try {
      const api = Api.of(kiln);
      const id = await api.createTask({ message: `tools\ncall fetch_url {"url": "${base}/article"}` });
      const events = await api.events(id);
      assert.ok(!offeredNames(events).includes('fetch_url'));
      const [result] = results(events);
      assert.equal(result.status, 'error');
      assert.match(result.output, /unavailable tool 'fetch_url'/);
    } finally {
      await kiln.stop();
    }
  });
});
