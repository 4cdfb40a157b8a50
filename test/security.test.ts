import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';
import { buildZip } from './helpers/zip.js';

/**
 * Attacks on the sandbox, the file tools and the API, each of which must fail while the server
 * stays healthy. Every `attempt(...)` is one attack.
 */
let attempts = 0;
function attempt(): void {
  attempts++;
}
process.on('exit', () => {
  process.stdout.write(`# security suite: ${attempts} attacks attempted, all refused\n`);
});

const LIMITS = {
  KILN_COMMAND_TIMEOUT_MS: '4000',
  KILN_COMMAND_CPU_SECONDS: '1',
  KILN_COMMAND_MEMORY_MB: '256',
  KILN_COMMAND_PROCESSES: '32',
  KILN_COMMAND_FILE_MB: '8',
  KILN_WORKSPACE_MB: '24',
};

describe('security: what a task can reach', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  let secretTask: string;

  /** Runs each command as one step of a single task and returns their results in order. */
  async function commands(...lines: string[]): Promise<{ status: string; output: string }[]> {
    const id = await api.createTask({ message: lines.map((l) => `$ ${l}`).join('\n') });
    const events = await api.events(id);
    return events.filter((e) => e.event === 'tool_result').map((e) => e.data);
  }

  /** Runs file-tool directives and returns their results in order. */
  async function tools(message: string): Promise<{ status: string; output: string }[]> {
    const id = await api.createTask({ message });
    return (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
  }

  async function assertHealthy(): Promise<void> {
    assert.equal((await fetch(`${kiln.url}/healthz`)).status, 200, 'the server is still healthy');
    const [after] = await commands('echo still-working');
    assert.equal(after!.output, 'still-working\n[exit code 0]');
  }

  before(async () => {
    kiln = await startKiln({ env: LIMITS });
    api = Api.of(kiln);
    secretTask = await api.createTask({ message: 'write downloads/secret.txt\nthe-other-tasks-secret\nEOF' });
    await api.waitForEnd(secretTask);
    assert.match(kiln.logs(), /commands run in a bubblewrap sandbox/, 'the sandbox is active in this suite');
  });
  after(() => kiln.stop());

  it('cannot read the host\'s secrets, the database, the server\'s environment or another task\'s files', async () => {
    const otherWorkspace = path.join(kiln.dataDir, 'workspaces', secretTask);
    const results = await commands(
      'cat /etc/shadow',
      `cat ${kiln.dataDir}/kiln.db | head -c 100`,
      `ls ${kiln.dataDir}`,
      'cat /proc/1/environ',
      "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c KILN_ || true",
      `cat ${otherWorkspace}/downloads/secret.txt`,
      'ls /workspace/.. ; find / -name secret.txt -not -path "/proc/*" 2>/dev/null; echo end',
      'ls /root',
      `grep -l 'bin/kiln[.]js' /proc/[0-9]*/cmdline 2>/dev/null | wc -l`,
    );
    for (const r of results) attempt();
    assert.doesNotMatch(results[0]!.output, /root:/);
    assert.notEqual(results[0]!.status, 'success');
    assert.doesNotMatch(results[1]!.output, /SQLite format/);
    assert.match(results[2]!.output, /No such file or directory/);
    assert.doesNotMatch(results[3]!.output, /KILN_API_KEY/);
    assert.match(results[4]!.output, /^0\n/);
    assert.doesNotMatch(results[5]!.output, /the-other-tasks-secret/);
    assert.doesNotMatch(results[6]!.output, /secret\.txt|workspaces/);
    assert.notEqual(results[7]!.status, 'success');
    assert.match(results[8]!.output, /^0\n/, 'the server process is not visible');
  });

  it('cannot write outside its workspace', async () => {
    const marker = `kiln-escape-${process.pid}-${Date.now()}`;
    const results = await commands(
      'touch /usr/evil',
      'echo x > /etc/evil',
      `touch ${kiln.dataDir}/evil`,
      `mkdir -p /tmp/${marker} && echo inside > /tmp/${marker}/f && cat /tmp/${marker}/f`,
      'echo x > /workspace/../evil',
    );
    for (const r of results) attempt();
    assert.notEqual(results[0]!.status, 'success');
    assert.notEqual(results[1]!.status, 'success');
    assert.notEqual(results[2]!.status, 'success');
    assert.equal(results[3]!.status, 'success', '/tmp is private but usable');
    assert.equal(fs.existsSync(`/tmp/${marker}`), false, "the sandbox's /tmp is not the host's");
    assert.equal(fs.existsSync(path.join(kiln.dataDir, 'evil')), false);
    assert.equal(fs.existsSync('/usr/evil') || fs.existsSync('/etc/evil'), false);
    assert.notEqual(results[4]!.status, 'success');
  });

  it('has no network: not the Kiln port, not PostgreSQL, not the outside', async () => {
    const port = new URL(kiln.url).port;
    const external = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '10.0.0.1';
    const probe = (host: string, p: string | number) =>
      `node -e "require('net').connect(${p}, '${host}').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', e => { console.log('refused:', e.code); process.exit(1) })"`;
    const results = await commands(probe('127.0.0.1', port), probe('127.0.0.1', 5432), probe(external, port), 'cat /sys/class/net/*/address 2>/dev/null; ls /sys/class/net 2>/dev/null || true');
    for (const r of results.slice(0, 3)) {
      attempt();
      assert.doesNotMatch(r.output, /CONNECTED/);
    }
    assert.doesNotMatch(results[3]!.output, /eth|ens|veth/);
  });

  it('runs without privileges: another user id, no capabilities, no way to gain any', async () => {
    const [who] = await commands("id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status");
    attempt();
    const [uid, capEff, capBnd, noNewPrivs] = who!.output.split('\n');
    assert.notEqual(uid, '0');
    assert.match(capEff!, /0000000000000000$/);
    assert.match(capBnd!, /0000000000000000$/);
    assert.match(noNewPrivs!, /1$/);
    const [kill] = await commands('kill -9 -1; echo after-kill');
    attempt();
    assert.ok(kill);
    await assertHealthy();
  });

  it('survives a fork bomb, a disk filler, a CPU spinner and a memory hog, naming each limit', async () => {
    const [bomb] = await commands('bomb(){ bomb | bomb & }; bomb; sleep 2');
    attempt();
    assert.match(bomb!.output, /process limit of 32|wall time limit/);
    await assertHealthy();

    const [bigFile, manyFiles] = await commands(
      'head -c 100000000 /dev/zero > big.bin',
      'for i in 1 2 3 4 5 6 7 8 9 10; do head -c 6000000 /dev/urandom > part$i.bin; done; sleep 5',
    );
    // In a task of its own: a full workspace leaves a command no room to write any file, /tmp included.
    const [tmpFill] = await commands(
      // Files under the 8 MB file limit, until the private /tmp (256 MB) is full.
      'for i in $(seq 1 40); do head -c 7000000 /dev/zero > /tmp/fill$i || break; done',
    );
    attempt();
    attempt();
    attempt();
    assert.match(bigFile!.output, /file size limit of 8 MB reached/);
    assert.match(manyFiles!.output, /workspace size limit of 24 MB reached/);
    assert.match(tmpFill!.output, /No space left on device/, 'the private /tmp is capped');
    await assertHealthy();

    const [spin, hog] = await commands('while :; do :; done', 'python3 -c "x = bytearray(600 * 1024 * 1024)"');
    attempt();
    attempt();
    assert.match(spin!.output, /CPU time limit of 1 s reached/);
    assert.equal(hog!.status, 'error');
    assert.match(hog!.output, /memory limit of 256 MB/);
    await assertHealthy();
  });

  it('file tools refuse .., absolute paths, symlinks out and special files', async () => {
    const results = await tools(
      [
        'cat ../../kiln.db',
        'cat /etc/passwd',
        'write ../escape.txt\nx\nEOF',
        'ls ..',
        '$ ln -s / hostroot && ln -s ../../.. up && ln -s /dev/zero zero && mkfifo pipe && ln -s /etc/passwd passwd',
        'cat hostroot/etc/hostname',
        'write hostroot/tmp/kiln-pwned\nx\nEOF',
        'ls up',
        'cat up/kiln.db',
        'cat zero',
        'cat pipe',
        'write pipe\nx\nEOF',
        'cat passwd',
        'write passwd\nx\nEOF',
      ].join('\n'),
    );
    const refused = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    assert.equal(results[4]!.status, 'success', 'the setup command ran');
    for (const i of refused) {
      attempt();
      assert.equal(results[i]!.status, 'error', `attack ${i} refused: ${results[i]!.output}`);
    }
    assert.equal(fs.existsSync('/tmp/kiln-pwned'), false);
    attempt();
    const withNul = await api.request('POST', '/api/v1/tasks', { json: { message: 'cat a\u0000b' } });
    assert.equal(withNul.status, 400, 'a path with a NUL byte never reaches the file tools');
  });

  it('uploads cannot be written through a symlink the agent planted', async () => {
    const id = await api.createTask({ message: '$ ln -s /tmp uploads/evil' });
    await api.waitForEnd(id);
    const zip = buildZip([{ name: 'evil/kiln-upload-pwned.txt', content: 'x' }]);
    const response = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'hi' }, [{ name: 'a.zip', content: zip }]) });
    attempt();
    assert.equal(response.status, 409);
    assert.match(response.body.error.message, /symbolic link is in the way at "uploads\/evil"/);
    assert.equal(fs.existsSync('/tmp/kiln-upload-pwned.txt'), false);
    const plain = await api.request('POST', `/api/v1/tasks/${id}/messages`, { body: form({ message: 'hi' }, [{ name: 'evil', content: 'replace the link?' }]) });
    attempt();
    assert.equal(plain.status, 409, 'a file of the same name is refused too: the link is neither followed nor silently replaced');
    assert.equal(fs.lstatSync(path.join(kiln.dataDir, 'workspaces', id, 'uploads', 'evil')).isSymbolicLink(), true);
  });

  it('download endpoints refuse .., absolute paths, NUL bytes and symlinks', async () => {
    const id = await api.createTask({ message: '$ ln -s /etc/passwd passwd && ln -s ../../.. up && ln -s / hostroot && echo ok > ok.txt' });
    await api.waitForEnd(id);
    const base = `/api/v1/tasks/${id}/artifacts`;
    const attacks = [
      `${base}/download?path=../../kiln.db`,
      `${base}/download?path=/etc/passwd`,
      `${base}/download?path=ok.txt%00.png`,
      `${base}/download?path=passwd`,
      `${base}/download?path=up/kiln.db`,
      `${base}/download?path=hostroot/etc/hostname`,
      `${base}/download?path=..%2F..%2Fkiln.db`,
      `${base}/versions?path=../../kiln.db`,
      `${base}/versions?path=passwd`,
      `${base}/archive?path=..`,
      `${base}/archive?path=/etc`,
      `${base}/archive?path=up`,
    ];
    for (const url of attacks) {
      attempt();
      const response = await fetch(kiln.url + url, { headers: api.headers() });
      assert.ok([400, 404].includes(response.status), `${url} answered ${response.status}`);
      assert.doesNotMatch(await response.text(), /root:x:0|SQLite format/);
    }
    const whole = await fetch(`${kiln.url}${base}/archive`, { headers: api.headers() });
    attempt();
    const zip = Buffer.from(await whole.arrayBuffer());
    assert.equal(zip.includes(Buffer.from('root:x:0')), false, 'the workspace zip holds no file behind a symlink');
  });

  it("keeps one user's artifacts from another through every face", async () => {
    const victim = await api.createTask({ message: 'write downloads/private.md\nvictim data\nEOF' });
    await api.waitForEnd(victim);
    const file = (await api.get(`/api/v1/tasks/${victim}/artifacts`)).body.data.files[0];
    const agentId = (await api.get('/api/v1/agents')).body.data.find((a: any) => a.isDefault).id;
    const malloryKey = await createUserKey(kiln, 'mallory-artifacts');
    const mallory = new Api(kiln.url, malloryKey);
    const native = [
      `/api/v1/tasks/${victim}/artifacts`,
      `/api/v1/tasks/${victim}/artifacts/download?path=downloads/private.md`,
      `/api/v1/tasks/${victim}/artifacts/versions?path=downloads/private.md`,
      `/api/v1/tasks/${victim}/artifacts/archive`,
      `/api/v1/agents/${agentId}`,
    ];
    for (const url of native) {
      attempt();
      assert.equal((await mallory.get(url)).status, 404, url);
    }
    const gumloopHeaders = { authorization: `Bearer ${malloryKey}` };
    for (const url of [`/gumloop/agents/${agentId}/artifacts`, `/gumloop/artifacts/${file.artifactId}/download`, `/gumloop/artifacts/${file.artifactId}/download?version_id=${file.versionId}`]) {
      attempt();
      const response = await fetch(kiln.url + url, { headers: gumloopHeaders });
      assert.equal(response.status, 404, url);
    }
    const synHeaders = { 'x-api-key': malloryKey };
    for (const url of [`/syntropic/artifacts/${file.artifactId}`, `/syntropic/artifacts/${file.artifactId}/content`, `/syntropic/artifacts/${file.artifactId.slice(0, 8)}`]) {
      attempt();
      const response = await fetch(kiln.url + url, { headers: synHeaders });
      assert.equal(response.status, 404, url);
    }
    attempt();
    const list = (await (await fetch(`${kiln.url}/syntropic/artifacts?limit=200`, { headers: synHeaders })).json()) as unknown[];
    assert.deepEqual(list, []);
    attempt();
    const upload = new FormData();
    upload.append('file', new Blob(['overwritten by mallory']), 'private.md');
    assert.equal((await fetch(`${kiln.url}/syntropic/artifacts/${file.artifactId}/upload`, { method: 'POST', headers: synHeaders, body: upload })).status, 404);
    attempt();
    const create = await fetch(`${kiln.url}/syntropic/artifacts`, {
      method: 'POST',
      headers: { ...synHeaders, 'content-type': 'application/json' },
      body: JSON.stringify({ workflow_id: 'w', artifact_type: 'text', title: 'x', content: 'x', session_id: victim, derived_from: [file.artifactId] }),
    });
    assert.equal(create.status, 400, "mallory cannot attach to the victim's task or claim lineage from its artifacts");
    const forged: Record<string, string>[] = [{}, { 'x-kiln-signature': `9999999999.${'0'.repeat(64)}` }, { 'x-kiln-signature': 'garbage' }];
    for (const header of forged) {
      attempt();
      const secrets = await fetch(`${kiln.url}/internal/tasks/${victim}/secrets`, { headers: header });
      assert.equal(secrets.status, 403, 'the internal secrets endpoint answers only signed requests');
    }
    attempt();
    const signed = new URL(`${kiln.url}/files/${file.versionId}?expires=9999999999&signature=${'0'.repeat(64)}`);
    assert.equal((await fetch(signed)).status, 403, 'a forged link is refused');
    const after = await api.get(`/api/v1/tasks/${victim}/artifacts/download?path=downloads/private.md`);
    assert.equal(after.body, 'victim data\n', 'nothing of the victim changed');
  });

  it("keeps one user away from another user's tasks on every endpoint", async () => {
    const mallory = new Api(kiln.url, await createUserKey(kiln, 'mallory'));
    const routes: [string, string, unknown?][] = [
      ['GET', `/api/v1/tasks/${secretTask}`],
      ['GET', `/api/v1/tasks/${secretTask}/history`],
      ['GET', `/api/v1/tasks/${secretTask}/stream`],
      ['POST', `/api/v1/tasks/${secretTask}/messages`, { message: 'cat downloads/secret.txt' }],
      ['POST', `/api/v1/tasks/${secretTask}/tools/x/approve`, { outcome: 'cancel' }],
      ['DELETE', `/api/v1/tasks/${secretTask}`],
    ];
    for (const [method, url, json] of routes) {
      attempt();
      const response = await mallory.request(method, url, json === undefined ? {} : { json });
      assert.equal(response.status, 404, `${method} ${url}`);
      assert.doesNotMatch(JSON.stringify(response.body), /the-other-tasks-secret/);
    }
    attempt();
    assert.equal((await mallory.get('/api/v1/tasks')).body.pagination.total, 0);
  });
});

describe('security: when the sandbox cannot run', () => {
  /** A PATH with the basic tools but without bubblewrap. */
  function pathWithoutBwrap(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-nobwrap-'));
    for (const tool of ['sh', 'prlimit', 'setpriv', 'echo', 'cat']) {
      const source = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => fs.existsSync(p));
      if (source) fs.symlinkSync(source, path.join(dir, tool));
    }
    return dir;
  }

  it('says so loudly at start-up and refuses commands, unless unsandboxed mode is chosen by name', async () => {
    const PATH = pathWithoutBwrap();
    const refusing = await startKiln({ env: { PATH } });
    try {
      assert.match(refusing.logs(), /COMMANDS ARE DISABLED: the bubblewrap sandbox cannot run here \(bubblewrap is not installed/);
      const api = Api.of(refusing);
      const id = await api.createTask({ message: '$ echo should-not-run\ncat nothing.txt' });
      const results = (await api.events(id)).filter((e) => e.event === 'tool_result').map((e) => e.data);
      attempt();
      assert.equal(results[0].status, 'error');
      assert.match(results[0].output, /run_command is disabled on this server/);
      assert.doesNotMatch(results[0].output, /should-not-run\n/);
      assert.match(results[1].output, /No such file/, 'the file tools still work');
    } finally {
      await refusing.stop();
    }
    const unsandboxed = await startKiln({ env: { PATH, KILN_SANDBOX: 'unsandboxed' } });
    try {
      assert.match(unsandboxed.logs(), /KILN_SANDBOX=unsandboxed: commands run directly on this host/);
      const api = Api.of(unsandboxed);
      const [result] = (await api.events(await api.createTask({ message: '$ echo ran' }))).filter((e) => e.event === 'tool_result').map((e) => e.data);
      assert.equal(result.output, 'ran\n[exit code 0]');
    } finally {
      await unsandboxed.stop();
    }
  });
});
