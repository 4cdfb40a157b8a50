import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { BlobTooLarge } from '../ports/blob-store.js';

/**
 * A pass-through that hashes (SHA-256) and counts what flows through it, and fails with
 * {@link BlobTooLarge} past `maxBytes`. Shared by the blob stores.
 */
export function blobMeter(maxBytes = Number.POSITIVE_INFINITY): { stream: Transform; result(): { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new BlobTooLarge(maxBytes));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), size }) };
}
