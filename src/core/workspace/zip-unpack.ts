import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { DomainError, InvalidInput, TooLarge } from '../errors.js';

/**
 * What is left to unpack in one request: every archive of the request draws from the same
 * budget, so many small archives cannot add up to more than one may.
 */
export interface UnpackBudget {
  entries: number;
  bytes: number;
  /** Says which limit the bytes come from, for the error message. */
  bytesLimit: string;
}

export const MAX_UNPACKED_ENTRIES = 5000;
export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;

/** A file unpacked from an archive: its path relative to the target folder and its size. */
export interface UnpackedFile {
  relative: string;
  size: number;
}

/**
 * Unpacks a ZIP archive into `target` (a folder only the server uses), keeping its folder layout.
 * Entries that would land outside `target` (absolute paths, `..`), a file and a folder of the
 * same name, and entries whose CRC-32 does not match are refused; symlinks and special files are
 * skipped; entries and bytes actually written draw from `budget`, so a ZIP bomb stops at the limit.
 * Error messages name entries of the archive, never a path of the host.
 */
export async function unpackZip(archive: string, target: string, name: string, budget: UnpackBudget): Promise<UnpackedFile[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archive, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false });
  } catch (error) {
    throw new InvalidInput(`Could not read the ZIP archive "${name}": ${zipReason(error)}; nothing was stored.`);
  }
  const files = new Map<string, number>();
  const folders = new Set<string>();
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
    throw new InvalidInput(`Could not unpack the ZIP archive "${name}": ${zipReason(error)}; nothing was stored.`);
  } finally {
    zip.close();
  }
  return [...files].map(([relative, size]) => ({ relative, size }));

  async function handle(entry: yauzl.Entry): Promise<void> {
    if (budget.entries <= 0) throw new TooLarge(`The archives of this request have more than ${MAX_UNPACKED_ENTRIES} files; nothing was stored.`);
    budget.entries--;
    const relative = path.posix.normalize(entry.fileName.replace(/\\/g, '/'));
    if (relative.includes('\0') || relative.startsWith('/') || /^[A-Za-z]:/.test(relative) || relative.split('/').includes('..')) {
      throw new InvalidInput(`"${name}" contains an entry that points outside its folder ("${relative}"); nothing was stored.`);
    }
    const isFolder = relative.endsWith('/');
    const clean = relative.replace(/\/+$/, '');
    if (clean === '' || clean === '.') return;
    const parents = clean.split('/').slice(0, -1).map((_, i, all) => all.slice(0, i + 1).join('/'));
    const clash = parents.find((p) => files.has(p)) ?? (folders.has(clean) && !isFolder ? clean : files.has(clean) && isFolder ? clean : undefined);
    if (clash !== undefined) throw new InvalidInput(`"${name}" contains both a file and a folder named "${clash}"; nothing was stored.`);
    for (const parent of parents) folders.add(parent);
    if (isFolder) {
      folders.add(clean);
      await fs.mkdir(path.join(target, clean), { recursive: true });
      return;
    }
    const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
    if (mode !== 0 && mode !== 0o100000) return; // symlinks, devices and the like are skipped
    const destination = path.join(target, clean);
    await fs.mkdir(path.dirname(destination), { recursive: true });
    let crc = 0;
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        budget.bytes -= chunk.length;
        size += chunk.length;
        crc = zlib.crc32(chunk, crc);
        if (budget.bytes < 0) done(new TooLarge(`The archives of this request unpack to more than ${budget.bytesLimit}; nothing was stored.`));
        else done(null, chunk);
      },
    });
    // A later entry of the same name replaces an earlier one; its bytes count again.
    await pipeline(await zip.openReadStreamPromise(entry), counter, createWriteStream(destination));
    // yauzl does not check CRC-32 (its README says so); a damaged archive must not be stored.
    if (crc >>> 0 !== entry.crc32 >>> 0) throw new InvalidInput(`"${name}" is damaged: the checksum of "${clean}" does not match; nothing was stored.`);
    files.set(clean, size);
  }
}

/** The reason yauzl or the file system gave, without any path of the host. */
function zipReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (typeof e.code === 'string' && e.syscall) return `the file operation failed (${e.code})`;
  // An absolute path starts a word ("compressed/uncompressed" is not one).
  return (e.message ?? String(error)).replace(/(^|[\s"'(])\/[^\s"':]+/g, '$1<path>');
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
