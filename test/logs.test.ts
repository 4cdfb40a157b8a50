import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { spawnKiln } from './helpers/kiln-child.js';
import { CLI, ROOT, newKey, startKiln, tempDir } from './helpers/kiln-process.js';

const FIRST_SECRET = 'tok-9fQ2mZ7xLw4Rb8';
const FOLLOW_UP_SECRET = 'pw-Hk3Vn6Tq1Yc5Jd';

/** A task whose commands use its secrets, a failing command that prints one, and a follow-up with another. */
async function runWithSecrets(api: Api): Promise<string> {
  const id = await api.createTask({
    message: '$ test -n "$API_TOKEN" && echo "got $API_TOKEN"\n$ echo "$API_TOKEN" >&2; exit 4',
    secrets: { API_TOKEN: FIRST_SECRET },
  });
  await api.waitForEnd(id);
  const followUp = await api.post(`/api/v1/tasks/${id}/messages`, { message: '$ echo "$DB_PASSWORD" | rev\n$ echo "$DB_PASSWORD"', secrets: { DB_PASSWORD: FOLLOW_UP_SECRET } });
  assert.equal(followUp.status, 200);
  const events = await api.events(id);
  assert.ok(events.some((e) => e.event === 'tool_result' && e.data.output === '[redacted]\n[exit code 0]'), 'the follow-up command saw its secret');
  return id;
}

describe('logs', () => {
  it('with KILN_LOG_FORMAT=json, are one JSON object a line with time, level, message, request id, task and turn', async () => {
    const key = newKey();
    const kiln = await spawnKiln(process.execPath, [CLI, 'serve', '--port', '0'], {
      cwd: ROOT,
      env: { KILN_DATA_DIR: tempDir(), KILN_API_KEY: key, KILN_LOG_LEVEL: 'debug', KILN_LOG_FORMAT: 'json' },
    });
    const id = await runWithSecrets(new Api(kiln.url, key));
    assert.equal(await kiln.stop(), 0);
    const lines = kiln.logs().trim().split('\n');
    const entries = lines.map((line) => {
      assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
      return JSON.parse(line) as Record<string, unknown>;
    });
    for (const entry of entries) {
      assert.equal(typeof entry.time, 'string');
      assert.ok(!Number.isNaN(Date.parse(entry.time as string)));
      assert.match(entry.level as string, /^(debug|info|warn|error)$/);
      assert.equal(typeof entry.message, 'string');
    }
    assert.ok(entries.some((e) => e.message === 'turn completed' && e.task === id && e.turn === 2), 'turn lines carry task and turn');
    assert.ok(entries.some((e) => e.message === 'request' && typeof e.request === 'string' && e.url === '/api/v1/tasks/:id/messages'), 'request lines carry the request id');
    assert.ok(entries.some((e) => typeof e.message === 'string' && e.message.startsWith('Kiln listening on http://')));
    assert.equal(kiln.logs().includes(FIRST_SECRET), false);
    assert.equal(kiln.logs().includes(FOLLOW_UP_SECRET), false);
  });

  it('in the default text format hold no secret of a task or of its follow-up either', async () => {
    const kiln = await startKiln();
    await runWithSecrets(Api.of(kiln));
    await kiln.stop();
    const logs = kiln.logs();
    assert.match(logs, /^\S+Z info  Kiln listening on http:/m);
    assert.equal(logs.includes(FIRST_SECRET), false);
    assert.equal(logs.includes(FOLLOW_UP_SECRET), false);
  });
});
