import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { kilnCli, newKey, startKiln, tempDir } from './helpers/kiln-process.js';

describe('the kiln command', () => {
  it('refuses a bad setting at start-up with a message that names it', async () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ PORT: 'eighty' }, [], /PORT must be a whole number/],
      [{ PORT: '70000' }, [], /PORT must be between 0 and 65535/],
      [{ KILN_CONCURRENCY: '0' }, [], /KILN_CONCURRENCY must be between 1/],
      [{ KILN_HEAP_HEADROOM_PERCENT: '1000' }, [], /KILN_HEAP_HEADROOM_PERCENT must be between 0 and 300/],
      [{ KILN_API_KEY: 'secret' }, [], /KILN_API_KEY must be "kiln_" followed by 64/],
      [{ KILN_MODEL: 'nonsense:model' }, [], /KILN_MODEL="nonsense:model"/],
      [{ KILN_LOG_LEVEL: 'loud' }, [], /KILN_LOG_LEVEL must be one of/],
      [{}, ['--concurrency', 'many'], /--concurrency must be a whole number/],
      [{}, ['--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [env, args, message] of cases) {
      const result = await kilnCli(['serve', ...args], { KILN_DATA_DIR: tempDir(), ...env });
      assert.equal(result.code, 2, `${JSON.stringify(env)} ${args.join(' ')}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('says plainly when the PostgreSQL of DATABASE_URL cannot be reached, and exits', async () => {
    // A port nothing listens on: a listener opened and closed again.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const result = await kilnCli(['serve'], { KILN_DATA_DIR: tempDir(), DATABASE_URL: `postgres://kiln:hunter2@127.0.0.1:${port}/kiln` });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): the connection was refused`));
    assert.match(result.stderr, /Start PostgreSQL there, or fix DATABASE_URL/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(result.stderr.includes('hunter2'), false, 'the password is not shown');
  });

  it('lets flags override the environment', async () => {
    const kiln = await startKiln({ env: { PORT: 'not-a-port', KILN_CONCURRENCY: '0' }, args: ['--concurrency', '2'] });
    try {
      assert.equal((await fetch(`${kiln.url}/healthz`)).status, 200);
      assert.match(kiln.logs(), /concurrency=2/);
    } finally {
      await kiln.stop();
    }
  });

  it('says at start-up which model answers, and that the offline one is canned', async () => {
    const kiln = await startKiln();
    try {
      assert.match(kiln.logs(), /model=offline/);
      assert.match(kiln.logs(), /canned answers/);
    } finally {
      await kiln.stop();
    }
  });

  it('creates an API key for a user, printed as the last line, that the server accepts', async () => {
    const kiln = await startKiln();
    try {
      const result = await kilnCli(['keys', 'create', '--user', 'carol'], { KILN_DATA_DIR: kiln.dataDir });
      assert.equal(result.code, 0);
      const key = result.stdout.trim().split('\n').pop()!;
      assert.match(key, /^kiln_[0-9a-f]{64}$/);
      const api = new Api(kiln.url, key);
      const id = await api.createTask({ message: 'who am i' });
      assert.equal((await api.get(`/api/v1/tasks/${id}`)).body.data.username, 'carol');
    } finally {
      await kiln.stop();
    }
    const missing = await kilnCli(['keys', 'create'], { KILN_DATA_DIR: tempDir() });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--user NAME is required/);
  });

  it('explains itself with --help and refuses unknown commands', async () => {
    const help = await kilnCli(['--help']);
    assert.equal(help.code, 0);
    for (const word of ['kiln serve', 'kiln keys create --user NAME', 'PORT', 'KILN_DATA_DIR', 'KILN_API_KEY', 'KILN_MODEL', 'KILN_CONCURRENCY', '--data-dir']) {
      assert.ok(help.stdout.includes(word), `--help mentions ${word}`);
    }
    const unknown = await kilnCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  it('accepts KILN_API_KEY for user default', async () => {
    const key = newKey();
    const kiln = await startKiln({}, key);
    try {
      const api = new Api(kiln.url, key);
      const id = await api.createTask({ message: 'hi' });
      assert.equal((await api.get(`/api/v1/tasks/${id}`)).body.data.username, 'default');
    } finally {
      await kiln.stop();
    }
  });
});
