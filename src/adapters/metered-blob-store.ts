import { Transform, pipeline, type Readable } from 'node:stream';
import type { BlobStore } from '../ports/blob-store.js';
import type { Instruments } from '../ports/instruments.js';

/** A blob store that reports the bytes written to it and read from it. */
export class MeteredBlobStore implements BlobStore {
  readonly presignedUrl?: BlobStore['presignedUrl'];

  constructor(
    private readonly inner: BlobStore,
    private readonly instruments: Instruments,
  ) {
    if (inner.presignedUrl) this.presignedUrl = inner.presignedUrl.bind(inner);
  }

  async put(source: Readable, options?: { maxBytes?: number }): Promise<{ sha256: string; size: number }> {
    const stored = await this.inner.put(source, options);
    this.instruments.blobBytes('in', stored.size);
    return stored;
  }

  async putFile(file: string, known: { sha256: string; size: number }): Promise<void> {
    await this.inner.putFile(file, known);
    this.instruments.blobBytes('in', known.size);
  }

  async read(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.instruments.blobBytes('out', chunk.length);
        done(null, chunk);
      },
    });
    // The pipeline passes errors on and destroys the source when the reader stops early.
    return pipeline(await this.inner.read(sha256, range), counted, () => {});
  }

  has(sha256: string): Promise<boolean> {
    return this.inner.has(sha256);
  }

  remove(sha256: string, writtenBefore: Date): Promise<boolean> {
    return this.inner.remove(sha256, writtenBefore);
  }

  collectGarbage(isReferenced: (sha256: string) => Promise<boolean>, olderThan: Date): Promise<number> {
    return this.inner.collectGarbage(isReferenced, olderThan);
  }
}
