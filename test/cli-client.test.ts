import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Kiln } from '@kiln/sdk';
import { CLI, kilnCli, startKiln, tempDir, type KilnServer } from './helpers/kiln-process.js';

const run = promisify(execFile);

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The `kiln` command in a real terminal (a tmux pane), driven from the keyboard. */
class Terminal {
  private constructor(
    readonly session: string,
    private readonly done: string,
  ) {}

  static async start(args: string[], env: Record<string, string>): Promise<Terminal> {
    const session = `kiln-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const done = path.join(tempDir(), 'exit-code');
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const exports = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
    const script = `env ${exports} ${quoted}; echo $? > ${done}; sleep 600`;
    await run('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '40', script]);
    return new Terminal(session, done);
  }

  async screen(): Promise<string> {
    return (await run('tmux', ['capture-pane', '-p', '-t', this.session])).stdout;
  }

  async keys(...keys: string[]): Promise<void> {
    await run('tmux', ['send-keys', '-t', this.session, ...keys]);
  }

  /** Waits until the screen shows `pattern` (the test runner's timeout bounds it). */
  async waitFor(pattern: RegExp): Promise<string> {
    for (;;) {
      const screen = await this.screen();
      if (pattern.test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async exitCode(): Promise<number> {
    for (;;) {
      if (fs.existsSync(this.done)) {
        const text = fs.readFileSync(this.done, 'utf8').trim();
        if (text) return Number(text);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await run('tmux', ['kill-session', '-t', this.session]).catch(() => undefined);
  }
}

describe('kiln client commands', () => {
  let server: KilnServer;
  let env: Record<string, string>;
  let kiln: Kiln;
  before(async () => {
    server = await startKiln();
    env = { KILN_URL: server.url, KILN_API_KEY: server.key, XDG_CONFIG_HOME: tempDir() };
    kiln = new Kiln({ baseUrl: server.url, apiKey: server.key });
  });
  after(() => server.stop());

  it('says what to do when no server is configured, and when the key is refused', async () => {
    const none = await kilnCli(['tasks'], { XDG_CONFIG_HOME: tempDir() });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no server configured.*set KILN_URL and KILN_API_KEY, or run `kiln login`/);
    const refused = await kilnCli(['tasks'], { ...env, KILN_API_KEY: `kiln_${'1'.repeat(64)}` });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused the API key \(INVALID_API_KEY/);
    const down = await kilnCli(['tasks'], { ...env, KILN_URL: 'http://127.0.0.1:9' });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Could not reach Kiln at http:\/\/127\.0\.0\.1:9.*Is the server running\?/);
    for (const result of [none, refused, down]) assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('runs a task to its end, and prints tasks, a task and its files as JSON', async () => {
    const ran = await kilnCli(['run', 'write notes/a.txt\nhello\nEOF'], env);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /write_file: success/, 'the answer on stdout');
    assert.match(ran.stderr, /✓ completed/);
    assert.doesNotMatch(ran.stderr, /\x1b\[/, 'no colours off a terminal');
    const id = /task ([0-9a-f-]{36})/.exec(ran.stderr)![1]!;

    const tasks = JSON.parse((await kilnCli(['tasks', '--json', '--limit', '5'], env)).stdout);
    assert.equal(tasks[0].id, id);
    assert.equal(tasks[0].status, 'completed');
    const failed = JSON.parse((await kilnCli(['tasks', '--json', '--status', 'failed'], env)).stdout);
    assert.deepEqual(failed, []);
    const shown = JSON.parse((await kilnCli(['show', id, '--json'], env)).stdout);
    assert.equal(shown.id, id);
    assert.equal(shown.output.content, 'write_file: success');
    const files = JSON.parse((await kilnCli(['files', id, '--json'], env)).stdout);
    assert.deepEqual(files.map((f: { path: string }) => f.path), ['notes/a.txt']);

    const dir = tempDir();
    const downloaded = await kilnCli(['download', id, '--all', '-o', dir, '--json'], env);
    assert.equal(downloaded.code, 0, downloaded.stderr);
    assert.equal(fs.readFileSync(path.join(dir, 'notes', 'a.txt'), 'utf8'), 'hello\n');
    assert.equal(JSON.parse(downloaded.stdout)[0].sha256, files[0].sha256);

    const failing = await kilnCli(['run', 'fail on purpose', '--json'], env);
    assert.equal(failing.code, 1);
    const events = failing.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events[0].event, 'created');
    assert.equal(events.at(-1).event, 'error');

    const missing = await kilnCli(['show', '00000000-0000-4000-8000-000000000000'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NOT_FOUND/);
  });

  it('sends follow-ups, decides approvals and cancels from the command line', async () => {
    const { id } = await kiln.tasks.create({ message: 'write b.txt\nx\nEOF', autoExecute: false });
    let callId: string | undefined;
    for await (const e of kiln.tasks.stream(id)) {
      if (e.event === 'tool_call' && e.data.status === 'awaiting_approval') callId = e.data.callId;
      if (e.event === 'status' && e.data.status === 'awaiting_approval') break;
    }
    const approved = await kilnCli(['approve', id, callId!, 'always', '--json'], env);
    assert.deepEqual(JSON.parse(approved.stdout), { approved: true });
    const watched = await kilnCli(['watch', id], env);
    assert.equal(watched.code, 0);
    assert.match(watched.stderr, /✓ completed/);
    const sent = await kilnCli(['send', id, 'a follow-up'], env);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /Echo: a follow-up/);

    const slow = await kiln.tasks.create({ message: 'sleep 30000' });
    const cancelled = await kilnCli(['cancel', slow.id, '--json'], env);
    assert.equal(cancelled.code, 0);
    assert.equal((await kiln.tasks.get(slow.id)).status, 'cancelled');
    assert.equal((await kilnCli(['watch', slow.id], env)).code, 3, 'watching a cancelled task exits 3');
    assert.equal((await kilnCli(['approve', id, 'call', 'maybe'], env)).code, 2);
  });

  it('logs in: checks the key, then saves URL and key in a file only the user can read', async () => {
    const config = tempDir();
    const refused = await kilnCli(['login', '--url', server.url, '--key', `kiln_${'2'.repeat(64)}`], { XDG_CONFIG_HOME: config });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused this key.*nothing was saved/);
    assert.equal(fs.existsSync(path.join(config, 'kiln', 'config.json')), false);

    const ok = await kilnCli(['login', '--url', server.url, '--key', server.key], { XDG_CONFIG_HOME: config });
    assert.equal(ok.code, 0, ok.stderr);
    const file = path.join(config, 'kiln', 'config.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { url: server.url, apiKey: server.key });
    const listed = await kilnCli(['agents', '--json'], { XDG_CONFIG_HOME: config });
    assert.equal(listed.code, 0, 'later commands use the saved settings');
    assert.ok(JSON.parse(listed.stdout).some((a: { isDefault: boolean }) => a.isDefault));
  });

  it('keeps `kiln keys create --user` a local bootstrap, even with a server configured', async () => {
    const result = await kilnCli(['keys', 'create', '--user', 'dora'], { ...env, KILN_DATA_DIR: server.dataDir });
    assert.equal(result.code, 0, result.stderr);
    const key = result.stdout.trim().split('\n').pop()!;
    const dora = new Kiln({ baseUrl: server.url, apiKey: key });
    const { id } = await dora.tasks.create({ message: 'who' });
    assert.equal((await dora.tasks.get(id)).username, 'dora');
  });

  it('answers an approval from the keyboard in a terminal', { timeout: 60_000 }, async (t) => {
    if (!hasTmux()) return t.skip('tmux is not installed: the terminal tests need it (apt-get install tmux)');
    const term = await Terminal.start(['run', '--no-auto', 'write typed.txt\nfrom the keyboard\nEOF'], env);
    try {
      await term.waitFor(/Allow write_file typed\.txt .*\[o\]nce, \[a\]lways, \[n\]o/);
      await term.keys('o', 'Enter');
      assert.equal(await term.exitCode(), 0);
      const screen = await term.screen();
      assert.match(screen, /approved \(once\)/);
      assert.match(screen, /✓ completed/);
      const id = /task ([0-9a-f-]{36})/.exec(screen)![1]!;
      assert.equal(new TextDecoder().decode(await kiln.artifacts.bytes(id, 'typed.txt')), 'from the keyboard\n');
    } finally {
      await term.close();
    }
  });

  it('detaches on Ctrl-C twice in a terminal, leaving the task running', { timeout: 60_000 }, async (t) => {
    if (!hasTmux()) return t.skip('tmux is not installed: the terminal tests need it (apt-get install tmux)');
    const term = await Terminal.start(['run', 'sleep 30000'], env);
    try {
      const started = await term.waitFor(/task [0-9a-f-]{36}/);
      const id = /task ([0-9a-f-]{36})/.exec(started)![1]!;
      await term.keys('C-c');
      await term.waitFor(/Cancel the task \(c\), detach and leave it running \(d\)/);
      await term.keys('C-c');
      assert.equal(await term.exitCode(), 0);
      assert.match(await term.screen(), /Detached: task .* keeps running\. Re-attach with `kiln watch/);
      assert.equal((await kiln.tasks.get(id)).status, 'running');
      await kiln.tasks.cancel(id);
    } finally {
      await term.close();
    }
  });

  it('cancels the task on Ctrl-C then "c" in a terminal, and exits non-zero', { timeout: 60_000 }, async (t) => {
    if (!hasTmux()) return t.skip('tmux is not installed: the terminal tests need it (apt-get install tmux)');
    const term = await Terminal.start(['run', 'sleep 30000'], env);
    try {
      const started = await term.waitFor(/task [0-9a-f-]{36}/);
      const id = /task ([0-9a-f-]{36})/.exec(started)![1]!;
      await term.keys('C-c');
      await term.waitFor(/Cancel the task \(c\)/);
      await term.keys('c', 'Enter');
      assert.equal(await term.exitCode(), 3);
      assert.equal((await kiln.tasks.get(id)).status, 'cancelled');
    } finally {
      await term.close();
    }
  });
});
