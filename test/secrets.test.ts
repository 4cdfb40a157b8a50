import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
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
