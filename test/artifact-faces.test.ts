import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { needs, sandbox } from './helpers/requirements.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A client of the Gumloop face: Bearer key plus x-auth-key. */
function gumloop(kiln: KilnServer, key: string, userId?: string) {
  return async (path: string, init: { headers?: Record<string, string> } = {}) => {
    const response = await fetch(`${kiln.url}/gumloop${path}`, {
      headers: { authorization: `Bearer ${key}`, ...(userId ? { 'x-auth-key': userId } : {}), ...init.headers },
    });
    return { status: response.status, body: (await response.json()) as any };
  };
}

/** A client of the Syntropic137 face. */
function syntropic(kiln: KilnServer, key: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { 'x-api-key': key, ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(`${kiln.url}/syntropic${path}`, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
  };
}

async function bytes(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

describe('artifact faces', needs(sandbox), () => {
  let kiln: KilnServer;
  let api: Api;
  let agentId: string;
  let userId: string;
  let task: string;
  let gl: ReturnType<typeof gumloop>;
  let syn: ReturnType<typeof syntropic>;

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
    const created = await api.request('POST', '/api/v1/tasks', {
      body: form({ message: '$ for i in $(seq 1 30); do echo "row $i" > downloads/file-$i.txt; done; echo "# Summary" > downloads/SUMMARY.md', workflowId: 'wf-report', phaseId: 'draft' }, [
        { name: 'input.bin', content: Buffer.from([0, 1, 2, 3, 255]) },
      ]),
    });
    task = created.body.data.id;
    await api.waitForEnd(task);
    await api.post(`/api/v1/tasks/${task}/messages`, { message: '$ echo "# Summary v2" > downloads/SUMMARY.md' });
    await api.waitForEnd(task);
    const agents = (await api.get('/api/v1/agents')).body.data;
    agentId = agents.find((a: any) => a.isDefault).id;
    userId = (await gumloop(kiln, kiln.key)('/agents')).body.agents[0].creator.id;
    gl = gumloop(kiln, kiln.key, userId);
    syn = syntropic(kiln, kiln.key);
  });
  after(() => kiln.stop());

  describe('Gumloop', () => {
    it('lists one row per version with the documented fields and a working signed url', async () => {
      const { status, body } = await gl(`/agents/${agentId}/artifacts?search_query=summary`);
      assert.equal(status, 200);
      assert.deepEqual(body.artifacts.map((a: any) => a.major_version), [2, 1], 'both versions, newest first');
      const [row] = body.artifacts;
      assert.deepEqual(Object.keys(row).sort(), ['agent_id', 'created_at', 'creator', 'filename', 'id', 'major_version', 'metadata', 'session_id', 'url', 'version_id'].sort());
      assert.equal(row.filename, 'SUMMARY.md');
      assert.equal(row.session_id, task);
      assert.equal(row.agent_id, agentId);
      assert.equal(row.metadata.media_type, 'text/markdown');
      assert.equal(row.metadata.size, 13);
      assert.deepEqual(row.creator, { id: userId, first_name: 'default', last_name: null, email: null, profile_picture: null });
      assert.equal(body.next_cursor, null);
      const file = await bytes(row.url);
      assert.equal(file.status, 200, 'a signed url needs no key');
      assert.equal(file.body.toString(), '# Summary v2\n');
      const old = await bytes(body.artifacts[1].url);
      assert.equal(old.body.toString(), '# Summary\n');
    });

    it('pages with an opaque cursor, without duplicates or gaps when rows share a timestamp', async () => {
      for (const order of ['newest', 'oldest']) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query = `page_size=7&sort_order=${order}&session_id=${task}${cursor ? `&cursor=${cursor}` : ''}`;
          const { status, body } = await gl(`/agents/${agentId}/artifacts?${query}`);
          assert.equal(status, 200);
          assert.ok(body.artifacts.length <= 7);
          seen.push(...body.artifacts.map((a: any) => a.version_id));
          cursor = body.next_cursor;
          pages++;
        } while (cursor && pages < 20);
        assert.equal(seen.length, 33, `${order}: 30 files, the summary twice and the upload`);
        assert.equal(new Set(seen).size, 33, `${order}: no duplicates`);
      }
      const all = (await gl(`/agents/${agentId}/artifacts?page_size=100&session_id=${task}`)).body.artifacts;
      const shared = new Map<string, number>();
      for (const a of all) shared.set(a.created_at, (shared.get(a.created_at) ?? 0) + 1);
      assert.ok([...shared.values()].some((n) => n > 7), 'many rows share one timestamp (one command wrote them)');
    });

    it('clamps page_size, refuses nonsense in its own error format, and filters by session', async () => {
      assert.equal((await gl(`/agents/${agentId}/artifacts?page_size=0`)).body.artifacts.length, 1);
      assert.equal((await gl(`/agents/${agentId}/artifacts?page_size=500`)).body.artifacts.length, 33);
      const nullCursor = Buffer.from('null').toString('base64url');
      for (const query of ['page_size=abc', 'sort_order=sideways', 'cursor=garbage!!', `cursor=${nullCursor}`, 'page_size=1&page_size=2']) {
        const { status, body } = await gl(`/agents/${agentId}/artifacts?${query}`);
        assert.equal(status, 400, query);
        assert.equal(body.error.type, 'invalid_request_error');
        assert.ok(body.error.message);
      }
      const newestCursor = (await gl(`/agents/${agentId}/artifacts?page_size=1`)).body.next_cursor;
      assert.equal((await gl(`/agents/${agentId}/artifacts?sort_order=oldest&cursor=${newestCursor}`)).status, 400, 'a cursor is tied to its sort order');
      assert.deepEqual((await gl(`/agents/${agentId}/artifacts?session_id=00000000-0000-4000-8000-000000000000`)).body, { artifacts: [], next_cursor: null });
    });

    it('returns a download_url for the latest or a named version', async () => {
      const rows = (await gl(`/agents/${agentId}/artifacts?search_query=SUMMARY`)).body.artifacts;
      const latest = await gl(`/artifacts/${rows[0].id}/download`);
      assert.deepEqual(Object.keys(latest.body).sort(), ['download_url', 'filename', 'media_type', 'size']);
      assert.equal((await bytes(latest.body.download_url)).body.toString(), '# Summary v2\n');
      const first = await gl(`/artifacts/${rows[0].id}/download?version_id=${rows[1].version_id}`);
      assert.equal((await bytes(first.body.download_url)).body.toString(), '# Summary\n');
      assert.equal((await gl(`/artifacts/${rows[0].id}/download?version_id=nope`)).status, 404);
      assert.equal((await gl('/artifacts/nope/download')).status, 404);
    });

    it('checks the key and the x-auth-key, and hides other users\' agents', async () => {
      const none = await fetch(`${kiln.url}/gumloop/agents/${agentId}/artifacts`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as any).error.type, 'authentication_error');
      assert.equal((await gumloop(kiln, kiln.key, 'someone-else')(`/agents/${agentId}/artifacts`)).status, 401);
      assert.equal((await gumloop(kiln, kiln.key, 'default')(`/agents/${agentId}/artifacts`)).status, 200, 'the user name works too');
      const other = gumloop(kiln, await createUserKey(kiln, 'eve'));
      const denied = await other(`/agents/${agentId}/artifacts`);
      assert.equal(denied.status, 404);
      assert.equal(denied.body.error.code, 'gummie_not_found');
      const rows = (await gl(`/agents/${agentId}/artifacts?page_size=1`)).body.artifacts;
      assert.equal((await other(`/artifacts/${rows[0].id}/download`)).status, 404);
    });
  });

  describe('signed links', () => {
    it('refuse a changed signature, another version, or an expired link', async () => {
      const rows = (await gl(`/agents/${agentId}/artifacts?search_query=SUMMARY`)).body.artifacts;
      const url = new URL(rows[0].url);
      const tampered = new URL(url);
      tampered.searchParams.set('signature', url.searchParams.get('signature')!.replace(/.$/, (c) => (c === '0' ? '1' : '0')));
      assert.equal((await bytes(tampered.href)).status, 403);
      const otherVersion = new URL(url);
      otherVersion.pathname = `/files/${rows[1].version_id}`;
      assert.equal((await bytes(otherVersion.href)).status, 403);
      const extended = new URL(url);
      extended.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600));
      assert.equal((await bytes(extended.href)).status, 403);

      const short = await startKiln({ env: { KILN_SIGNED_URL_TTL_SECONDS: '1' } });
      try {
        const shortApi = Api.of(short);
        const id = await shortApi.createTask({ message: 'write downloads/x.txt\nx\nEOF' });
        await shortApi.waitForEnd(id);
        const agent = (await shortApi.get('/api/v1/agents')).body.data[0].id;
        const link = (await gumloop(short, short.key)(`/agents/${agent}/artifacts`)).body.artifacts[0].url;
        assert.equal((await bytes(link)).status, 200);
        await new Promise((r) => setTimeout(r, 2100));
        const expired = await bytes(link);
        assert.equal(expired.status, 403);
        assert.match(JSON.parse(expired.body.toString()).error.message, /expired/);
      } finally {
        await short.stop();
      }
    });
  });

  describe('Syntropic137', () => {
    it('creates from text with real field values, and reads it back by id or prefix', async () => {
      const created = await syn('POST', '/artifacts', { workflow_id: 'wf-report', artifact_type: 'Plan', title: 'Release plan', content: '# Plan\n', phase_id: 'plan' });
      assert.equal(created.status, 201);
      assert.deepEqual(Object.keys(created.body).sort(), ['artifact_type', 'id', 'status', 'title']);
      assert.equal(created.body.status, 'created');
      const id = created.body.id;
      const full = await syn('GET', `/artifacts/${id}`);
      assert.equal(full.status, 200);
      assert.equal(full.body.content, '# Plan\n');
      assert.equal(full.body.content_hash, sha256('# Plan\n'));
      assert.equal(full.body.size_bytes, 7);
      assert.equal(full.body.content_type, 'text/markdown');
      assert.equal(full.body.artifact_type, 'plan');
      assert.equal(full.body.phase_id, 'plan');
      assert.equal(full.body.created_by, 'default');
      assert.match(full.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual([full.body.derived_from, full.body.metadata, full.body.is_primary_deliverable], [[], {}, true]);
      const lean = await syn('GET', `/artifacts/${id.slice(0, 13)}?include_content=false`);
      assert.equal(lean.body.id, id, 'a unique prefix is enough');
      assert.equal(lean.body.content, null);
      assert.deepEqual((await syn('GET', `/artifacts/${id}/content`)).body, { artifact_id: id, content: '# Plan\n', content_type: 'text/markdown', size_bytes: 7 });

      const child = await syn('POST', '/artifacts', { workflow_id: 'wf-report', artifact_type: 'code', title: 'impl.py', content: 'print(1)\n', content_type: 'text/x-python', derived_from: [id], metadata: { reviewer: 'ann' }, is_primary_deliverable: false });
      const detail = (await syn('GET', `/artifacts/${child.body.id}`)).body;
      assert.deepEqual([detail.derived_from, detail.metadata, detail.is_primary_deliverable, detail.content_type], [[id], { reviewer: 'ann' }, false, 'text/x-python']);
    });

    it('answers bad input like FastAPI: 422 details, 400 for unknown types and empty content', async () => {
      const missing = await syn('POST', '/artifacts', { workflow_id: 'w', title: 't' });
      assert.equal(missing.status, 422);
      assert.deepEqual(missing.body.detail.map((d: any) => [d.type, d.loc]), [['missing', ['body', 'artifact_type']], ['missing', ['body', 'content']]]);
      const extra = await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'plan', title: 't', content: 'c', colour: 'red' });
      assert.deepEqual(extra.body.detail[0], { type: 'extra_forbidden', loc: ['body', 'colour'], msg: 'Extra inputs are not permitted', input: 'red' });
      const wrongType = await syn('POST', '/artifacts', { workflow_id: 5, artifact_type: 'plan', title: 't', content: 'c' });
      assert.equal(wrongType.body.detail[0].type, 'string_type');
      assert.equal((await syn('POST', '/artifacts', '{"workflow_id":')).body.detail[0].type, 'json_invalid');
      const unknown = await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'poem', title: 't', content: 'c' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.detail, /^Unknown artifact_type: 'poem'\. Valid types: \['research_summary', /);
      assert.equal((await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'plan', title: 't', content: '' })).status, 400);
      for (const contentType of ['text/x\r\nX-Injected: 1', 'markdown', '', `text/${'x'.repeat(300)}`]) {
        const bad = await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'plan', title: 't', content: 'c', content_type: contentType });
        assert.equal(bad.status, 422, JSON.stringify(contentType));
        assert.deepEqual(bad.body.detail[0].loc, ['body', 'content_type']);
      }
      const withCharset = await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'plan', title: 't', content: 'c', content_type: 'text/plain; charset=utf-8' });
      assert.equal(withCharset.status, 201);
      for (const query of ['limit=0', 'limit=201', 'limit=ten']) {
        const response = await syn('GET', `/artifacts?${query}`);
        assert.equal(response.status, 422, query);
        assert.deepEqual(response.body.detail[0].loc, ['query', 'limit']);
      }
      assert.equal((await syn('GET', '/artifacts/zzzz')).status, 404);
      assert.deepEqual((await syn('GET', '/artifacts/zzzz')).body, { detail: 'Artifact not found: zzzz' });
    });

    it('applies every filter before the limit', async () => {
      for (let i = 0; i < 6; i++) {
        await syn('POST', '/artifacts', { workflow_id: 'wf-filter', artifact_type: 'plan', title: `p${i}`, content: 'x', phase_id: i % 2 === 0 ? 'even' : 'odd' });
      }
      const even = (await syn('GET', '/artifacts?workflow_id=wf-filter&phase_id=even&limit=2')).body;
      assert.equal(even.length, 2);
      assert.ok(even.every((a: any) => a.phase_id === 'even'));
      assert.deepEqual(even.map((a: any) => a.title), ['p4', 'p2'], 'newest first');
      assert.deepEqual(Object.keys(even[0]).sort(), ['artifact_type', 'created_at', 'id', 'phase_id', 'size_bytes', 'title', 'workflow_id']);
      assert.equal((await syn('GET', '/artifacts?workflow_id=wf-filter&artifact_type=code')).body.length, 0);
      assert.equal((await syn('GET', '/artifacts?workflow_id=wf-filter&artifact_type=PLAN')).body.length, 6, 'types match in any case, as create takes them');
      const taskFiles = (await syn('GET', '/artifacts?workflow_id=wf-report&phase_id=draft&limit=200')).body;
      assert.equal(taskFiles.length, 32, "the task's files carry its workflow and phase");
    });

    it('refuses an ambiguous prefix with 409 and lists candidates', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 17; i++) ids.push((await syn('POST', '/artifacts', { workflow_id: 'wf-prefix', artifact_type: 'text', title: `t${i}`, content: 'x' })).body.id);
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id[0]!, (counts.get(id[0]!) ?? 0) + 1);
      const [prefix] = [...counts].find(([, n]) => n > 1)!;
      const response = await syn('GET', `/artifacts/${prefix}`);
      assert.equal(response.status, 409);
      assert.match(response.body.detail, new RegExp(`^Ambiguous artifact ID '${prefix}' matches \\d+ entries:\\n  - `));
      assert.match(response.body.detail, /Provide a longer prefix to disambiguate\.$/);
    });

    it('uploads a new version, updating size and hash; refuses unknown ids and files over 50 MB', async () => {
      const id = (await syn('POST', '/artifacts', { workflow_id: 'wf-up', artifact_type: 'text', title: 'notes', content: 'one' })).body.id;
      const upload = new FormData();
      upload.append('file', new Blob(['two, longer']), 'notes.txt');
      const response = await syn('POST', `/artifacts/${id}/upload`, upload);
      assert.equal(response.status, 200);
      assert.equal(response.body.status, 'uploaded');
      assert.equal(response.body.artifact_id, id);
      assert.equal((await bytes(response.body.storage_url)).body.toString(), 'two, longer');
      const detail = (await syn('GET', `/artifacts/${id}`)).body;
      assert.deepEqual([detail.size_bytes, detail.content_hash, detail.content, detail.version], [11, sha256('two, longer'), 'two, longer', 2]);
      const byPrefix = new FormData();
      byPrefix.append('file', new Blob(['three']), 'notes.txt');
      assert.equal((await syn('POST', `/artifacts/${id.slice(0, 18)}/upload`, byPrefix)).body.artifact_id, id, 'a unique prefix works for uploads too');
      assert.equal((await syn('GET', `/artifacts/${id}`)).body.version, 3);
      const unknown = new FormData();
      unknown.append('file', new Blob(['x']), 'x.txt');
      assert.equal((await syn('POST', '/artifacts/00000000-0000-4000-8000-000000000000/upload', unknown)).status, 404);
      const noFile = new FormData();
      noFile.append('other', 'x');
      assert.equal((await syn('POST', `/artifacts/${id}/upload`, noFile)).status, 422);
      const big = new FormData();
      big.append('file', new Blob([Buffer.alloc(50 * 1024 * 1024 + 1)]), 'big.bin');
      const tooBig = await syn('POST', `/artifacts/${id}/upload`, big);
      assert.equal(tooBig.status, 413);
      assert.equal(tooBig.body.detail, 'Upload exceeds maximum size of 50 MB');
      assert.equal((await syn('GET', `/artifacts/${id}`)).body.version, 3, 'the refused upload made no version');
    });

    it('accepts HTTP Basic with the key as password, and asks for credentials without one', async () => {
      const basic = await fetch(`${kiln.url}/syntropic/artifacts?limit=1`, { headers: { authorization: `Basic ${Buffer.from(`admin:${kiln.key}`).toString('base64')}` } });
      assert.equal(basic.status, 200);
      const none = await fetch(`${kiln.url}/syntropic/artifacts`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /Basic/);
      assert.deepEqual(await none.json(), { detail: 'Not authenticated' });
    });

    it('puts an artifact created for a task into that task\'s workspace', async () => {
      const created = await syn('POST', '/artifacts', { workflow_id: 'wf-report', artifact_type: 'markdown', title: 'Review notes', content: '# Notes\n', session_id: task });
      const files = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files;
      const file = files.find((f: any) => f.artifactId === created.body.id);
      assert.equal(file.path, 'artifacts/Review-notes.md');
      assert.equal(file.sha256, sha256('# Notes\n'));
      assert.equal((await syn('POST', '/artifacts', { workflow_id: 'w', artifact_type: 'text', title: 't', content: 'c', session_id: 'not-a-task' })).status, 400);
      // Made at once with one title: each gets a path of its own, and keeps its own content.
      const made = await Promise.all(
        Array.from({ length: 6 }, (_, i) => syn('POST', '/artifacts', { workflow_id: 'wf-report', artifact_type: 'markdown', title: 'Same title', content: `# Draft ${i}\n`, session_id: task })),
      );
      assert.deepEqual(made.map((r) => r.status), [201, 201, 201, 201, 201, 201]);
      assert.equal(new Set(made.map((r) => r.body.id)).size, 6);
      const after = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files;
      made.forEach((r, i) => {
        const own = after.find((f: any) => f.artifactId === r.body.id);
        assert.equal(own.sha256, sha256(`# Draft ${i}\n`), own.path);
      });
      assert.equal(new Set(made.map((r) => after.find((f: any) => f.artifactId === r.body.id).path)).size, 6);
    });
  });

  it('lists the same artifacts through all three faces, with sizes and hashes that match the bytes', async () => {
    const native = (await api.get(`/api/v1/tasks/${task}/artifacts`)).body.data.files;
    const gumloopRows = (await gl(`/agents/${agentId}/artifacts?session_id=${task}&page_size=100`)).body.artifacts;
    const syntropicRows = (await syn('GET', '/artifacts?limit=200')).body;
    assert.ok(native.length >= 33);
    for (const file of native) {
      const { body } = await bytes(`${kiln.url}/api/v1/tasks/${task}/artifacts/download?path=${encodeURIComponent(file.path)}`, api.headers());
      assert.equal(body.length, file.size, file.path);
      assert.equal(sha256(body), file.sha256, file.path);

      const row = gumloopRows.find((r: any) => r.version_id === file.versionId);
      assert.ok(row, `Gumloop lists ${file.path}`);
      assert.deepEqual([row.metadata.size, row.metadata.sha256, row.major_version], [file.size, file.sha256, file.version]);
      assert.equal(sha256((await bytes(row.url)).body), file.sha256);

      const summary = syntropicRows.find((r: any) => r.id === file.artifactId);
      assert.ok(summary, `Syntropic137 lists ${file.path}`);
      assert.equal(summary.size_bytes, file.size);
      const detail = (await syn('GET', `/artifacts/${file.artifactId}?include_content=false`)).body;
      assert.deepEqual([detail.content_hash, detail.size_bytes, detail.session_id, detail.workflow_id], [file.sha256, file.size, task, 'wf-report']);
    }
  });
});
