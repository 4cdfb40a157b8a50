import { spawn } from 'node:child_process';
import { tempDir, ROOT } from './kiln-process.js';

/** Credentials the S3 test server accepts (it does not check signatures, only their expiry). */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

const SERVER = `
const S3rver = require('s3rver');
const [directory, bucket] = process.argv.slice(1);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] })
  .run()
  .then(({ port }) => console.log('port ' + port));
process.on('uncaughtException', (error) => console.error('s3rver:', error.message));
`;

/**
 * An S3-compatible server for the tests (s3rver), in a process of its own on a free port, with
 * one bucket. Its own hiccups stay in its process.
 */
export async function startS3(bucket = 'kiln-test'): Promise<{ endpoint: string; bucket: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', SERVER, tempDir('kiln-s3-'), bucket], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /port (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the S3 test server exited (${code})`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
