import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SecretClient } from '../src/adapters/http/secret-client.js';
import { SignedUrls } from '../src/core/artifacts/signed-urls.js';
import { Api, type SseEvent } from './helpers/api.js';
import { newKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { dropSchema, schemaName, TEST_DATABASE_URL } from './helpers/postgres.js';
import { needs, postgres, sandbox } from './helpers/requirements.js';
import { S3_CREDENTIALS, startS3 } from './helpers/s3.js';

const TASKS = 50;
const SIGNING_KEY = 'ab'.repeat(32);
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface Driven {
  i: number;
  id: string;
  /** Every logged event this client's streams delivered, in order. */
  seen: SseEvent[];
  turns: number;
}

/**
 * Two API processes and two worker processes on one PostgreSQL and one S3 server. Tasks are
 * created through API A and watched, approved and followed up through API B, which runs no
 * turns; one worker is killed with SIGKILL while it holds turns.
 */
describe('scale-out: 2 API and 2 worker processes on PostgreSQL and S3', needs(postgres, sandbox), () => {
  const schema = schemaName('scale out');
  const key = newKey();
  let s3: Awaited<ReturnType<typeof startS3>>;
  let apiA: KilnServer;
  let apiB: KilnServer;
  let workers: KilnServer[] = [];
  let passed = false;

  before(async () => {
    s3 = await startS3();
    const env = {
      DATABASE_URL: TEST_DATABASE_URL,
      KILN_DB_SCHEMA: schema,
      KILN_BLOB_STORE: `s3://${s3.bucket}/e2e`,
      S3_ENDPOINT: s3.endpoint,
      ...S3_CREDENTIALS,
      KILN_LEASE_MS: '2000',
      KILN_LOG_LEVEL: 'info',
      KILN_SIGNING_KEY: SIGNING_KEY,
    };
    // One process first, so that it migrates; the others start together.
    apiA = await startKiln({ env, args: ['--role', 'api'] }, key);
    [apiB, ...workers] = await Promise.all([
      startKiln({ env, args: ['--role', 'api'] }, key),
      startKiln({ env: { ...env, KILN_CONCURRENCY: '8' }, args: ['--role', 'worker'] }, key),
      startKiln({ env: { ...env, KILN_CONCURRENCY: '8' }, args: ['--role', 'worker'] }, key),
    ]);
  });

  after(async () => {
    await Promise.all([apiA, apiB, ...workers].filter(Boolean).map((k) => k.stop()));
    await s3?.stop();
    if (passed) await dropSchema(schema);
    else process.stderr.write(`# kept PostgreSQL schema ${schema} of the scale-out test\n`);
  });

  it('ends every task truthfully, streams every event exactly once, and serves every artifact with its hash', async () => {
    const a = new Api(apiA.url, key);
    const b = new Api(apiB.url, key);
    assert.equal((await fetch(`${workers[0]!.url}/api/v1/tasks`)).status, 404, 'workers serve no API');

    const drivers: Promise<Driven>[] = [];
    for (let i = 0; i < TASKS; i++) drivers.push(drive(i, a, b));

    // Kill a worker once some first turns have completed (their follow-ups must then run on the
    // other worker) and both workers hold turns (so the kill interrupts some).
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
    await db.connect();
    try {
      for (let i = 0; i < 400; i++) {
        const owners = await db.query('SELECT DISTINCT lease_owner FROM tasks WHERE lease_owner IS NOT NULL');
        const done = await db.query("SELECT count(*)::int AS n FROM tasks WHERE status = 'completed'");
        if (owners.rowCount === 2 && done.rows[0].n >= 12) break;
        await sleep(25);
      }
      await workers[0]!.kill();
    } finally {
      await db.end();
    }

    const driven = await Promise.all(drivers);
    let interrupted = 0;
    let restored = 0;
    let cancelled = 0;
    for (const { i, id, seen, turns } of driven) {
      const task = (await b.get(`/api/v1/tasks/${id}`)).body.data;
      assert.ok(['completed', 'failed', 'cancelled'].includes(task.status), `task ${id} ended (${task.status})`);
      const log = await b.events(id);
      if (i % 10 === 7 && task.status === 'cancelled') {
        assert.equal(log.at(-1)!.event, 'cancelled');
        if ([...workers].some((w) => w.logs().includes(`turn cancelled task=${id}`))) cancelled++;
      }
      assert.deepEqual(seen.map((e) => e.id), log.map((e) => e.id), `task ${id}: the streams delivered every logged event exactly once, in order`);
      const terminals = log.filter((e) => ['done', 'error', 'cancelled'].includes(e.event));
      assert.equal(terminals.length, turns, `task ${id}: one terminal event per turn`);
      for (const end of terminals) {
        if (end.event === 'error') {
          assert.equal(end.data.code, 'INTERRUPTED', `task ${id} failed only because its worker died: ${end.data.message}`);
          interrupted++;
        }
      }
      if (task.status === 'failed') assert.match(task.error, /interrupted/);
      const secondTurn = log.slice(log.indexOf(terminals[0]!) + 1);
      if (turns === 2 && terminals[0]!.event === 'done' && secondTurn.at(-1)?.event === 'done') {
        // The follow-up may run on another worker: it finds the first turn's files all the same.
        const results = secondTurn.filter((e) => e.event === 'tool_result').map((e) => e.data.output);
        assert.equal(results[0], `content of task ${i}\n`, `task ${id}: the workspace was there for the follow-up`);
        assert.match(results[1], /: OK/);
        restored++;
      }

      const files = (await b.get(`/api/v1/tasks/${id}/artifacts`)).body.data.files;
      for (const file of files) {
        const response = await fetch(`${apiA.url}/api/v1/tasks/${id}/artifacts/download?path=${encodeURIComponent(file.path)}`, { headers: a.headers() });
        const body = Buffer.from(await response.arrayBuffer());
        assert.equal(response.status, 200);
        assert.equal(sha256(body), file.sha256, `${id} ${file.path}`);
      }
    }
    assert.ok(interrupted >= 1, 'the killed worker was running at least one turn');
    assert.ok(restored >= 1, 'at least one follow-up ran and found its files');
    assert.ok(cancelled >= 1, 'a cancel made on an API process stopped the turn on the worker running it');
    assert.match(workers[1]!.logs(), /workspace brought up to date from the blob store/, 'a follow-up ran on another worker than its first turn');
    const completed = driven.filter((d) => d.seen.at(-1)?.event === 'done').length;
    assert.ok(completed >= TASKS / 2, `most tasks completed (${completed} of ${TASKS})`);
    passed = true;
  });

  it('makes a task with its agent as last changed, whichever API process changed it', async () => {
    passed = false;
    const [a, b] = [new Api(apiA.url, key), new Api(apiB.url, key)];
    const agent = (await a.post('/api/v1/agents', { name: 'Changing', autoExecute: true, toolPolicy: { read_file: 'allow' } })).body.data;
    const before = await b.createTask({ message: 'hi', agentId: agent.id });
    assert.equal((await b.get(`/api/v1/tasks/${before}`)).body.data.autoExecute, true);
    assert.equal((await a.request('PATCH', `/api/v1/agents/${agent.id}`, { json: { autoExecute: false, toolPolicy: { run_command: 'deny' } } })).status, 200);
    const after = (await b.get(`/api/v1/tasks/${await b.createTask({ message: 'hi', agentId: agent.id })}`)).body.data;
    assert.equal(after.autoExecute, false, 'API B did not use the agent as it knew it');
    assert.deepEqual(after.toolPolicy, { run_command: 'deny' });
    passed = true;
  });

  it('hands a task\'s secrets to the worker that runs it, from the API process that received them, storing them nowhere', async () => {
    passed = false;
    const a = new Api(apiA.url, key);
    const secret = 'sk-scale-out-9f8e7d6c';
    const digest = sha256(secret).slice(0, 16);
    const id = await a.createTask({ message: `$ test "$(printf %s "$TOKEN" | sha256sum | cut -c1-16)" = "${digest}" && echo present-on-the-worker; echo "$TOKEN"`, secrets: { TOKEN: secret } });
    const results = (await a.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data.output);
    assert.equal(results[0], 'present-on-the-worker\n[redacted]\n[exit code 0]');
    // The turn ended on a worker; API A, which received the secrets, hears of it and drops them.
    const holder = new SecretClient(new SignedUrls(Buffer.from(SIGNING_KEY, 'hex'), 60_000));
    let held = await holder.fetch(apiA.url, id);
    for (let i = 0; i < 200 && held !== null; i++) {
      await sleep(25);
      held = await holder.fetch(apiA.url, id);
    }
    assert.equal(held, null, 'the API process holding the secrets let go of them once the turn ended');
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
    await db.connect();
    try {
      for (const table of ['tasks', 'messages', 'events', 'model_messages']) {
        const rows = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${table}::text LIKE $1`, [`%${secret}%`]);
        assert.equal(rows.rows[0].n, 0, `${table} does not hold the secret`);
      }
    } finally {
      await db.end();
    }
    for (const process of [apiA, apiB, ...workers]) assert.equal(process.logs().includes(secret), false);
    passed = true;
  });
});

/**
 * One client's life with one task: create it on API A, watch it on API B (approving tool calls
 * there), send a follow-up on A for every third task, and resume each stream with Last-Event-ID.
 */
async function drive(i: number, a: Api, b: Api): Promise<Driven> {
  const asks = i % 5 === 0;
  const cancels = i % 10 === 7;
  const id = await a.createTask({
    message: cancels
      ? '$ sleep 60'
      : `write downloads/out-${i}.txt\ncontent of task ${i}\nEOF\nsleep 300\n$ sha256sum downloads/out-${i}.txt > downloads/sum-${i}.txt`,
    autoExecute: !asks,
    toolPolicy: asks ? { write_file: 'allow' } : null,
  });
  const seen: SseEvent[] = [];
  const turns = i % 3 === 0 && !cancels ? 2 : 1;
  // From the first event on, whenever this client connects.
  let last = 0;
  for (let turn = 1; turn <= turns; turn++) {
    for (;;) {
      const stream = await b.openStream(id, last);
      let ended = false;
      for (let event = await stream.next(); event; event = await stream.next()) {
        if (event.id === undefined) continue;
        seen.push(event);
        last = event.id;
        if (cancels && event.event === 'tool_call' && event.data.status === 'executing') {
          // Cancelled through the other API process while a worker runs the command.
          assert.equal((await b.request('DELETE', `/api/v1/tasks/${id}`)).status, 200);
        }
        if (event.event === 'tool_call' && event.data.status === 'awaiting_approval') {
          const response = await b.post(`/api/v1/tasks/${id}/tools/${event.data.callId}/approve`, { outcome: 'proceed_once' });
          assert.ok([200, 409].includes(response.status), JSON.stringify(response.body));
        }
        if (['done', 'error', 'cancelled'].includes(event.event)) ended = true;
      }
      if (ended) break;
    }
    if (turn < turns) {
      const followUp = await a.post(`/api/v1/tasks/${id}/messages`, { message: `cat downloads/out-${i}.txt\n$ sha256sum -c downloads/sum-${i}.txt` });
      assert.equal(followUp.status, 200, JSON.stringify(followUp.body));
    }
  }
  return { i, id, seen, turns };
}
