import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { spawnKiln } from './helpers/kiln-child.js';
import { ROOT, kilnCli, newKey, tempDir } from './helpers/kiln-process.js';
import { RegistryUnreachable, npm, reuseNativeBuild } from './helpers/install.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('packaging', () => {
  it('npm start serves the build made at install time and compiles nothing', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(manifest.scripts.start, 'node bin/kiln.js serve');
    assert.equal(manifest.scripts.prepare, 'npm run build');
    // A checkout that was never built says what to run.
    const bare = tempDir();
    fs.cpSync(path.join(ROOT, 'bin'), path.join(bare, 'bin'), { recursive: true });
    const result = await run(process.execPath, [path.join(bare, 'bin', 'kiln.js'), 'serve']).catch((error) => error);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /kiln is not built: run `npm run build`/);
  });

  it('npm pack makes a package that installs into an empty folder and serves with npx kiln serve', async (t) => {
    const out = tempDir('kiln-pack-');
    const [packed] = JSON.parse(await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', out], ROOT)) as { filename: string; files: { path: string }[] }[];
    const files = packed!.files.map((f) => f.path);
    const needs = ['bin/kiln.js', 'dist/src/cli.js', 'dist/src/app.js', 'README.md', 'package.json', 'docs/openapi.json', 'packages/console/dist/index.html', 'packages/widget/dist/widget.js'];
    // The SDK is a workspace package, not on the registry: the client commands import it from the package itself.
    for (const needed of [...needs, 'node_modules/@kiln/sdk/package.json', 'node_modules/@kiln/sdk/dist/index.js']) {
      assert.ok(files.includes(needed), `the package holds ${needed}`);
    }
    // Kiln's own files; the bundled SDK keeps the files it publishes (its sources, with their maps).
    for (const file of files.filter((f) => !f.startsWith('node_modules/'))) {
      assert.doesNotMatch(file, /^(src|test|bench|dist\/test|dist\/bench)\/|\.map$/, `${file} does not belong in the package`);
    }

    const app = tempDir('kiln-installed-');
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'kiln-install-check', private: true }));
    try {
      // Scripts are skipped only to reuse this checkout's compiled better-sqlite3 (see reuseNativeBuild).
      await npm(['install', '--ignore-scripts', '--prefer-offline', path.join(out, packed!.filename)], app);
    } catch (error) {
      if (error instanceof RegistryUnreachable) return t.skip(`the npm registry cannot be reached, so the package cannot be installed: ${error.message}`);
      throw error;
    }
    reuseNativeBuild(app);
    const key = newKey();
    const kiln = await spawnKiln('npx', ['--no-install', 'kiln', 'serve', '--port', '0'], {
      cwd: app,
      env: { KILN_DATA_DIR: path.join(app, 'data'), KILN_API_KEY: key, KILN_SANDBOX: 'unsandboxed' },
      timeoutMs: 60_000,
    });
    try {
      const api = new Api(kiln.url, key);
      const id = await api.createTask({ message: '$ echo from the package\nwrite downloads/a.txt\nok\nEOF' });
      const end = await api.waitForEnd(id);
      assert.equal(end.event, 'done');
      assert.equal(end.data.finalResponse, 'run_command: success\nwrite_file: success');
      assert.equal((await fetch(`${kiln.url}/openapi.json`)).status, 200);
      assert.equal((await fetch(`${kiln.url}/widget.js`)).status, 200);
      const consolePage = await fetch(`${kiln.url}/`, { headers: { accept: 'text/html' } });
      assert.match(consolePage.headers.get('content-type') ?? '', /text\/html/, 'the console is served from the package');
      // A client command of the installed package, through the SDK it carries.
      const listed = await run('npx', ['--no-install', 'kiln', 'tasks', '--json'], { cwd: app, env: { ...process.env, KILN_URL: kiln.url, KILN_API_KEY: key } });
      assert.deepEqual((JSON.parse(listed.stdout) as { id: string }[]).map((t) => t.id), [id]);
    } finally {
      // npx passes the signal on and ends by it; Kiln itself shuts down cleanly.
      await kiln.stop();
    }
    assert.match(kiln.logs(), /SIGTERM received, shutting down/);
    assert.doesNotMatch(kiln.logs(), / error /);
    const help = await kilnCli(['--help']);
    assert.match(help.stdout, /kiln doctor/);
  });
});
