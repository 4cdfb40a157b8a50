import { createRequire } from 'node:module';
import { tempDir } from './kiln-process.js';

const require = createRequire(import.meta.url);

/** Credentials the S3 test server accepts (it does not check signatures, only their expiry). */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

/** An S3-compatible server for the tests (s3rver), on a free port, with one bucket. */
export async function startS3(bucket = 'kiln-test'): Promise<{ endpoint: string; bucket: string; stop(): Promise<void> }> {
  const S3rver = require('s3rver');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: tempDir('kiln-s3-'), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
