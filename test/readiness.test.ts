import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { startKiln } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

async function probe(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

describe('readiness', () => {
  it('is ready when the database, its schema, the blob store and the workers work, and says which check fails when the blob store cannot be written', async () => {
    const kiln = await startKiln();
    try {
      const ready = await probe(`${kiln.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', migrations: 'ok', blobs: 'ok', workers: 'ok' } });

      // The blob store's staging folder becomes a file: no blob can be written (root ignores permissions, not this).
      const staging = path.join(kiln.dataDir, 'blobs', 'tmp');
      fs.rmSync(staging, { recursive: true });
      fs.writeFileSync(staging, 'not a folder');
      const broken = await probe(`${kiln.url}/readyz`);
      assert.equal(broken.status, 503);
      assert.equal(broken.body.status, 'unavailable');
      assert.match(broken.body.checks.blobs, /^failed: .*ENOTDIR/);
      assert.equal(broken.body.checks.database, 'ok');
      assert.equal((await probe(`${kiln.url}/healthz`)).status, 200, 'the process is alive all the same');

      fs.rmSync(staging);
      fs.mkdirSync(staging);
      assert.equal((await probe(`${kiln.url}/readyz`)).status, 200);
    } finally {
      await kiln.stop();
    }
  });

  it('with PostgreSQL, is not ready while the database is unreachable and ready again once it is back', async () => {
    const target = new URL(TEST_DATABASE_URL);
    const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    await withSchema('readiness', async (schema) => {
      const kiln = await startKiln({ env: { DATABASE_URL: viaProxy.href, KILN_DB_SCHEMA: schema } });
      try {
        assert.equal((await probe(`${kiln.url}/readyz`)).status, 200);
        await proxy.cut();
        const down = await probe(`${kiln.url}/readyz`);
        assert.equal(down.status, 503);
        assert.match(down.body.checks.database, /^failed: /);
        assert.match(down.body.checks.migrations, /^failed: /);
        assert.equal(down.body.checks.workers, 'ok');
        assert.equal((await probe(`${kiln.url}/healthz`)).status, 200);
        await proxy.start();
        assert.equal((await probe(`${kiln.url}/readyz`)).status, 200);
        // And it works again.
        const api = Api.of(kiln);
        assert.equal((await api.waitForEnd(await api.createTask({ message: 'back' }))).data.finalResponse, 'Echo: back');
      } finally {
        await kiln.stop();
        await proxy.cut();
      }
    });
  });
});
