import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, form } from './helpers/api.js';
import { startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

/** A small file system of its own for the data dir, or the reason there cannot be one. */
function smallDisk(): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a small tmpfs needs root' };
  const dir = tempDir('kiln-full-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (error) {
    return { skip: `mount -t tmpfs failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}` };
  }
}

/** Writes zeros to `file` until the disk refuses more. */
function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
}

const disk = smallDisk();
const skip = 'skip' in disk ? disk.skip : false;

describe('a full disk', { skip }, () => {
  const dataDir = 'dir' in disk ? disk.dir : '';
  let kiln: KilnServer;
  let api: Api;
  const leftovers = () => [...fs.readdirSync(path.join(dataDir, 'tmp')), ...fs.readdirSync(path.join(dataDir, 'blobs', 'tmp'))];
  before(async () => {
    kiln = await startKiln({ dataDir });
    api = Api.of(kiln);
  });
  after(async () => {
    await kiln?.stop();
    if (dataDir) execFileSync('umount', [dataDir]);
  });

  it('refuses an upload that does not fit with 507 STORAGE_FULL, keeps nothing of it, and goes on serving', async () => {
    const response = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'ls uploads' }, [{ name: 'big.bin', content: new Uint8Array(12 * 1024 * 1024) }]) });
    assert.equal(response.status, 507);
    assert.equal(response.body.success, false);
    assert.equal(response.body.error.code, 'STORAGE_FULL');
    assert.match(response.body.error.message, /disk is full/);
    assert.deepEqual(leftovers(), [], 'no staged or half-written file is left');
    assert.equal((await api.get('/api/v1/tasks')).body.pagination.total, 0, 'no task was created');
    const id = await api.createTask({ message: 'still here?' });
    assert.equal((await api.waitForEnd(id)).event, 'done');
  });

  it('answers a Syntropic create that does not fit with 507 in its own envelope', async () => {
    const filler = path.join(dataDir, 'filler');
    fillUp(filler);
    try {
      const response = await fetch(`${kiln.url}/syntropic/artifacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${kiln.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workflow_id: 'wf', artifact_type: 'text', title: 'Too big', content: 'x'.repeat(512 * 1024) }),
      });
      assert.equal(response.status, 507);
      const body = (await response.json()) as { detail: string };
      assert.match(body.detail, /disk is full/);
      assert.deepEqual(leftovers(), []);
    } finally {
      fs.rmSync(filler);
    }
    const listed = await fetch(`${kiln.url}/syntropic/artifacts?workflow_id=wf`, { headers: { authorization: `Bearer ${kiln.key}` } });
    assert.deepEqual(await listed.json(), [], 'nothing was recorded');
  });

  it('ends a turn whose command filled the disk as failed with STORAGE_FULL, not as running or a crash', needs(sandbox), async () => {
    const id = await api.createTask({ message: '$ head -c 16000000 /dev/zero > big.bin; echo wrote' });
    const big = path.join(dataDir, 'workspaces', id, 'big.bin');
    // When the database itself cannot write, the turn ends as soon as space is freed (here, by removing the file).
    for (let i = 0; i < 3000; i++) {
      const status = (await api.get(`/api/v1/tasks/${id}`)).body.data.status;
      if (status !== 'running' && status !== 'pending') break;
      if (/the disk is full: the end of this turn is recorded once space is freed/.test(kiln.logs()) && fs.existsSync(big)) fs.rmSync(big);
      await sleep(20);
    }
    const end = await api.waitForEnd(id);
    assert.equal(end.event, 'error');
    assert.equal(end.data.code, 'STORAGE_FULL');
    assert.match(end.data.message, /disk is full/);
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    assert.equal(task.status, 'failed');
    assert.match(task.error, /disk is full/);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'blobs', 'tmp')), [], 'no half-written blob is left');

    fs.rmSync(big, { force: true });
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo room again' });
    assert.equal((await api.waitForEnd(id)).event, 'done', 'the server goes on serving once there is room');
  });
});
