import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ENV_VARIABLES } from '../src/config.js';
import { Api } from './helpers/api.js';
import { RegistryUnreachable, npm, reuseNativeBuild } from './helpers/install.js';
import { spawnKiln, type KilnChild } from './helpers/kiln-child.js';
import { ROOT, newKey, tempDir } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

const DOCKERFILE = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const NOBODY = 65534;
const run = promisify(execFile);
/** Variables the AWS SDK reads itself for the S3 blob store's credentials (documented in the README). */
const AWS_SDK_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'];

/** What the Dockerfile's runtime stage copies from the build stage. */
function runtimeCopies(): string[] {
  const runtime = DOCKERFILE.slice(DOCKERFILE.lastIndexOf('\nFROM '));
  return [...runtime.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1]!);
}

describe('container image (its steps, run here: no Docker engine on this machine)', () => {
  let kiln: KilnChild | null = null;
  let api: Api;
  let dataDir: string;
  let offline: string | null = null;
  let app: string;
  let key: string;

  before(async () => {
    app = tempDir('kiln-image-');
    fs.chmodSync(app, 0o755);
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, file), path.join(app, file));
    for (const copied of runtimeCopies().filter((c) => c !== 'node_modules' && c !== 'package.json')) {
      fs.cpSync(path.join(ROOT, copied), path.join(app, copied), { recursive: true });
    }
    try {
      // The same tree as the image's `npm ci` + `npm prune --omit=dev`; the native build is reused (see reuseNativeBuild).
      await npm(['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline'], app);
    } catch (error) {
      if (!(error instanceof RegistryUnreachable)) throw error;
      offline = error.message;
      return;
    }
    reuseNativeBuild(app);
    assert.equal(fs.existsSync(path.join(app, 'node_modules', 'typescript')), false, 'no dev dependency is installed');
    dataDir = tempDir('kiln-image-data-');
    fs.chownSync(dataDir, NOBODY, NOBODY);
    key = newKey();
    kiln = await spawnKiln('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, 'bin/kiln.js', 'serve', '--port', '0'], {
      cwd: app,
      env: { KILN_DATA_DIR: dataDir, KILN_API_KEY: key, HOME: dataDir },
      timeoutMs: 60_000,
    });
    api = new Api(kiln.url, key);
  });
  after(async () => {
    if (kiln) assert.equal(await kiln.stop(), 0);
  });

  it('the image builds in two stages and runs Kiln as a user of its own, with bubblewrap', () => {
    assert.deepEqual(runtimeCopies().sort(), [
      'bin',
      'dist/src',
      'docs/openapi.json',
      'node_modules',
      'package.json',
      'packages/console/dist',
      'packages/sdk/dist',
      'packages/sdk/package.json',
      'packages/widget/dist/widget.js',
      'packages/widget/package.json',
    ]);
    assert.match(DOCKERFILE, /^USER kiln$/m);
    assert.match(DOCKERFILE, /npm prune --omit=dev/);
    assert.match(DOCKERFILE, /apt-get install[^\n]*bubblewrap/);
  });

  it('installed without dev dependencies into a clean folder, serves tasks as a non-root user', async (t) => {
    if (offline) return t.skip(`the npm registry cannot be reached: ${offline}`);
    const end = await api.waitForEnd(await api.createTask({ message: 'write downloads/hello.txt\nfrom the image\nEOF' }));
    assert.equal(end.data.finalResponse, 'write_file: success');
    assert.equal(fs.statSync(path.join(dataDir, 'kiln.db')).uid, NOBODY, 'the data dir is written by Kiln\'s own user');
    assert.equal((await fetch(`${kiln!.url}/readyz`)).status, 200);
    // What the runtime stage copies besides the server: the API description, the widget, and the SDK of the client commands.
    assert.equal((await fetch(`${kiln!.url}/openapi.json`)).status, 200);
    assert.equal((await fetch(`${kiln!.url}/widget.js`)).status, 200);
    assert.match((await fetch(`${kiln!.url}/`, { headers: { accept: 'text/html' } })).headers.get('content-type') ?? '', /text\/html/);
    const client = await run(process.execPath, ['bin/kiln.js', 'tasks', '--json'], { cwd: app, env: { ...process.env, KILN_URL: kiln!.url, KILN_API_KEY: key } });
    assert.equal((JSON.parse(client.stdout) as { id: string }[]).length, 1);
  });

  it('runs a task\'s command in the bubblewrap sandbox as Kiln\'s own user', needs(sandbox), async (t) => {
    if (offline) return t.skip(`the npm registry cannot be reached: ${offline}`);
    assert.doesNotMatch(kiln!.logs(), /COMMANDS ARE DISABLED/);
    const events = await api.events(await api.createTask({ message: '$ id -u; pwd; test -e /var/lib || echo "no host /var/lib"' }));
    const result = events.find((e) => e.event === 'tool_result')!.data;
    assert.equal(result.output, `${NOBODY}\n/workspace\nno host /var/lib\n[exit code 0]`);
  });
});

describe('compose file', () => {
  it('passes Kiln only settings Kiln reads', () => {
    const compose = parse(fs.readFileSync(path.join(ROOT, 'deploy', 'compose.yaml'), 'utf8')) as { services: Record<string, any> };
    const known = new Set([...ENV_VARIABLES.map((v) => v.env), ...AWS_SDK_VARIABLES]);
    const kilnServices = Object.entries(compose.services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');
    assert.ok(kilnServices.length > 0, 'the compose file runs Kiln');
    for (const [name, service] of kilnServices) {
      const environment = service.environment as Record<string, string> | string[];
      const names = Array.isArray(environment) ? environment.map((e) => e.split('=')[0]!) : Object.keys(environment);
      assert.deepEqual(names.filter((n) => !known.has(n)), [], `service ${name} passes only settings Kiln reads`);
      assert.ok(names.includes('DATABASE_URL') && names.includes('KILN_BLOB_STORE'));
      assert.deepEqual(service.security_opt, ['seccomp=unconfined', 'apparmor=unconfined'], 'bubblewrap needs user namespaces in the container');
    }
    const imageEnv = [...DOCKERFILE.matchAll(/^ENV (.+)$/gm)].flatMap((m) => m[1]!.split(/\s+/).map((pair) => pair.split('=')[0]!));
    assert.deepEqual(imageEnv.filter((n) => !known.has(n)), [], 'the image sets only settings Kiln reads');
  });
});
