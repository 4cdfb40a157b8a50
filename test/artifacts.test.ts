import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import yauzl from 'yauzl';
import { Api, form } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function download(api: Api, taskId: string, query: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.baseUrl}/api/v1/tasks/${taskId}/artifacts/download?${query}`, { headers: api.headers(headers) });
  return { response, body: Buffer.from(await response.arrayBuffer()) };
}

async function zipEntries(data: Buffer): Promise<Map<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(data, { lazyEntries: true });
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStreamPromise(entry).then(async (stream) => {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        entries.set(entry.fileName, Buffer.concat(chunks));
        zip.readEntry();
      }, reject);
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return entries;
}

function blobFiles(dataDir: string): string[] {
  const root = path.join(dataDir, 'blobs');
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name))
    .map((e) => e.name);
}

describe('artifacts', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  let task: string;
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
    const created = await api.request('POST', '/api/v1/tasks', {
      body: form({ message: 'cat uploads/data.csv\nwrite downloads/report.md\n# Report v1\nEOF\n$ echo "# Report v2" > downloads/report.md && mkdir -p downloads/charts && printf png > downloads/charts/a.png && printf same > x1.txt && printf same > x2.txt' }, [
        { name: 'data.csv', content: 'a,b\n1,2\n' },
      ]),
    });
    task = created.body.data.id;
    await api.waitForEnd(task);
  });
  after(() => kiln.stop());

  it('lists every workspace file with the documented fields, plus its version and hash', async () => {
    const { status, body } = await api.get(`/api/v1/tasks/${task}/artifacts`);
    assert.equal(status, 200);
    const byPath = new Map(body.data.files.map((f: any) => [f.path, f]));
    assert.deepEqual([...byPath.keys()].sort(), ['downloads/charts/a.png', 'downloads/report.md', 'uploads/data.csv', 'x1.txt', 'x2.txt']);
    const csv: any = byPath.get('uploads/data.csv');
    assert.deepEqual(
      { name: csv.name, size: csv.size, mimeType: csv.mimeType, category: csv.category, version: csv.version, sha256: csv.sha256 },
      { name: 'data.csv', size: 8, mimeType: 'text/csv', category: 'csv', version: 1, sha256: sha256('a,b\n1,2\n') },
    );
    assert.match(csv.modifiedAt, /Z$/);
    const png: any = byPath.get('downloads/charts/a.png');
    assert.deepEqual([png.mimeType, png.category], ['image/png', 'image']);
  });

  it('records a version for each change, with who made it and what it was made from', async () => {
    const { body } = await api.get(`/api/v1/tasks/${task}/artifacts/versions?path=downloads/report.md`);
    const [v2, v1] = body.data.versions;
    assert.equal(v2.version, 2);
    assert.equal(v2.source, 'command');
    assert.equal(v1.version, 1);
    assert.equal(v1.source, 'tool');
    assert.equal(v1.taskId, task);
    assert.ok(v1.agentId, 'the agent is named');
    assert.ok(v1.userId);
    const csv = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files.find((f: any) => f.path === 'uploads/data.csv');
    assert.deepEqual(v1.derivedFrom, [csv.artifactId], 'the report was written after reading the upload');
    const upload = (await api.get(`/api/v1/tasks/${task}/artifacts/versions?path=uploads/data.csv`)).body.data.versions[0];
    assert.equal(upload.source, 'upload');
    assert.equal(upload.agentId, null);
  });

  it('stores the same bytes once', async () => {
    const files = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files;
    const x1 = files.find((f: any) => f.path === 'x1.txt');
    const x2 = files.find((f: any) => f.path === 'x2.txt');
    assert.equal(x1.sha256, x2.sha256);
    assert.equal(blobFiles(kiln.dataDir).filter((name) => name === x1.sha256).length, 1);
  });

  it('adds no version when a file is rewritten with the same content, and drops deleted files from the listing', async () => {
    await api.post(`/api/v1/tasks/${task}/messages`, { message: '$ printf same > x1.txt && rm x2.txt' });
    await api.waitForEnd(task);
    const files = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files;
    assert.equal(files.find((f: any) => f.path === 'x1.txt').version, 1);
    assert.equal(files.some((f: any) => f.path === 'x2.txt'), false);
    assert.equal((await download(api, task, 'path=x2.txt')).response.status, 404);
  });

  it('downloads bytes with type, disposition, length and ETag; any version; conditional and ranged', async () => {
    const latest = await download(api, task, 'path=downloads/report.md');
    assert.equal(latest.response.status, 200);
    assert.equal(latest.body.toString(), '# Report v2\n');
    assert.equal(latest.response.headers.get('content-type'), 'text/markdown');
    assert.equal(latest.response.headers.get('content-disposition'), 'attachment; filename="report.md"; filename*=UTF-8\'\'report.md');
    assert.equal(latest.response.headers.get('content-length'), '12');
    const etag = latest.response.headers.get('etag')!;
    assert.equal(etag, `"${sha256('# Report v2\n')}"`);

    const old = await download(api, task, 'path=downloads/report.md&version=1');
    assert.equal(old.body.toString(), '# Report v1\n');
    assert.equal((await download(api, task, 'path=downloads/report.md&version=9')).response.status, 404);

    assert.equal((await download(api, task, 'path=downloads/report.md', { 'if-none-match': etag })).response.status, 304);
    const part = await download(api, task, 'path=downloads/report.md', { range: 'bytes=2-7' });
    assert.equal(part.response.status, 206);
    assert.equal(part.body.toString(), 'Report');
    assert.equal(part.response.headers.get('content-range'), 'bytes 2-7/12');
    const tail = await download(api, task, 'path=downloads/report.md', { range: 'bytes=-3' });
    assert.equal(tail.body.toString(), 'v2\n');
    const outside = await download(api, task, 'path=downloads/report.md', { range: 'bytes=50-60' });
    assert.equal(outside.response.status, 416);
    assert.equal(outside.response.headers.get('content-range'), 'bytes */12');

    const head = await fetch(`${api.baseUrl}/api/v1/tasks/${task}/artifacts/download?path=downloads/report.md`, { method: 'HEAD', headers: api.headers() });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '12');
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('refuses bad paths with VALIDATION_ERROR or NOT_FOUND, never serving them', async () => {
    await api.post(`/api/v1/tasks/${task}/messages`, { message: '$ ln -s /etc/passwd downloads/passwd && ln -s ../../.. downloads/up' });
    await api.waitForEnd(task);
    const cases: [string, number, string][] = [
      ['', 400, 'VALIDATION_ERROR'],
      ['path=', 400, 'VALIDATION_ERROR'],
      ['path=/etc/passwd', 400, 'VALIDATION_ERROR'],
      ['path=../../kiln.db', 400, 'VALIDATION_ERROR'],
      ['path=downloads/%00x', 400, 'VALIDATION_ERROR'],
      ['path=downloads/passwd', 404, 'NOT_FOUND'],
      ['path=downloads/up/kiln.db', 404, 'NOT_FOUND'],
      ['path=nothing-here.txt', 404, 'NOT_FOUND'],
    ];
    for (const [query, status, code] of cases) {
      const { response, body } = await download(api, task, query);
      assert.equal(response.status, status, query);
      assert.equal(JSON.parse(body.toString()).error.code, code, query);
    }
  });

  it('zips a folder or the whole workspace', async () => {
    const folder = await fetch(`${api.baseUrl}/api/v1/tasks/${task}/artifacts/archive?path=downloads`, { headers: api.headers() });
    assert.equal(folder.status, 200);
    assert.equal(folder.headers.get('content-type'), 'application/zip');
    const entries = await zipEntries(Buffer.from(await folder.arrayBuffer()));
    assert.deepEqual([...entries.keys()].sort(), ['charts/a.png', 'report.md']);
    assert.equal(entries.get('report.md')!.toString(), '# Report v2\n');
    const whole = await zipEntries(Buffer.from(await (await fetch(`${api.baseUrl}/api/v1/tasks/${task}/artifacts/archive`, { headers: api.headers() })).arrayBuffer()));
    assert.ok(whole.has('uploads/data.csv') && whole.has('downloads/report.md'));
    assert.equal((await fetch(`${api.baseUrl}/api/v1/tasks/${task}/artifacts/archive?path=nowhere`, { headers: api.headers() })).status, 404);
  });

  it('keeps serving artifacts after the task has finished and the server restarted', async () => {
    await kiln.stop();
    kiln = await kiln.restart();
    api = Api.of(kiln);
    const { response, body } = await download(api, task, 'path=downloads/report.md&version=1');
    assert.equal(response.status, 200);
    assert.equal(body.toString(), '# Report v1\n');
  });
});

describe('artifacts and crashes', () => {
  it('leaves no artifact and no lasting stray file when the server dies during an upload', async () => {
    let kiln = await startKiln();
    const api = Api.of(kiln);
    const before = (await api.get('/api/v1/tasks?limit=1')).body.pagination.total;
    // A body that never finishes: the server is killed while it streams in.
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--b\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n'));
        controller.enqueue(new Uint8Array(4 * 1024 * 1024));
      },
    });
    const upload = fetch(`${kiln.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { ...api.headers(), 'content-type': 'multipart/form-data; boundary=b' },
      body,
      duplex: 'half',
    } as RequestInit).catch(() => null);
    for (let i = 0; i < 200 && fs.readdirSync(path.join(kiln.dataDir, 'tmp')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await kiln.kill();
    await upload;
    // An orphan blob (bytes stored, version never recorded) from long ago is collected at start.
    const orphan = 'ab'.repeat(32);
    const orphanFile = path.join(kiln.dataDir, 'blobs', 'ab', 'ab', orphan);
    fs.mkdirSync(path.dirname(orphanFile), { recursive: true });
    fs.writeFileSync(orphanFile, 'lost');
    fs.utimesSync(orphanFile, new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));

    kiln = await kiln.restart();
    try {
      const after = Api.of(kiln);
      assert.equal((await after.get('/api/v1/tasks?limit=1')).body.pagination.total, before, 'no task from the cut-off upload');
      assert.deepEqual(fs.readdirSync(path.join(kiln.dataDir, 'tmp')), [], 'the staging area was emptied');
      assert.deepEqual(fs.readdirSync(path.join(kiln.dataDir, 'blobs', 'tmp')), [], 'no half-written blob');
      for (let i = 0; i < 100 && !/removed 1 unreferenced blob/.test(kiln.logs()); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(kiln.logs(), /removed 1 unreferenced blob/);
      assert.equal(fs.existsSync(orphanFile), false, 'the orphan blob was removed');
    } finally {
      await kiln.stop();
    }
  });
});
