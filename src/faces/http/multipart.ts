import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { InvalidInput, StorageFull, storageFullOf, TooLarge } from '../../core/errors.js';
import { safeFileName, type StagedFile } from '../../core/workspace/workspaces.js';
import { isMalformedMultipart } from './framework-errors.js';
import { claimIdempotency } from './idempotency.js';
import { checkValue } from './input-guard.js';

export interface MultipartLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxFieldBytes: number;
}

export interface MultipartForm {
  fields: Record<string, string>;
  files: StagedFile[];
}

/**
 * Reads a multipart request, streaming each file part to the staging folder as it arrives
 * (never holding a whole file in memory). A file over the limit, too many files, or any other
 * failure removes every file staged for this request before the error is thrown.
 */
export async function readMultipart(request: FastifyRequest, stagingDir: string, limits: MultipartLimits): Promise<MultipartForm> {
  const fields: Record<string, string> = {};
  const files: StagedFile[] = [];
  try {
    const parts = request.parts({
      limits: { files: limits.maxFiles, fileSize: limits.maxFileBytes, fieldSize: limits.maxFieldBytes, fields: 100 },
    });
    for await (const part of parts) {
      checkValue(part.fieldname, 'field name');
      if (part.type === 'file') {
        checkValue(part.filename, `file name of ${part.fieldname}`);
        const name = safeFileName(part.filename);
        const tempPath = path.join(stagingDir, randomUUID());
        const staged: StagedFile = { name, tempPath, size: 0, sha256: '' };
        files.push(staged);
        // Hashed on the way to disk, so that recording the upload need not read it again.
        const hash = createHash('sha256');
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        });
        await pipeline(part.file, hashing, createWriteStream(tempPath));
        if (part.file.truncated) {
          throw new TooLarge(`File "${name}" is larger than the limit of ${formatBytes(limits.maxFileBytes)} per file; nothing was stored.`);
        }
        staged.size = part.file.bytesRead;
        staged.sha256 = hash.digest('hex');
      } else {
        if (part.valueTruncated) throw new TooLarge(`Field "${part.fieldname}" is longer than ${formatBytes(limits.maxFieldBytes)}.`);
        if (part.fieldname === 'files') {
          throw new InvalidInput('files must be sent as file parts (with a file name; curl: -F "files=@report.pdf"), not as a text field.', 'files');
        }
        checkValue(part.value, part.fieldname);
        // Form encoders send line breaks as CRLF; the text means the same with plain LF.
        fields[part.fieldname] = String(part.value).replace(/\r\n/g, '\n');
      }
    }
    // The files count in an idempotent request's identity by their hashes.
    await claimIdempotency(request, { fields, files: files.map(({ name, size, sha256 }) => ({ name, size, sha256 })) });
    return { fields, files };
  } catch (error) {
    await discardStaged(files);
    const translated = translate(error, limits);
    // The client is still sending: read the rest (to nowhere), so that it gets the answer
    // instead of a connection reset in the middle of its upload.
    if (translated instanceof StorageFull) await discardRest(request.raw);
    throw translated;
  }
}

async function discardRest(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  body.unpipe();
  const ended = new Promise<void>((resolve) => {
    body.once('end', resolve);
    body.once('close', resolve);
    body.once('error', () => resolve());
  });
  body.resume();
  await ended;
}

export async function discardStaged(files: readonly StagedFile[]): Promise<void> {
  await Promise.all(files.map((f) => fs.rm(f.tempPath, { force: true })));
}

function translate(error: unknown, limits: MultipartLimits): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'FST_FILES_LIMIT') return new InvalidInput(`At most ${limits.maxFiles} files may be sent in one request.`, 'files');
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new TooLarge(`A file is larger than the limit of ${formatBytes(limits.maxFileBytes)} per file; nothing was stored.`);
  if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') return new InvalidInput('The request has too many form fields.');
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return new InvalidInput('The request is not multipart/form-data.');
  const full = storageFullOf(error);
  if (full) return full;
  if (isMalformedMultipart(error)) {
    return new InvalidInput('The multipart body is malformed or was cut off; nothing was stored.');
  }
  return error;
}

export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${bytes} bytes`;
}
