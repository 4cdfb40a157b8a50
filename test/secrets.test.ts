import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SecretClient } from '../src/adapters/http/secret-client.js';
import { SignedUrls } from '../src/core/artifacts/signed-urls.js';
import { Api } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

const SECRET = 'sk-live-7Hq2Zp9Wv4Xc';

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('secrets', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('reach the command environment but never the database, the logs or any response', async () => {
    const id = await api.createTask({
      message: '$ test "$API_TOKEN" = "$EXPECTED_LEN_CHECK" || echo "token=$API_TOKEN"\n$ printenv API_TOKEN | wc -c',
      env: { REGION: 'eu-west', API_TOKEN: 'env-loses-to-secret' },
      secrets: { API_TOKEN: SECRET },
    });
    const streamed = await api.events(id);
    const results = streamed.filter((e) => e.event === 'tool_result').map((e) => e.data.output);
    assert.equal(results[0], 'token=[redacted]\n[exit code 0]', 'the command saw the secret (the secret wins over env), output redacted');
    assert.equal(results[1], `${SECRET.length + 1}\n[exit code 0]`);

    const responses = [
      JSON.stringify(streamed),
      JSON.stringify((await api.get(`/api/v1/tasks/${id}`)).body),
      JSON.stringify((await api.get(`/api/v1/tasks/${id}/history`)).body),
      JSON.stringify((await api.get('/api/v1/tasks')).body),
      JSON.stringify(await api.streamAll(id, 0)),
    ];
    for (const text of responses) assert.equal(text.includes(SECRET), false);
    assert.deepEqual((await api.get(`/api/v1/tasks/${id}`)).body.data.env, { REGION: 'eu-west', API_TOKEN: 'env-loses-to-secret' });

    await kiln.stop();
    for (const file of filesUnder(kiln.dataDir)) {
      assert.equal(fs.readFileSync(file).includes(Buffer.from(SECRET)), false, `${file} must not hold the secret`);
    }
    assert.equal(kiln.logs().includes(SECRET), false, 'logs must not hold the secret');
    kiln = await kiln.restart();
    api = Api.of(kiln);
  });

  it('are redacted from a failing command\'s output and from the error the model sees', async () => {
    const id = await api.createTask({ message: '$ echo "using $DB_PASSWORD"; exit 3', secrets: { DB_PASSWORD: 'correct-horse-battery' } });
    const events = await api.events(id);
    const result = events.find((e) => e.event === 'tool_result')!.data;
    assert.equal(result.status, 'error');
    assert.equal(result.output, 'using [redacted]\n[exit code 3]');
    assert.equal(events[events.length - 1]!.data.finalResponse, 'run_command: error: using [redacted]');
  });

  it('can be sent again with a follow-up after a restart forgot them', async () => {
    const id = await api.createTask({ message: '$ echo ${TOKEN:-missing}', secrets: { TOKEN: 'first-secret-value' } });
    await api.waitForEnd(id);
    await kiln.stop();
    kiln = await kiln.restart();
    api = Api.of(kiln);
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo ${TOKEN:-missing}' });
    let events = await api.events(id);
    assert.equal(events.filter((e) => e.event === 'tool_result').pop()!.data.output, 'missing\n[exit code 0]');
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo ${TOKEN:-missing}', secrets: { TOKEN: 'second-secret-value' } });
    events = await api.events(id);
    assert.equal(events.filter((e) => e.event === 'tool_result').pop()!.data.output, '[redacted]\n[exit code 0]');
  });
});

describe('secrets in command output cut at the output limit', () => {
  it('are redacted even when the cut falls inside a secret', async () => {
    const kiln = await startKiln({ env: { KILN_COMMAND_OUTPUT_LIMIT: '1024' } });
    try {
      const api = Api.of(kiln);
      // 1016 bytes, then the secret: the 1024-byte cut keeps its first 8 characters.
      const id = await api.createTask({ message: `$ head -c 1016 /dev/zero | tr '\\0' x; printf %s "$TOKEN"`, secrets: { TOKEN: SECRET } });
      const output: string = (await api.events(id)).find((e) => e.event === 'tool_result')!.data.output;
      assert.match(output, /^x{1016}\[redacted\]\n\.\.\. \(12 more bytes of output dropped\)/);
      assert.equal(output.includes(SECRET.slice(0, 4)), false, 'no part of the secret is kept');
    } finally {
      await kiln.stop();
    }
  });
});

/** Waits (by polling the task) until it waits for approval of a call; returns the call's id. */
async function awaitingCall(api: Api, id: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const task = (await api.get(`/api/v1/tasks/${id}`)).body.data;
    if (task.status === 'awaiting_approval' && task.pendingApprovals?.length) return task.pendingApprovals[0].callId;
    await sleep(10);
  }
  throw new Error(`task ${id} never waited for approval`);
}

describe('how long secrets are held', () => {
  const signingKey = 'cd'.repeat(32);
  let kiln: KilnServer;
  let api: Api;
  /** Asks the server for a task's secrets the way a worker process does: null once it holds none. */
  const held = (id: string) => new SecretClient(new SignedUrls(Buffer.from(signingKey, 'hex'), 60_000)).fetch(kiln.url, id);
  const lastOutput = async (id: string) => (await api.events(id)).filter((e) => e.event === 'tool_result').pop()!.data.output;
  before(async () => {
    kiln = await startKiln({ env: { KILN_SIGNING_KEY: signingKey, KILN_SECRETS_MAX_BYTES: '1024' } });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('lets go of them when the turn they came with ends: a follow-up without secrets runs without them', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await api.createTask({ message: '$ echo ${MY_SECRET:-empty}', secrets: { MY_SECRET: `secret-number-${i}` } }));
    for (const id of ids) {
      assert.equal(await lastOutput(id), '[redacted]\n[exit code 0]');
      assert.equal(await held(id), null, 'nothing is held once the turn completed');
    }
    const id = ids[0]!;
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo ${MY_SECRET:-empty}' });
    assert.equal(await lastOutput(id), 'empty\n[exit code 0]');
    await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo ${MY_SECRET:-empty}', secrets: { MY_SECRET: 'sent-again-value' } });
    assert.equal(await lastOutput(id), '[redacted]\n[exit code 0]', 'a follow-up may send them again');
    assert.equal(await held(id), null);

    const failing = await api.createTask({ message: '$ echo $MY_SECRET\nfail on purpose', secrets: { MY_SECRET: 'secret-of-a-failure' } });
    assert.equal((await api.waitForEnd(failing)).event, 'error');
    assert.equal(await held(failing), null, 'nor once it failed');
  });

  it('keeps them while the turn waits for approval, until it is decided or cancelled', async () => {
    const id = await api.createTask({ message: '$ echo ${MY_SECRET:-empty}', secrets: { MY_SECRET: 'approved-secret' }, autoExecute: false });
    const callId = await awaitingCall(api, id);
    assert.deepEqual(await held(id), { MY_SECRET: 'approved-secret' }, 'held while waiting');
    await api.post(`/api/v1/tasks/${id}/tools/${callId}/approve`, { outcome: 'proceed_once' });
    assert.equal(await lastOutput(id), '[redacted]\n[exit code 0]', 'the approved command had the secret');
    assert.equal(await held(id), null, 'gone once the decided turn completed');

    const cancelled = await api.createTask({ message: '$ echo ${MY_SECRET:-empty}', secrets: { MY_SECRET: 'cancelled-secret' }, autoExecute: false });
    await awaitingCall(api, cancelled);
    assert.equal((await api.request('DELETE', `/api/v1/tasks/${cancelled}`)).status, 200);
    assert.equal(await held(cancelled), null, 'gone once the waiting turn was cancelled');
  });

  it('refuses secrets over the size limit, storing nothing', async () => {
    const before = (await api.get('/api/v1/tasks')).body.pagination.total;
    const big = { A_NAME: 'v'.repeat(600), B_NAME: 'w'.repeat(600) };
    const refused = await api.post('/api/v1/tasks', { message: '$ echo $A_NAME', secrets: big });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'VALIDATION_ERROR');
    assert.match(refused.body.error.message, /secrets: 1212 bytes .* at most 1024 bytes/);
    assert.equal((await api.get('/api/v1/tasks')).body.pagination.total, before, 'no task was created');

    const id = await api.createTask({ message: 'hello' });
    await api.waitForEnd(id);
    const followUp = await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo $A_NAME', secrets: big });
    assert.equal(followUp.status, 400);
    assert.equal(followUp.body.error.code, 'VALIDATION_ERROR');
    const history = (await api.get(`/api/v1/tasks/${id}/history`)).body.data;
    assert.deepEqual([history.status, history.messages.length], ['completed', 2], 'no turn was started');
  });
});
