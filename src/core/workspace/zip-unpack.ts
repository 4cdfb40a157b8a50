import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { DomainError, InvalidInput, TooLarge } from '../errors.js';

export interface UnpackLimits {
  maxEntries: number;
  maxTotalBytes: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxEntries: 5000, maxTotalBytes: 1024 * 1024 * 1024 };

/**
 * Unpacks a ZIP archive into `target`, keeping its folder layout. Entries that would land outside
 * `target` (absolute paths, `..`), symlinks and special files are refused; the count of entries
 * and the bytes actually written are capped, so a ZIP bomb stops at the limit.
 * Returns the unpacked files' paths relative to `target`.
 */
export async function unpackZip(archive: string, target: string, name: string, limits: UnpackLimits = DEFAULT_UNPACK_LIMITS): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archive, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false });
  } catch (error) {
    throw new InvalidInput(`Could not read the ZIP archive "${name}": ${(error as Error).message}`);
  }
  const files: string[] = [];
  let written = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        handle(entry).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } catch (error) {
    if (error instanceof DomainError) throw error;
    const message = (error as Error).message;
    if (/invalid relative path|absolute path/.test(message)) {
      throw new InvalidInput(`"${name}" contains an entry that points outside its folder; nothing was stored.`);
    }
    throw new InvalidInput(`Could not unpack the ZIP archive "${name}": ${(error as Error).message}; nothing was stored.`);
  } finally {
    zip.close();
  }
  return files;

  async function handle(entry: yauzl.Entry): Promise<void> {
    if (files.length >= limits.maxEntries) throw new TooLarge(`"${name}" has more than ${limits.maxEntries} files; nothing was stored.`);
    const relative = entry.fileName.replace(/\\/g, '/');
    if (relative.includes('\0') || relative.startsWith('/') || /^[A-Za-z]:/.test(relative) || relative.split('/').includes('..')) {
      throw new InvalidInput(`"${name}" contains an entry that points outside its folder ("${relative}"); nothing was stored.`);
    }
    if (relative.endsWith('/')) {
      await fs.mkdir(path.join(target, relative), { recursive: true });
      return;
    }
    const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
    if (mode !== 0 && mode !== 0o100000) return; // symlinks, devices and the like are skipped
    const destination = path.join(target, relative);
    await fs.mkdir(path.dirname(destination), { recursive: true });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        written += chunk.length;
        if (written > limits.maxTotalBytes) done(new TooLarge(`"${name}" unpacks to more than ${limits.maxTotalBytes} bytes; nothing was stored.`));
        else done(null, chunk);
      },
    });
    await pipeline(await zip.openReadStreamPromise(entry), counter, createWriteStream(destination));
    files.push(relative);
  }
}

/** True when the file starts with a ZIP local-file header. */
export async function looksLikeZip(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const header = Buffer.alloc(4);
    await handle.read(header, 0, 4, 0);
    return header.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  } finally {
    await handle.close();
  }
}
