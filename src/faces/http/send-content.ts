import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ArtifactVersion } from '../../core/artifacts/artifact-types.js';
import { isMediaType } from '../../core/artifacts/media-types.js';

/**
 * Sends the bytes of an artifact version the way file clients expect: `Content-Type`,
 * `Content-Length`, `Content-Disposition: attachment`, a strong `ETag` (the SHA-256), conditional
 * requests (`If-None-Match` → 304), single byte ranges (`Range` → 206, or 416 when outside the
 * file) and `HEAD`. Content is never sniffed by browsers (`nosniff`).
 */
export async function sendContent(
  request: FastifyRequest,
  reply: FastifyReply,
  file: { version: ArtifactVersion; filename: string; open: (range?: { start: number; end: number }) => Promise<Readable> },
): Promise<FastifyReply> {
  const { version, filename } = file;
  const etag = `"${version.sha256}"`;
  reply
    .header('content-type', isMediaType(version.mediaType) ? version.mediaType : 'application/octet-stream')
    .header('content-disposition', contentDisposition(filename))
    .header('etag', etag)
    .header('last-modified', new Date(version.createdAt).toUTCString())
    .header('accept-ranges', 'bytes')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'private, max-age=0, must-revalidate');

  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    return reply.status(304).send();
  }

  const range = requestedRange(request, etag, version.size);
  if (range === 'unsatisfiable') {
    return reply.status(416).header('content-range', `bytes */${version.size}`).header('content-type', 'application/json').send({
      success: false,
      error: { message: `The requested range is outside the file (${version.size} bytes).`, code: 'RANGE_NOT_SATISFIABLE' },
    });
  }
  if (range) {
    reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${version.size}`).header('content-length', range.end - range.start + 1);
  } else {
    reply.header('content-length', version.size);
  }
  if (request.method === 'HEAD' || version.size === 0) return reply.send();
  return reply.send(await file.open(range ?? undefined));
}

/** A single `bytes=` range, resolved against the file size; null when the whole file is wanted. */
function requestedRange(request: FastifyRequest, etag: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const header = request.headers.range;
  if (!header || !header.startsWith('bytes=')) return null;
  const ifRange = request.headers['if-range'];
  if (ifRange && ifRange !== etag) return null;
  const specs = header.slice(6).split(',');
  // Several ranges would need multipart/byteranges; the whole file is an allowed answer.
  if (specs.length !== 1) return null;
  const match = /^\s*(\d*)-(\d*)\s*$/.exec(specs[0]!);
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/** `attachment` with an ASCII fallback name and the exact name in RFC 5987 form. */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
