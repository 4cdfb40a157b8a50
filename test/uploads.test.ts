import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { head, RawConnection } from './helpers/raw-http.js';
import { buildZip } from './helpers/zip.js';

const MB = 1024 * 1024;

describe('uploading files with a task', () => {
  let kiln: KilnServer;
  let api: Api;
  const workspaces = () => fs.readdirSync(path.join(kiln.dataDir, 'workspaces'));
  const staging = () => fs.readdirSync(path.join(kiln.dataDir, 'tmp'));
  const total = async () => (await api.get('/api/v1/tasks?limit=1')).body.pagination.total;

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('puts files in uploads/, lists them on the message and tells the agent', async () => {
    const response = await api.request('POST', '/api/v1/tasks', {
      body: form({ message: 'ls uploads\ncat uploads/data.csv' }, [
        { name: 'data.csv', content: 'a,b\n1,2\n' },
        { name: '../../sneaky name.txt', content: 'x' },
      ]),
    });
    assert.equal(response.status, 200);
    const id = response.body.data.id;
    const events = await api.events(id);
    const results = events.filter((e) => e.event === 'tool_result').map((e) => e.data.output);
    assert.equal(results[0], 'data.csv  (8 bytes)\nsneaky name.txt  (1 bytes)');
    assert.equal(results[1], 'a,b\n1,2\n');
    const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
    assert.deepEqual(history[0].attachedFiles, [
      { name: 'data.csv', path: 'uploads/data.csv' },
      { name: 'sneaky name.txt', path: 'uploads/sneaky name.txt' },
    ]);
    assert.equal(history[0].content, 'ls uploads\ncat uploads/data.csv', 'the message is stored as sent');
  });

  it('shortens a file name longer than a file system takes to 255 bytes, keeping its extension', async () => {
    const long = `${'é'.repeat(200)}.txt`;
    const created = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'hi' }, [{ name: long, content: 'first' }]) });
    assert.equal(created.status, 200);
    const id = created.body.data.id;
    await api.waitForEnd(id);
    const followUp = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'ls uploads' }, [{ name: `x${long}`, content: 'second' }]) });
    assert.equal(followUp.status, 200);
    await api.waitForEnd(id);
    const names = (await api.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files.map((f: { path: string }) => f.path.slice('uploads/'.length));
    assert.equal(names.length, 2);
    for (const name of names) {
      assert.ok(Buffer.byteLength(name) <= 255 && Buffer.byteLength(name) > 250, name);
      assert.ok(name.endsWith('é.txt'), 'cut on whole characters, before the extension');
    }
  });

  it('takes a client that gives up in the middle of an upload as no error of its own, and keeps nothing of it', async () => {
    const before = await total();
    const connection = new RawConnection(kiln.url);
    const start = '--zz\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--zz\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n';
    connection.send(head('POST', '/api/v1/tasks', { authorization: `Bearer ${kiln.key}`, 'content-type': 'multipart/form-data; boundary=zz', 'content-length': 10 * MB }));
    await connection.trickle([start, Buffer.alloc(256 * 1024, 1), Buffer.alloc(256 * 1024, 2)], 50);
    connection.close();
    for (let i = 0; i < 100 && staging().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(staging(), [], 'the part received was removed');
    assert.equal(await total(), before);
    assert.doesNotMatch(kiln.logs(), /request failed/, 'a client going away is not a server error');
  });

  it('unpacks ZIP archives into uploads/ keeping their folders', async () => {
    const zip = buildZip([
      { name: 'report/summary.md', content: '# Summary\n' },
      { name: 'report/data/rows.csv', content: 'x\n1\n' },
    ], true);
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'cat uploads/report/data/rows.csv' }, [{ name: 'bundle.zip', content: zip }]) });
    const id = response.body.data.id;
    const end = await api.waitForEnd(id);
    assert.equal(end.data.finalResponse, 'read_file: success');
    const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
    assert.deepEqual(history[0].attachedFiles.map((f: any) => f.path).sort(), ['uploads/report/data/rows.csv', 'uploads/report/summary.md']);
    assert.equal(fs.existsSync(path.join(kiln.dataDir, 'workspaces', id, 'uploads', 'bundle.zip')), false);
  });

  it('refuses a ZIP that reaches outside its folder, storing nothing', async () => {
    const before = { tasks: await total(), workspaces: workspaces().length };
    const zip = buildZip([{ name: 'ok.txt', content: 'fine' }, { name: '../../escape.txt', content: 'bad' }]);
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, [{ name: 'evil.zip', content: zip }]) });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'VALIDATION_ERROR');
    assert.match(response.body.error.message, /points outside/);
    assert.equal(await total(), before.tasks);
    assert.equal(workspaces().length, before.workspaces);
    assert.deepEqual(staging(), []);
  });

  it('refuses more than 20 files, storing nothing', async () => {
    const before = await total();
    const files = Array.from({ length: 21 }, (_, i) => ({ name: `f${i}.txt`, content: 'x' }));
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'x' }, files) });
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /At most 20 files/);
    assert.equal(await total(), before);
    assert.deepEqual(staging(), []);
  });

  it('refuses a file over 50 MB with a clear error and leaves nothing behind, but takes one of exactly 50 MB', async () => {
    const before = { tasks: await total(), workspaces: workspaces().length };
    const tooBig = await api.request('POST', '/api/v1/tasks', {
      body: form({ message: 'x' }, [{ name: 'small.txt', content: 'first file is fine' }, { name: 'huge.bin', content: Buffer.alloc(50 * MB + 1, 1) }]),
    });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(tooBig.body.error.message, /"huge.bin" is larger than the limit of 50 MB/);
    assert.equal(await total(), before.tasks);
    assert.equal(workspaces().length, before.workspaces);
    assert.deepEqual(staging(), []);

    const exact = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'ls uploads' }, [{ name: 'exact.bin', content: Buffer.alloc(50 * MB, 2) }]) });
    assert.equal(exact.status, 200);
    const end = await api.waitForEnd(exact.body.data.id);
    assert.equal(end.event, 'done');
    assert.equal(fs.statSync(path.join(kiln.dataDir, 'workspaces', exact.body.data.id, 'uploads', 'exact.bin')).size, 50 * MB);
  });

  it('refuses a follow-up with an oversized file and keeps the conversation as it was', async () => {
    const id = await api.createTask({ message: 'hi' });
    await api.waitForEnd(id);
    const response = await api.request('POST', `/api/v1/tasks/${id}/messages`, {
      body: form({ message: 'more' }, [{ name: 'big.bin', content: Buffer.alloc(50 * MB + 10) }]),
    });
    assert.equal(response.status, 413);
    const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data.messages;
    assert.equal(history.length, 2);
    // The workspace is made when something first goes in it: it may not exist at all.
    const uploads = path.join(kiln.dataDir, 'workspaces', id, 'uploads');
    assert.deepEqual(fs.existsSync(uploads) ? fs.readdirSync(uploads) : [], []);
  });
});
