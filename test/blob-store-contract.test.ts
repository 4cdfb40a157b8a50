import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LocalBlobStore } from '../src/adapters/fs/local-blob-store.js';
import { S3BlobStore } from '../src/adapters/s3/s3-blob-store.js';
import { BlobTooLarge, type BlobStore } from '../src/ports/blob-store.js';
import { tempDir } from './helpers/kiln-process.js';
import { S3_CREDENTIALS, startS3 } from './helpers/s3.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream of `size` pseudo-random bytes produced in chunks, never held whole. */
function generated(size: number, seed: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(1024 * 1024, size - sent);
      const chunk = Buffer.alloc(n, (seed + sent / (1024 * 1024)) % 251);
      sent += n;
      this.push(chunk);
    },
  });
}

for (const backend of ['local', 's3'] as const) {
  describe(`blob store contract on ${backend}`, () => {
    let store: BlobStore;
    let s3: Awaited<ReturnType<typeof startS3>> | undefined;
    const leftovers = async (): Promise<number> => {
      if (store instanceof LocalBlobStore) return fs.readdirSync(path.join(dir, 'blobs', 'tmp')).length;
      return 0;
    };
    let dir = '';
    before(async () => {
      dir = tempDir();
      if (backend === 'local') {
        store = new LocalBlobStore(dir);
        await (store as LocalBlobStore).init();
      } else {
        Object.assign(process.env, S3_CREDENTIALS);
        s3 = await startS3();
        store = new S3BlobStore({ bucket: s3.bucket, prefix: 'contract' }, { endpoint: s3.endpoint, region: 'us-east-1' });
      }
    });
    after(() => s3?.stop());

    it('stores bytes under their SHA-256 and reads them back, whole or by range', async () => {
      const data = randomBytes(100_000);
      const { sha256: sha, size } = await store.put(Readable.from([data.subarray(0, 40_000), data.subarray(40_000)]));
      assert.equal(sha, sha256(data));
      assert.equal(size, data.length);
      assert.deepEqual(await readAll(await store.read(sha)), data);
      assert.deepEqual(await readAll(await store.read(sha, { start: 10, end: 19 })), data.subarray(10, 20));
      assert.equal(await store.has(sha), true);
      assert.equal(await store.has('0'.repeat(64)), false);
    });

    it('streams a large blob in and out (multipart on S3)', async () => {
      const size = 24 * 1024 * 1024;
      const { sha256: sha, size: stored } = await store.put(generated(size, 7));
      assert.equal(stored, size);
      const hash = createHash('sha256');
      let read = 0;
      for await (const chunk of await store.read(sha)) {
        hash.update(chunk as Buffer);
        read += (chunk as Buffer).length;
      }
      assert.equal(read, size);
      assert.equal(hash.digest('hex'), sha);
    });

    it('stops a source over the limit and stores nothing of it', async () => {
      await assert.rejects(store.put(generated(3 * 1024 * 1024, 1), { maxBytes: 1024 * 1024 }), BlobTooLarge);
      assert.equal(await leftovers(), 0);
    });

    it('collects blobs nobody refers to, and only those', async () => {
      const keep = await store.put(Readable.from([Buffer.from('keep me')]));
      const drop = await store.put(Readable.from([Buffer.from('drop me')]));
      const removed = await store.collectGarbage(async (sha) => sha !== drop.sha256, new Date(Date.now() + 60_000));
      assert.ok(removed >= 1);
      assert.equal(await store.has(drop.sha256), false);
      assert.equal(await store.has(keep.sha256), true);
      assert.equal(await store.collectGarbage(async () => false, new Date(0)), 0, 'nothing newer than the cut-off is touched');
    });

    if (backend === 's3') {
      it('hands out presigned links that serve the bytes as a download', async () => {
        const data = Buffer.from('presigned content');
        const { sha256: sha } = await store.put(Readable.from([data]));
        const url = await store.presignedUrl!(sha, 'report final.txt', 'text/plain', 60);
        const response = await fetch(url);
        assert.equal(response.status, 200);
        assert.deepEqual(Buffer.from(await response.arrayBuffer()), data);
        assert.match(response.headers.get('content-disposition') ?? '', /attachment/);
      });
    }
  });
}
