import { randomUUID } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../../ports/blob-store.js';
import { blobMeter } from '../blob-meter.js';

const READ_CHUNK = 1024 * 1024;

/**
 * Blobs on local disk under `<dataDir>/blobs/ab/cd/<sha256>`. Writes go to `blobs/tmp/` first
 * and are renamed into place once hashed, so a crash leaves at most a temporary file, which the
 * next start removes. Like the database (SQLite in WAL mode, synchronous=NORMAL), blobs survive a
 * crash of the process; they are not synced to the disk one by one, so a power cut may lose the
 * last moments of both.
 */
export class LocalBlobStore implements BlobStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'blobs');
    this.tmp = path.join(this.root, 'tmp');
  }

  async init(): Promise<void> {
    await fs.rm(this.tmp, { recursive: true, force: true });
    await fs.mkdir(this.tmp, { recursive: true });
  }

  async put(source: Readable, options: { maxBytes?: number } = {}): Promise<{ sha256: string; size: number }> {
    const temp = path.join(this.tmp, randomUUID());
    const meter = blobMeter(options.maxBytes);
    try {
      await pipeline(source, meter.stream, createWriteStream(temp));
      const { sha256, size } = meter.result();
      const final = this.file(sha256);
      if (await exists(final)) {
        await fs.rm(temp, { force: true });
        await touch(final);
      } else {
        await fs.mkdir(path.dirname(final), { recursive: true });
        await fs.rename(temp, final);
      }
      return { sha256, size };
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async putFile(file: string, known: { sha256: string; size: number }): Promise<void> {
    const final = this.file(known.sha256);
    if (await exists(final)) return touch(final);
    const temp = path.join(this.tmp, randomUUID());
    try {
      // A copy-on-write clone where the file system offers one, else a copy in the kernel.
      await fs.copyFile(file, temp, fsConstants.COPYFILE_FICLONE);
      await fs.mkdir(path.dirname(final), { recursive: true });
      await fs.rename(temp, final);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async read(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.file(sha256);
    // Opening first turns a missing blob into an error here, not in the middle of a response.
    const handle = await fs.open(file, 'r');
    // The stream takes the handle itself, and closes it when done. Large reads: a 100 MB download
    // is 100 reads and socket writes instead of 1,600.
    return createReadStream('', { fd: handle, autoClose: true, highWaterMark: READ_CHUNK, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.file(sha256));
  }

  async remove(sha256: string, writtenBefore: Date): Promise<boolean> {
    const file = this.file(sha256);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat || stat.mtime >= writtenBefore) return false;
    await fs.rm(file, { force: true });
    return true;
  }

  async collectGarbage(isReferenced: (sha256: string) => Promise<boolean>, olderThan: Date): Promise<number> {
    let removed = 0;
    for (const a of await readdir(this.root)) {
      if (a === 'tmp') continue;
      for (const b of await readdir(path.join(this.root, a))) {
        for (const name of await readdir(path.join(this.root, a, b))) {
          const file = path.join(this.root, a, b, name);
          const stat = await fs.stat(file).catch(() => null);
          if (!stat || stat.mtime >= olderThan || (await isReferenced(name))) continue;
          await fs.rm(file, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }

  private file(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256 hex digest: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Marks a blob as just written (see BlobStore.remove). */
async function touch(file: string): Promise<void> {
  const now = new Date();
  await fs.utimes(file, now, now).catch(() => {});
}

async function readdir(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}
