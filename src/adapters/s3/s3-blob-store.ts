import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BlobStore } from '../../ports/blob-store.js';
import { blobMeter } from '../blob-meter.js';

const PART_BYTES = 8 * 1024 * 1024;

export interface S3Location {
  bucket: string;
  prefix: string;
}

/** `s3://bucket/some/prefix` → bucket and prefix (without slashes at either end). */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: match[1]!, prefix: match[2]!.replace(/^\/+|\/+$/g, '') };
}

/**
 * Blobs in S3 (or an S3-compatible server), under `<prefix>/blobs/<sha256>`. Uploads stream
 * through a multipart upload to a temporary key while they are hashed, then are copied to their
 * content address server-side; temporary keys left by a crash are removed by garbage collection.
 * Credentials come from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * profiles, instance roles).
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;

  constructor(
    private readonly location: S3Location,
    options: { endpoint?: string; region: string },
  ) {
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      // Streamed bodies must not get the SDK's checksum framing, which some servers store as is.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(source: Readable, options: { maxBytes?: number } = {}): Promise<{ sha256: string; size: number }> {
    const meter = blobMeter(options.maxBytes);
    const temp = this.key(`tmp/${randomUUID()}`);
    const body = source.pipe(meter.stream);
    source.on('error', (error) => meter.stream.destroy(error));
    try {
      await new Upload({ client: this.client, params: { Bucket: this.location.bucket, Key: temp, Body: body }, partSize: PART_BYTES, queueSize: 2 }).done();
      const { sha256, size } = meter.result();
      if (await this.has(sha256)) {
        await this.touch(sha256);
      } else {
        await this.client.send(
          new CopyObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha256), CopySource: `${this.location.bucket}/${encodeURI(temp)}` }),
        );
      }
      return { sha256, size };
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: temp })).catch(() => {});
    }
  }

  async putFile(file: string, known: { sha256: string; size: number }): Promise<void> {
    if (await this.has(known.sha256)) return this.touch(known.sha256);
    await new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.blobKey(known.sha256), Body: createReadStream(file) },
      partSize: PART_BYTES,
      queueSize: 2,
    }).done();
  }

  async read(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    const result = await this.client.send(
      new GetObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha256), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
    );
    return result.Body as Readable;
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha256) }));
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return false;
      throw error;
    }
  }

  /** A presigned GET of one blob, offered to the browser as a download named `filename`. */
  async presignedUrl(sha256: string, filename: string, mediaType: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.location.bucket,
        Key: this.blobKey(sha256),
        ResponseContentDisposition: `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`,
        ResponseContentType: mediaType,
      }),
      { expiresIn: ttlSeconds },
    );
  }

  async remove(sha256: string, writtenBefore: Date): Promise<boolean> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha256) }));
      if (!head.LastModified || head.LastModified >= writtenBefore) return false;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha256) }));
    return true;
  }

  async collectGarbage(isReferenced: (sha256: string) => Promise<boolean>, olderThan: Date): Promise<number> {
    let removed = 0;
    for (const sub of ['blobs/', 'tmp/']) {
      let token: string | undefined;
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.key(sub), ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key || !object.LastModified || object.LastModified >= olderThan) continue;
          const name = object.Key.slice(object.Key.lastIndexOf('/') + 1);
          if (sub === 'blobs/' && (await isReferenced(name))) continue;
          await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: object.Key }));
          removed++;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
    return removed;
  }

  /** Marks a blob as just written (see BlobStore.remove): a copy onto itself renews its LastModified. */
  private async touch(sha256: string): Promise<void> {
    const key = this.blobKey(sha256);
    await this.client.send(
      new CopyObjectCommand({ Bucket: this.location.bucket, Key: key, CopySource: `${this.location.bucket}/${encodeURI(key)}`, MetadataDirective: 'REPLACE' }),
    );
  }

  private blobKey(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256 hex digest: ${sha256}`);
    return this.key(`blobs/${sha256}`);
  }

  private key(rest: string): string {
    return this.location.prefix ? `${this.location.prefix}/${rest}` : rest;
  }
}
