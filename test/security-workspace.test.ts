import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBlobStore } from '../src/adapters/fs/local-blob-store.js';
import { openSqlStorage } from '../src/adapters/sql/sql-storage.js';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.js';
import { restoreWorkspace } from '../src/core/artifacts/artifact-recorder.js';
import { Workspaces } from '../src/core/workspace/workspaces.js';
import { Api, form } from './helpers/api.js';
import { startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';
import { buildZip } from './helpers/zip.js';

/**
 * Links a command plants in its workspace, which the server (root here) must never follow, and
 * the workspace size limit, which no path around it may pass. Every `attempt()` is one attack.
 */
let attempts = 0;
function attempt(): void {
  attempts++;
}
process.on('exit', () => {
  process.stdout.write(`# workspace security suite: ${attempts} attacks attempted, all refused\n`);
});

const MB = 1024 * 1024;

describe('workspace security: links a command leaves are never followed', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  /** A host folder a link points to; it must stay as the test made it. */
  let host: string;

  async function results(message: string): Promise<{ id: string; out: { status: string; output: string }[] }> {
    const id = await api.createTask({ message });
    const out = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    return { id, out };
  }

  function syntropic(method: string, url: string, body?: unknown | FormData): Promise<Response> {
    const json = body !== undefined && !(body instanceof FormData);
    return fetch(`${kiln.url}/syntropic${url}`, {
      method,
      headers: { 'x-api-key': kiln.key, ...(json ? { 'content-type': 'application/json' } : {}) },
      ...(body === undefined ? {} : { body: json ? JSON.stringify(body) : (body as FormData) }),
    });
  }

  function upload(content: string, name = 'f.md'): FormData {
    const data = new FormData();
    data.append('file', new Blob([content]), name);
    return data;
  }

  before(async () => {
    kiln = await startKiln({ env: { KILN_COMMAND_TIMEOUT_MS: '30000' } });
    api = Api.of(kiln);
    assert.match(kiln.logs(), /commands run in a bubblewrap sandbox/, 'the sandbox is active in this suite');
  });
  after(() => kiln.stop());

  function freshHost(): string {
    host = tempDir('kiln-host-');
    fs.writeFileSync(path.join(host, 'secret.txt'), 'host secret\n');
    return host;
  }

  it('refuses a Syntropic artifact written into a task whose artifacts folder is a link', async () => {
    freshHost();
    const { id } = await results(`$ ln -s ${host} artifacts`);
    attempt();
    const response = await syntropic('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'text', title: 'pwned', content: 'written by the server', session_id: id });
    assert.equal(response.status, 409);
    assert.match(JSON.stringify(await response.json()), /symbolic link is in the way at \\"artifacts\\"/);
    assert.deepEqual(fs.readdirSync(host), ['secret.txt'], 'nothing was written in the host folder');
  });

  it('refuses a Syntropic upload to a task file that is now a dangling link', async () => {
    freshHost();
    // The command plants the link and stays running, so the file is still a recorded artifact.
    const id = await api.createTask({ message: `write downloads/r.md\nv1\nEOF\n$ rm downloads/r.md && ln -s ${host}/created.sh downloads/r.md && sleep 4` });
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'tool_call' && e.data.toolName === 'run_command');
    const link = path.join(kiln.dataDir, 'workspaces', id, 'downloads', 'r.md');
    while (!fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) await new Promise((resolve) => setImmediate(resolve));
    const file = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files[0];
    attempt();
    const response = await syntropic('POST', `/artifacts/${file.artifactId}/upload`, upload('#!/bin/sh\necho owned\n', 'r.md'));
    await stream.readAll();
    assert.equal(response.status, 409);
    assert.match(await response.text(), /symbolic link is in the way at \\"downloads\/r.md\\"/);
    assert.equal(fs.existsSync(path.join(host, 'created.sh')), false, 'the link target was not created');
  });

  it('never writes through a link that flips in and out while uploads arrive', async () => {
    freshHost();
    const target = path.join(host, 'secret.txt');
    const id = await api.createTask({
      message: `write downloads/f.md\noriginal\nEOF\n$ (while true; do ln -sf ${target} downloads/f.md; rm -f downloads/f.md; done) >/dev/null 2>&1 & sleep 6; echo stopped`,
    });
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'tool_call' && e.data.toolName === 'run_command');
    const artifactId = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files[0].artifactId;
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) {
      attempt();
      const response = await syntropic('POST', `/artifacts/${artifactId}/upload`, upload(`overwritten ${i}\n`));
      statuses.add(response.status);
      await response.arrayBuffer();
    }
    await stream.readAll();
    assert.equal(fs.readFileSync(target, 'utf8'), 'host secret\n', 'the host file is unchanged');
    assert.deepEqual([...statuses].filter((s) => s !== 200 && s !== 409), [], 'every upload was stored or refused as a conflict');
  });

  it('reads nothing through a linked folder: file tool, download and archive', async () => {
    freshHost();
    const { id, out } = await results(`$ ln -s ${host} hostlink && mkdir -p downloads && ln -s ${host} downloads/linked && echo inside > downloads/own.txt\ncat hostlink/secret.txt\nls hostlink\nwrite hostlink/new.txt\nx\nEOF`);
    for (const r of out.slice(1)) {
      attempt();
      assert.equal(r.status, 'error');
      assert.match(r.output, /symbolic link is in the way at "hostlink"/);
    }
    assert.deepEqual(fs.readdirSync(host), ['secret.txt']);
    attempt();
    assert.equal((await api.get(`/api/v1/tasks/${id}/artifacts/download?path=hostlink/secret.txt`)).status, 404);
    attempt();
    assert.equal((await api.get(`/api/v1/tasks/${id}/artifacts/archive?path=downloads/linked`)).status, 404);
    attempt();
    const zip = await fetch(`${kiln.url}/api/v1/tasks/${id}/artifacts/archive?path=downloads`, { headers: api.headers() });
    assert.equal(zip.status, 200);
    const bytes = Buffer.from(await zip.arrayBuffer());
    assert.ok(bytes.includes('own.txt'));
    assert.ok(!bytes.includes('secret.txt'), 'the archive holds nothing of the linked host folder');
  });

  it('refuses an upload into a folder of uploads/ that is a link', async () => {
    freshHost();
    const { id } = await results(`$ ln -s ${host} uploads/sub`);
    attempt();
    const zip = buildZip([{ name: 'sub/evil.txt', content: 'through the link' }]);
    const response = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'hi' }, [{ name: 'a.zip', content: zip }]) });
    assert.equal(response.status, 409);
    assert.match(response.body.error.message, /symbolic link is in the way at "uploads\/sub"/);
    assert.deepEqual(fs.readdirSync(host), ['secret.txt']);
  });

  it('restores a workspace without writing through a folder that became a link', async () => {
    freshHost();
    const { id } = await results('write out/x.txt\nrecorded\nEOF');
    await kiln.stop();
    try {
      // The workspace on another worker, where a command turned out/ into a link.
      const workspace = path.join(kiln.dataDir, 'workspaces', id);
      fs.rmSync(path.join(workspace, 'out'), { recursive: true });
      fs.symlinkSync(host, path.join(workspace, 'out'));
      const db = new SqliteDatabase(path.join(kiln.dataDir, 'kiln.db'));
      try {
        const storage = await openSqlStorage(db);
        attempt();
        await restoreWorkspace({ artifacts: storage.artifacts, blobs: new LocalBlobStore(kiln.dataDir), workspaces: new Workspaces(kiln.dataDir, 64 * MB) }, id);
      } finally {
        await db.close();
      }
      assert.deepEqual(fs.readdirSync(host), ['secret.txt'], 'nothing was restored into the host folder');
    } finally {
      kiln = await kiln.restart();
      api = Api.of(kiln);
    }
  });
});

describe('workspace security: edit_file and search_files never follow a link', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  let host: string;

  before(async () => {
    kiln = await startKiln({ env: { KILN_COMMAND_TIMEOUT_MS: '30000' } });
    api = Api.of(kiln);
    host = tempDir('kiln-host-');
    fs.writeFileSync(path.join(host, 'secret.txt'), 'host secret\n');
  });
  after(() => kiln.stop());

  async function results(message: string): Promise<{ status: string; output: string }[]> {
    const id = await api.createTask({ message });
    return (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
  }

  it('edit_file refuses a linked folder or file on the way, and the host file stays as it was', async () => {
    // One edit would change the host file; the other probes it (an answer of "not found" would tell).
    const edits = (file: string) => [
      `call edit_file {"path": "${file}", "old_text": "host secret", "new_text": "owned"}`,
      `call edit_file {"path": "${file}", "old_text": "absent", "new_text": "owned"}`,
    ];
    const where = ['hostlink', 'direct.txt', 'sub/deeper'];
    const out = await results(
      [`$ ln -s ${host} hostlink && ln -s ${host}/secret.txt direct.txt && mkdir -p sub && ln -s ../hostlink sub/deeper`, ...edits('hostlink/secret.txt'), ...edits('direct.txt'), ...edits('sub/deeper/secret.txt')].join('\n'),
    );
    assert.equal(out.length, 7);
    for (const [i, r] of out.slice(1).entries()) {
      attempt();
      assert.equal(r.status, 'error');
      assert.match(r.output, new RegExp(`symbolic link is in the way at "${where[Math.floor(i / 2)]}"`));
    }
    assert.equal(fs.readFileSync(path.join(host, 'secret.txt'), 'utf8'), 'host secret\n');
    assert.deepEqual(fs.readdirSync(host), ['secret.txt']);
  });

  it('search_files skips links while walking and refuses a linked start, so nothing of the host is read', async () => {
    const search = (extra: string) => `call search_files {"pattern": "host secret"${extra}}`;
    const out = await results(
      [
        `$ ln -s ${host} hostlink && ln -s ${host}/secret.txt direct.txt && mkdir -p sub && ln -s ${host}/secret.txt sub/leaf.txt && echo "own host secret" > sub/own.txt`,
        search(''),
        search(', "path": "hostlink"'),
        search(', "path": "hostlink/secret.txt"'),
        search(', "path": "direct.txt"'),
        search(', "path": "sub", "glob": "*.txt"'),
      ].join('\n'),
    );
    attempt();
    assert.deepEqual([out[1]!.status, out[1]!.output], ['success', 'sub/own.txt:1: own host secret'], 'the links met in the walk are skipped');
    for (const [i, r] of out.slice(2, 5).entries()) {
      attempt();
      assert.equal(r.status, 'error');
      assert.match(r.output, new RegExp(`symbolic link is in the way at "${['hostlink', 'hostlink', 'direct.txt'][i]}"`));
    }
    attempt();
    assert.equal(out[5]!.output, 'sub/own.txt:1: own host secret');
  });
});

describe('workspace security: the workspace size limit holds', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;

  before(async () => {
    kiln = await startKiln({ env: { KILN_WORKSPACE_MB: '16', KILN_COMMAND_FILE_MB: '64', KILN_COMMAND_TIMEOUT_MS: '20000' } });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  function blobBytes(): number {
    let total = 0;
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else total += fs.statSync(full).size;
      }
    };
    walk(path.join(kiln.dataDir, 'blobs'));
    return total;
  }

  it('does not store sparse files past the limit: sizes count in full', async () => {
    const before = blobBytes();
    attempt();
    const id = await api.createTask({ message: '$ for i in 1 2 3 4 5 6; do truncate -s 7M sparse$i && printf $i >> sparse$i; done; du -sh .' });
    const [result] = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    assert.match(result.output, /workspace size limit of 16 MB reached/);
    const files = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files as { size: number }[];
    assert.ok(files.reduce((sum, f) => sum + f.size, 0) <= 16 * MB, 'what is recorded fits the limit');
    assert.ok(blobBytes() - before <= 16 * MB, `stored ${blobBytes() - before} bytes`);
  });

  it('stops a command writing past the limit at the limit', async () => {
    attempt();
    const id = await api.createTask({ message: '$ dd if=/dev/zero of=big bs=1M count=40' });
    const [result] = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    assert.equal(result.status, 'error');
    assert.match(result.output, /workspace size limit of 16 MB/);
    assert.ok(fs.statSync(path.join(kiln.dataDir, 'workspaces', id, 'big')).size <= 16 * MB);
  });

  it('refuses an edit_file that would take the workspace past the limit', async () => {
    attempt();
    const longer = 'y'.repeat(4000);
    const id = await api.createTask({ message: `$ head -c ${16 * MB - 2000} /dev/zero > filler\nwrite small.txt\nabc\nEOF\ncall edit_file {"path": "small.txt", "old_text": "abc", "new_text": "${longer}"}` });
    const out = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    assert.equal(out[1].status, 'success');
    assert.equal(out[2].status, 'error');
    assert.match(out[2].output, /would take the workspace past its size limit of 16 MB/);
    assert.equal(fs.readFileSync(path.join(kiln.dataDir, 'workspaces', id, 'small.txt'), 'utf8'), 'abc\n');
  });

  it('counts unpacked archives and uploads against the workspace, and stores nothing when over', async () => {
    const bomb = buildZip([{ name: 'zeros.bin', content: Buffer.alloc(20 * MB) }], true);
    assert.ok(bomb.length < 100_000);
    attempt();
    const one = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, [{ name: 'bomb.zip', content: bomb }]) });
    assert.equal(one.status, 413);
    assert.equal(one.body.error.code, 'PAYLOAD_TOO_LARGE');
    const half = buildZip([{ name: 'half.bin', content: Buffer.alloc(9 * MB) }], true);
    attempt();
    const two = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, [{ name: 'a.zip', content: half }, { name: 'b.zip', content: half }]) });
    assert.equal(two.status, 413, 'the archives of one request share one budget');
    const id = await api.createTask({ message: '$ head -c 10000000 /dev/zero > filler' });
    await api.waitForEnd(id);
    attempt();
    const more = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'x' }, [{ name: 'plain.bin', content: Buffer.alloc(8 * MB) }]) });
    assert.equal(more.status, 413, 'an upload counts against what the workspace already holds');
    assert.deepEqual(fs.readdirSync(path.join(kiln.dataDir, 'workspaces', id, 'uploads')), []);
  });
});

describe('archives and file names: clear answers, never a 500', () => {
  let kiln: KilnServer;
  let api: Api;

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('normalises the folder of an archive download and keeps file names whole', async () => {
    const id = await api.createTask({ message: 'write downloads/report.md\nR\nEOF\nwrite downloads/a.md\nA\nEOF' });
    await api.waitForEnd(id);
    for (const folder of ['./downloads', 'x/../downloads', 'downloads/./', 'downloads//']) {
      const response = await fetch(`${kiln.url}/api/v1/tasks/${id}/artifacts/archive?path=${encodeURIComponent(folder)}`, { headers: api.headers() });
      assert.equal(response.status, 200, folder);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.ok(bytes.includes('report.md') && bytes.includes('a.md'), `${folder}: names are whole`);
      assert.ok(!bytes.includes('eport.md\x00') && !bytes.includes('downloads/'), folder);
    }
    assert.equal((await api.get(`/api/v1/tasks/${id}/artifacts/archive?path=../x`)).status, 400);
  });

  it('refuses an archive with a file and a folder of the same name, leaving uploads/ empty', async () => {
    const id = await api.createTask({ message: 'write a.txt\nx\nEOF' });
    await api.waitForEnd(id);
    for (const entries of [
      [{ name: 'dup', content: 'file' }, { name: 'dup/inner.txt', content: 'in folder' }],
      [{ name: 'dup/inner.txt', content: 'in folder' }, { name: 'dup', content: 'file' }],
    ]) {
      const response = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'x' }, [{ name: 'clash.zip', content: buildZip(entries) }]) });
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, 'VALIDATION_ERROR');
      assert.match(response.body.error.message, /both a file and a folder named "dup"/);
    }
    const mixed = await api.request('POST', `/api/v1/tasks/${id}/messages`, {
      body: form({ message: 'x' }, [{ name: 'dup', content: 'plain file' }, { name: 'b.zip', content: buildZip([{ name: 'dup/x.txt', content: 'x' }]) }]),
    });
    assert.equal(mixed.status, 400);
    assert.deepEqual(fs.readdirSync(path.join(kiln.dataDir, 'workspaces', id, 'uploads')), []);
  });

  it('refuses a damaged archive (CRC-32) without naming host paths', async () => {
    const zip = buildZip([{ name: 'data.txt', content: 'the original content' }]);
    const at = zip.indexOf('the original content');
    zip[at] = 'T'.charCodeAt(0);
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, [{ name: 'broken.zip', content: zip }]) });
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /"broken.zip" is damaged: the checksum of "data.txt" does not match/);
    const garbage = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(100)]);
    const bad = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, [{ name: 'garbage.zip', content: garbage }]) });
    assert.equal(bad.status, 400);
    assert.doesNotMatch(JSON.stringify(bad.body), new RegExp(`${kiln.dataDir}|/tmp/|/work/`));
  });

  it('serves a file whose name has a backslash, and reports a name that is not UTF-8', async () => {
    const id = await api.createTask({ message: "$ printf 'back' > 'downloads/a\\b.txt'; printf 'bad' > \"downloads/$(printf 'x\\377y')\"" });
    const [result] = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    assert.match(result.output, /downloads\/x\\xffy not recorded: a file name must be valid UTF-8/);
    const files = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files as { path: string }[];
    assert.deepEqual(files.map((f) => f.path), ['downloads/a\\b.txt']);
    const download = await api.get(`/api/v1/tasks/${id}/artifacts/download?path=${encodeURIComponent('downloads/a\\b.txt')}`);
    assert.equal(download.status, 200);
    assert.equal(download.body, 'back');
  });
});

describe('the sandbox as the task sees it', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('has a readable /etc: whoami and passwd work', async () => {
    const id = await api.createTask({ message: '$ whoami\n$ grep -c kiln /etc/passwd\n$ ls /etc/ssl/certs | head -1 | wc -l' });
    const out = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
    assert.deepEqual(out.map((r) => r.output), ['kiln\n[exit code 0]', '1\n[exit code 0]', '1\n[exit code 0]']);
  });
});
