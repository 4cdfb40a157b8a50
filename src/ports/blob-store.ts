import type { Readable } from 'node:stream';

/**
 * Content-addressed storage of bytes: a blob's name is the SHA-256 of its content, so the same
 * bytes are stored once. Blobs never change once written.
 */
export interface BlobStore {
  /**
   * Streams `source` into the store, hashing on the way. Nothing is visible under the hash until
   * every byte is written; a failed write leaves nothing behind. `maxBytes` stops an oversized
   * source with {@link BlobTooLarge}.
   */
  put(source: Readable, options?: { maxBytes?: number }): Promise<{ sha256: string; size: number }>;
  // put and putFile of bytes already stored mark the blob as just written, so that a removal
  // (which spares blobs written recently) cannot take it between the write and its version.
  /**
   * Stores a local file whose hash is already known (computed while it was received). `file` may
   * be a `/proc/self/fd/N` path of a file the caller has opened.
   */
  putFile(file: string, known: { sha256: string; size: number }): Promise<void>;
  /** The bytes of a blob, or the inclusive range `start`..`end` of them. */
  read(sha256: string, range?: { start: number; end: number }): Promise<Readable>;
  has(sha256: string): Promise<boolean>;
  /**
   * A URL that serves the blob directly from the store, without Kiln, for `ttlSeconds`.
   * Stores that cannot do this leave it out, and Kiln serves its own signed links.
   */
  presignedUrl?(sha256: string, filename: string, mediaType: string, ttlSeconds: number): Promise<string>;
  /**
   * Removes one blob unless it was written (or written again) at or after `writtenBefore`.
   * Returns whether it was removed. The caller checks that no version refers to it.
   */
  remove(sha256: string, writtenBefore: Date): Promise<boolean>;
  /** Removes blobs no version refers to, written before `olderThan`; returns how many. */
  collectGarbage(isReferenced: (sha256: string) => Promise<boolean>, olderThan: Date): Promise<number>;
}

export class BlobTooLarge extends Error {
  override name = 'BlobTooLarge';
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
  }
}
