import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, type SseEvent } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

function results(events: SseEvent[]) {
  return events.filter((e) => e.event === 'tool_result').map((e) => e.data);
}

describe('agent tools', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln({ env: { KILN_COMMAND_TIMEOUT_MS: '700', KILN_COMMAND_OUTPUT_LIMIT: '2048' } });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('work inside the workspace: write, list, read, run', async () => {
    const id = await api.createTask({ message: 'write downloads/report.md\n# Report\nEOF\nls downloads\ncat downloads/report.md\n$ wc -l < downloads/report.md\nls' });
    const out = results(await api.events(id));
    assert.deepEqual(out.map((r) => r.status), ['success', 'success', 'success', 'success', 'success']);
    assert.equal(out[1].output, 'report.md  (9 bytes)');
    assert.equal(out[2].output, '# Report\n');
    assert.equal(out[3].output, '1\n[exit code 0]');
    assert.equal(out[4].output, 'downloads/\nuploads/');
    assert.equal(fs.readFileSync(path.join(kiln.dataDir, 'workspaces', id, 'downloads', 'report.md'), 'utf8'), '# Report\n');
  });

  it('refuse paths that leave the workspace, and write nothing there', async () => {
    const id = await api.createTask({
      message: ['cat ../../kiln.db', 'cat /etc/passwd', 'write ../escape.txt\nx\nEOF', 'ls ..', '$ ln -s /etc outside', 'cat outside/passwd', 'write outside/evil\nx\nEOF'].join('\n'),
    });
    const out = results(await api.events(id));
    assert.deepEqual(out.map((r) => r.status), ['error', 'error', 'error', 'error', 'success', 'error', 'error']);
    assert.match(out[0].output, /outside the workspace/);
    assert.match(out[1].output, /is absolute/);
    assert.match(out[5].output, /symbolic link is in the way at "outside"/);
    assert.equal(fs.existsSync(path.join(kiln.dataDir, 'workspaces', 'escape.txt')), false);
    assert.equal(fs.existsSync('/etc/evil'), false);
  });

  it('give commands only the task env, not the server\'s', async () => {
    const id = await api.createTask({ message: '$ env | sort', env: { MY_SETTING: 'on' } });
    const [result] = results(await api.events(id));
    assert.match(result.output, /MY_SETTING=on/);
    assert.doesNotMatch(result.output, /KILN_/);
    assert.match(result.output, /HOME=\/workspace\n/);
    assert.doesNotMatch(result.output, new RegExp(kiln.dataDir), 'the host path of the data dir is not revealed');
  });

  it('stop a command at its time limit with an error that says so', async () => {
    const id = await api.createTask({ message: '$ sleep 30' });
    const [result] = results(await api.events(id));
    assert.equal(result.status, 'error');
    assert.match(result.output, /wall time limit of 700 ms/);
  });

  it('cap command output and say how much was dropped', async () => {
    const id = await api.createTask({ message: '$ head -c 100000 /dev/zero | tr "\\0" a' });
    const [result] = results(await api.events(id));
    assert.ok(result.output.length < 2200, `output length ${result.output.length}`);
    assert.match(result.output, /97952 more bytes of output dropped/);
  });

  it('report a failing command as an error with its exit code', async () => {
    const id = await api.createTask({ message: '$ echo oops >&2; exit 4' });
    const [result] = results(await api.events(id));
    assert.deepEqual([result.status, result.output], ['error', 'oops\n[exit code 4]']);
  });
});

/** Host processes whose command line contains `marker`. */
function hostProcessesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

describe('cancelling a running command', needs(sandbox), () => {
  it('kills the command and the processes it started', async () => {
    const kiln = await startKiln();
    const api = Api.of(kiln);
    try {
      const id = await api.createTask({ message: '$ (sleep 61.4242 & sleep 61.4243 & wait) & sleep 61.4244; wait' });
      const stream = await api.openStream(id);
      await stream.readUntil((e) => e.event === 'tool_call');
      while (hostProcessesWith('61.424').length < 3) await sleep(20);
      await api.request('DELETE', `/api/v1/tasks/${id}`);
      const rest = await stream.readAll();
      assert.equal(rest[rest.length - 1]!.event, 'cancelled');
      for (let i = 0; i < 100 && hostProcessesWith('61.424').length > 0; i++) await sleep(20);
      assert.deepEqual(hostProcessesWith('61.424'), [], 'no process of the command is left');
      const call = (await api.get(`/api/v1/tasks/${id}`)).body.data.output.toolCalls[0];
      assert.equal(call.status, 'cancelled');
    } finally {
      await kiln.stop();
    }
  });
});
