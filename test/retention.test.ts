import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import BetterSqlite3 from 'better-sqlite3';
import { Api, form } from './helpers/api.js';
import { BACKENDS, openBackend, tracked, type Backend } from './helpers/backends.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const TASK_TABLES = ['events', 'messages', 'model_messages', 'artifacts', 'artifact_versions', 'webhook_deliveries'];

/** Reads the database of a running Kiln, whichever backend it uses. */
function database(kiln: () => KilnServer, backend: Backend) {
  return async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => {
    if (backend.name === 'postgres') return backend.query<T>(sql.replace(/\?/g, (_m, i) => `$${sqlIndex(sql, i)}`), params);
    const db = new BetterSqlite3(path.join(kiln().dataDir, 'kiln.db'), { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  };
}

function sqlIndex(sql: string, offset: number): number {
  return sql.slice(0, offset + 1).split('?').length - 1;
}

/** The blobs the store holds, by hash. */
async function storedBlobs(kiln: KilnServer, backend: Backend): Promise<Set<string>> {
  if (backend.name === 'sqlite') {
    const root = path.join(kiln.dataDir, 'blobs');
    const found = new Set<string>();
    for (const a of fs.readdirSync(root)) {
      if (a === 'tmp') continue;
      for (const b of fs.readdirSync(path.join(root, a))) for (const name of fs.readdirSync(path.join(root, a, b))) found.add(name);
    }
    return found;
  }
  const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(backend.env.KILN_BLOB_STORE!)!;
  const client = new S3Client({ region: 'us-east-1', endpoint: backend.env.S3_ENDPOINT, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/blobs/` }));
  return new Set((page.Contents ?? []).map((o) => o.Key!.slice(o.Key!.lastIndexOf('/') + 1)));
}

for (const { name, options } of BACKENDS) {
  const store = name === 'sqlite' ? 'SQLite and local disk' : 'PostgreSQL and S3';
  describe(`removing tasks on ${store}`, options, () => {
    const state = { failed: false };
    const test = (title: string, fn: () => Promise<void>) => it(title, tracked(state, fn));
    let backend: Backend;
    let kiln: KilnServer;
    let api: Api;
    let sql: ReturnType<typeof database>;

    before(async () => {
      backend = await openBackend(name, 'retention', { s3: true });
      kiln = await startKiln({ env: { ...backend.env, KILN_BLOB_GRACE_SECONDS: '0', KILN_RETENTION_DAYS: '1', KILN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
      api = Api.of(kiln);
      sql = database(() => kiln, backend);
    });
    after(async () => {
      await kiln?.stop();
      await backend?.finish(!state.failed);
    });

    /** Rows that belong to no task, and blobs no version refers to or versions whose blob is gone: none may exist. */
    async function assertNothingOrphaned(): Promise<void> {
      for (const table of TASK_TABLES) {
        const rows = await sql(`SELECT COUNT(*) AS n FROM ${table} x WHERE x.task_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = x.task_id)`);
        assert.equal(Number(rows[0].n), 0, `${table} has no rows of removed tasks`);
      }
      const versions = await sql('SELECT COUNT(*) AS n FROM artifact_versions v WHERE NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.id = v.artifact_id)');
      assert.equal(Number(versions[0].n), 0);
      const referenced = new Set((await sql<{ sha256: string }>('SELECT DISTINCT sha256 FROM artifact_versions')).map((r) => r.sha256));
      const blobs = await storedBlobs(kiln, backend);
      assert.deepEqual([...blobs].filter((b) => !referenced.has(b)), [], 'no blob without a version');
      assert.deepEqual([...referenced].filter((r) => !blobs.has(r)), [], 'no version without its blob');
    }

    const rowsOf = async (taskId: string) => {
      const counts: Record<string, number> = {};
      for (const table of [...TASK_TABLES, 'tasks']) {
        const column = table === 'tasks' ? 'id' : 'task_id';
        counts[table] = Number((await sql(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`, [taskId]))[0].n);
      }
      return counts;
    };

    test('POST /purge removes a task with its events, conversation, files, versions, deliveries and unshared blobs', async () => {
      await api.post('/api/v1/webhooks', { url: 'http://127.0.0.1:9/unreachable', events: ['task.completed'] });
      const message = 'write downloads/mine.txt\nonly in this task\nEOF\nwrite downloads/again.txt\nsecond version soon\nEOF';
      const created = await api.request('POST', '/api/v1/tasks', { body: form({ message }, [{ name: 'shared.txt', content: 'shared bytes' }]) });
      const id = created.body.data.id;
      await api.waitForEnd(id);
      await api.post(`/api/v1/tasks/${id}/messages`, { message: 'write downloads/again.txt\nversion two\nEOF' });
      await api.waitForEnd(id);
      const other = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'keep me' }, [{ name: 'shared.txt', content: 'shared bytes' }]) });
      await api.waitForEnd(other.body.data.id);

      const before = await rowsOf(id);
      for (const table of ['events', 'messages', 'model_messages', 'artifacts', 'artifact_versions', 'webhook_deliveries', 'tasks']) assert.ok(before[table]! > 0, `the task has ${table} rows to remove`);
      const total = (await api.get('/api/v1/tasks?limit=1')).body.pagination.total;
      const blobsBefore = await storedBlobs(kiln, backend);
      assert.ok(blobsBefore.has(sha256('only in this task\n')));
      assert.ok(fs.existsSync(path.join(kiln.dataDir, 'workspaces', id)));

      const purged = await api.request('POST', `/api/v1/tasks/${id}/purge`);
      assert.equal(purged.status, 200);
      assert.deepEqual(purged.body, { success: true, data: { id, purged: true } });

      assert.deepEqual(Object.values(await rowsOf(id)), Array(TASK_TABLES.length + 1).fill(0));
      assert.equal((await api.get(`/api/v1/tasks/${id}`)).status, 404);
      assert.equal((await api.get('/api/v1/tasks?limit=1')).body.pagination.total, total - 1);
      assert.equal(fs.existsSync(path.join(kiln.dataDir, 'workspaces', id)), false, 'the workspace is gone');
      const blobsAfter = await storedBlobs(kiln, backend);
      for (const gone of ['only in this task\n', 'second version soon\n', 'version two\n']) assert.equal(blobsAfter.has(sha256(gone)), false);
      assert.ok(blobsAfter.has(sha256('shared bytes')), 'a blob another task still refers to stays');
      const download = await api.get(`/api/v1/tasks/${other.body.data.id}/artifacts/download?path=uploads/shared.txt`);
      assert.equal(download.body, 'shared bytes');
      await assertNothingOrphaned();
      assert.equal((await api.request('POST', `/api/v1/tasks/${id}/purge`)).status, 404, 'a removed task is not found');
    });

    test('refuses to purge a task that is still executing, and another user\'s task', async () => {
      const waiting = await api.createTask({ message: '$ echo hi', autoExecute: false });
      while ((await api.get(`/api/v1/tasks/${waiting}`)).body.data.status !== 'awaiting_approval') await new Promise((r) => setTimeout(r, 50));
      const refused = await api.request('POST', `/api/v1/tasks/${waiting}/purge`);
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'CONFLICT');
      assert.match(refused.body.error.message, /cancel it first/);
      const eve = new Api(kiln.url, (await api.post('/api/v1/keys', { userId: 'eve' })).body.data.key);
      assert.equal((await eve.request('POST', `/api/v1/tasks/${waiting}/purge`)).status, 404);
      await api.request('DELETE', `/api/v1/tasks/${waiting}`);
      assert.equal((await api.request('POST', `/api/v1/tasks/${waiting}/purge`)).status, 200, 'once cancelled it can go');
    });

    test('removes tasks idle past KILN_RETENTION_DAYS or their agent\'s retentionDays, and keeps the rest', async () => {
      const keeper = (await api.post('/api/v1/agents', { name: 'keeper', retentionDays: 30 })).body.data;
      assert.equal(keeper.retentionDays, 30);
      const old = await api.createTask({ message: 'write downloads/old.txt\nold bytes\nEOF' });
      const kept = await api.createTask({ message: 'an old task of a patient agent', agentId: keeper.id });
      const recent = await api.createTask({ message: 'recent' });
      for (const id of [old, kept, recent]) await api.waitForEnd(id);
      await kiln.stop();
      // Ten days pass for two of them.
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toISOString();
      if (backend.name === 'postgres') await backend.query('UPDATE tasks SET last_activity_at = $1 WHERE id = ANY($2)', [tenDaysAgo, [old, kept]]);
      else {
        const db = new BetterSqlite3(path.join(kiln.dataDir, 'kiln.db'));
        db.prepare('UPDATE tasks SET last_activity_at = ? WHERE id IN (?, ?)').run(tenDaysAgo, old, kept);
        db.close();
      }
      kiln = await kiln.restart();
      api = Api.of(kiln);
      // The sweep runs at start-up; the task goes first, then its blobs.
      while ((await api.get(`/api/v1/tasks/${old}`)).status !== 404 || (await storedBlobs(kiln, backend)).has(sha256('old bytes\n'))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await api.get(`/api/v1/tasks/${kept}`)).status, 200, "the agent's 30 days win over the server's 1");
      assert.equal((await api.get(`/api/v1/tasks/${recent}`)).status, 200);
      await assertNothingOrphaned();
    });
  });
}
