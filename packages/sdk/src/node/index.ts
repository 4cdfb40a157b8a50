// Helpers for Node.js: files from paths, downloads to files. The core (`@kiln/sdk`) runs anywhere.
import { createHash } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Download, DownloadOptions, FileInput, Kiln } from '../index.js';
import { KilnError } from '../index.js';

/**
 * A file on disk, to upload. Its bytes are streamed from the disk when the request is sent.
 *
 * @example
 * await kiln.tasks.create({ message: 'Read it', files: [await fileFromPath('report.pdf')] });
 */
export async function fileFromPath(filePath: string, options: { name?: string; type?: string } = {}): Promise<FileInput> {
  const data = await openAsBlob(filePath, options.type ? { type: options.type } : {});
  return { name: options.name ?? path.basename(filePath), data };
}

/** Several files on disk, to upload. */
export function filesFromPaths(paths: readonly string[]): Promise<FileInput[]> {
  return Promise.all(paths.map((p) => fileFromPath(p)));
}

export interface Progress {
  /** Bytes written so far. */
  received: number;
  /** Bytes in all, when the server said. */
  total: number | undefined;
}

export interface DownloadToFileOptions extends Omit<DownloadOptions, 'offset'> {
  /** Called as bytes arrive. */
  onProgress?: (progress: Progress) => void;
}

/**
 * Downloads a file of a task's workspace to `destination`, checking its SHA-256. The file
 * appears only when complete (it is written beside it under another name, then renamed).
 *
 * @example
 * await downloadToFile(kiln, taskId, 'downloads/data.csv', './data.csv', {
 *   onProgress: ({ received, total }) => console.log(received, '/', total),
 * });
 */
export async function downloadToFile(
  kiln: Kiln,
  taskId: string,
  filePath: string,
  destination: string,
  options: DownloadToFileOptions = {},
): Promise<{ path: string; size: number; sha256: string }> {
  const { onProgress, ...downloadOptions } = options;
  const download = await kiln.artifacts.download(taskId, filePath, downloadOptions);
  return writeDownload(download, destination, onProgress, options.signal);
}

/** Downloads a zip of a folder of a task's workspace (or of all of it) to `destination`. */
export async function downloadArchiveToFile(
  kiln: Kiln,
  taskId: string,
  destination: string,
  options: { path?: string; signal?: AbortSignal; onProgress?: (progress: Progress) => void } = {},
): Promise<{ path: string; size: number; sha256: string }> {
  const download = await kiln.artifacts.archive(taskId, { ...(options.path ? { path: options.path } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  return writeDownload(download, destination, options.onProgress, options.signal);
}

async function writeDownload(
  download: Download,
  destination: string,
  onProgress: ((progress: Progress) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<{ path: string; size: number; sha256: string }> {
  await mkdir(path.dirname(path.resolve(destination)), { recursive: true });
  const partial = `${destination}.kiln-partial`;
  const hash = createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      onProgress?.({ received, total: download.size });
      callback(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(download.body as NodeReadableStream<Uint8Array>),
      meter,
      createWriteStream(partial, { mode: 0o644 }),
      ...(signal ? [{ signal }] : []),
    );
    const sha256 = hash.digest('hex');
    // The ETag of a file version is its SHA-256 in quotes (an archive's has none).
    const expected = /^"([0-9a-f]{64})"$/.exec(download.etag ?? '')?.[1];
    if (expected && expected !== sha256) {
      throw new KilnError({ message: `The download of ${destination} is corrupt: SHA-256 ${sha256}, expected ${expected}.`, code: 'CORRUPT_DOWNLOAD', status: 0 });
    }
    await rename(partial, destination);
    return { path: destination, size: received, sha256 };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
