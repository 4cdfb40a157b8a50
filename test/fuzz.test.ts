import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { ROOT, startKiln, type KilnServer } from './helpers/kiln-process.js';
import { schemaName, dropSchema, TEST_DATABASE_URL } from './helpers/postgres.js';
import { head, RawConnection } from './helpers/raw-http.js';

/**
 * Bad input against every documented route of every face, on SQLite and on PostgreSQL: NUL
 * characters, huge numbers, arrays for scalars, wrong types and content types, deep JSON, broken
 * multipart, overlong URLs and headers. Nothing may answer 5xx, and every error must be in the
 * envelope of its face.
 */

const doc = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'openapi.json'), 'utf8'));

interface Case {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | FormData;
  label: string;
}

const NUL = '\u0000';
const HUGE = ['1e20', '9223372036854775808', '100000000000000000000', '-1', '2.5', 'abc'];
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

function envelopeProblem(method: string, url: string, status: number, text: string): string | null {
  if (status < 400 || method === 'HEAD') return null;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON: ${text.slice(0, 200)}`;
  }
  const p = new URL(url, 'http://x').pathname;
  if (p.startsWith('/api/v1')) {
    return body.success === false && typeof body.error?.message === 'string' && typeof body.error?.code === 'string' ? null : 'not the native envelope';
  }
  if (p.startsWith('/gumloop')) {
    return ['code', 'type', 'message'].every((k) => typeof body.error?.[k] === 'string') ? null : 'not the Gumloop envelope';
  }
  if (p.startsWith('/syntropic')) return body.detail !== undefined ? null : 'not the FastAPI envelope';
  if (p.startsWith('/mcp')) {
    return body.jsonrpc === '2.0' && typeof body.error?.code === 'number' && typeof body.error?.message === 'string' ? null : 'not a JSON-RPC error';
  }
  return typeof body.error?.code === 'string' && typeof body.error?.message === 'string' ? null : 'not the server envelope';
}

function bodies(template: string): { label: string; headers: Record<string, string>; body: string | FormData }[] {
  const json = (label: string, value: unknown) => ({ label, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
  const strings = ['message', 'systemPrompt', 'model', 'agentId', 'workflowId', 'phaseId', 'name', 'outcome', 'workflow_id', 'artifact_type', 'title', 'content', 'phase_id', 'session_id', 'content_type'];
  const withNul = Object.fromEntries(strings.map((k) => [k, `a${NUL}b`]));
  const arrays = Object.fromEntries(strings.map((k) => [k, ['a', 'b']]));
  const numbers = Object.fromEntries(strings.map((k) => [k, 1e308]));
  const valid = template.startsWith('/syntropic')
    ? { workflow_id: 'w', artifact_type: 'text', title: 't', content: 'c' }
    : { message: 'hi', name: 'n', outcome: 'cancel' };
  const noBoundary = { label: 'multipart without boundary', headers: { 'content-type': 'multipart/form-data' }, body: 'x' };
  const cutMultipart = { label: 'multipart cut off', headers: { 'content-type': 'multipart/form-data; boundary=zz' }, body: '--zz\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi' };
  const cutInFile = (field: string) => ({
    label: `multipart cut off in a file part (${field})`,
    headers: { 'content-type': 'multipart/form-data; boundary=zz' },
    body: `--zz\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--zz\r\nContent-Disposition: form-data; name="${field}"; filename="a.txt"\r\n\r\nhello`,
  });
  const longName = `${'é'.repeat(200)}.txt`;
  return [
    json('NUL in every string', { ...valid, ...withNul }),
    json('NUL in a key', { ...valid, [`k${NUL}`]: 'v', env: { [`A${NUL}`]: 'x' }, metadata: { [`m${NUL}`]: 1 } }),
    json('NUL in env, metadata, derived_from', { ...valid, env: { A: `x${NUL}` }, secrets: { S: `y${NUL}` }, metadata: { m: `z${NUL}` }, derived_from: [`d${NUL}`] }),
    json('arrays for scalars', { ...valid, ...arrays }),
    json('numbers for strings', { ...valid, ...numbers }),
    json('huge integers', { ...valid, autoExecute: 1e20, is_primary_deliverable: 2 ** 63, toolPolicy: { read_file: 1 } }),
    json('wrong top-level type', [1, 2, 3]),
    json('null body', null),
    { label: 'deeply nested metadata', headers: { 'content-type': 'application/json' }, body: `{"workflow_id":"w","artifact_type":"text","title":"t","content":"c","message":"m","metadata":{"a":${deep(10_000)}}}` },
    { label: 'deeply nested body', headers: { 'content-type': 'application/json' }, body: deep(5000) },
    { label: 'invalid JSON', headers: { 'content-type': 'application/json' }, body: '{"message": ' },
    { label: 'empty JSON', headers: { 'content-type': 'application/json' }, body: '' },
    { label: 'JSON as a form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: JSON.stringify(valid) },
    { label: 'JSON as text', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(valid) },
    { label: 'form with NUL', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'message=a%00b&systemPrompt=%00' },
    { label: 'form with arrays', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'message=a&message=b&files=x' },
    { label: 'unknown content type', headers: { 'content-type': 'application/x-kiln' }, body: 'x' },
    noBoundary,
    cutMultipart,
    cutInFile('file'),
    cutInFile('files'),
    { label: 'multipart with a file name over 255 bytes', headers: {}, body: form({ message: 'hi' }, [{ name: longName, content: 'x', field: 'file' }, { name: longName, content: 'y' }]) },
    { label: 'multipart with NUL', headers: {}, body: form({ message: `a${NUL}b`, [`f${NUL}`]: 'x' }) },
    { label: 'multipart with a NUL file name', headers: {}, body: form({ message: 'hi' }, [{ name: `a${NUL}.txt`, content: 'x', field: 'file' }, { name: `b${NUL}.txt`, content: 'y' }]) },
    { label: 'multipart files as text', headers: {}, body: form({ message: 'hi', files: 'not a file', file: 'not a file' }) },
  ];
}

function cases(template: string, method: string, real: Record<string, string>): Case[] {
  const operation = doc.paths[template][method];
  const fill = (value: (name: string) => string) => template.replace(/\{(\w+)\}/g, (_, name: string) => value(name));
  const base = fill((name) => encodeURIComponent(real[name] ?? 'x'));
  const M = method.toUpperCase();
  const out: Case[] = [];
  for (const bad of [`a${NUL}b`, ...HUGE, 'x'.repeat(300)]) {
    if (!template.includes('{')) break;
    out.push({ method: M, url: fill(() => encodeURIComponent(bad)), label: `path ${JSON.stringify(bad.slice(0, 20))}` });
  }
  if (template.includes('{')) out.push({ method: M, url: fill(() => '%E0%A4%A'), label: 'bad percent-encoding' });
  const queryNames = [...(operation.parameters ?? []), ...(doc.paths[template].parameters ?? [])]
    .map((p: any) => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()] : p))
    .filter((p: any) => p.in === 'query')
    .map((p: any) => p.name as string);
  for (const name of queryNames) {
    for (const bad of [`a${NUL}b`, ...HUGE]) out.push({ method: M, url: `${base}?${name}=${encodeURIComponent(bad)}`, label: `query ${name}=${JSON.stringify(bad)}` });
    out.push({ method: M, url: `${base}?${name}=1&${name}=2`, label: `query ${name} twice` });
    out.push({ method: M, url: `${base}?${name}[a]=1`, label: `query ${name} as an object` });
  }
  out.push({ method: M, url: `${base}?q=${'y'.repeat(20_000)}`, label: 'overlong URL' });
  out.push({ method: M, url: base, headers: { 'x-filler': 'z'.repeat(20_000) }, label: 'overlong header' });
  out.push({ method: M, url: base, headers: { 'last-event-id': `${NUL}` }, label: 'NUL in Last-Event-ID' });
  out.push({ method: M, url: base, headers: { 'last-event-id': '99999999999999999999' }, label: 'huge Last-Event-ID' });
  if (M === 'POST' || M === 'PATCH' || M === 'DELETE') {
    for (const b of bodies(template)) out.push({ method: M, url: base, headers: b.headers, body: b.body, label: b.label });
  }
  return out;
}

async function send(kiln: KilnServer, c: Case): Promise<{ status: number; text: string }> {
  if (c.headers && Object.values(c.headers).some((v) => v.includes(NUL))) {
    // fetch refuses a NUL in a header; a raw client sends it as it is.
    const connection = new RawConnection(kiln.url);
    connection.send(head(c.method, c.url, { authorization: `Bearer ${kiln.key}`, ...c.headers }));
    const response = await connection.response();
    connection.close();
    return { status: response.status, text: response.body };
  }
  const response = await fetch(kiln.url + c.url, {
    method: c.method,
    headers: { authorization: `Bearer ${kiln.key}`, ...c.headers },
    ...(c.body !== undefined ? { body: c.body } : {}),
  });
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream') || type.startsWith('application/zip')) {
    await response.body?.cancel();
    return { status: response.status, text: '' };
  }
  return { status: response.status, text: await response.text() };
}

async function fuzz(kiln: KilnServer): Promise<number> {
  const api = Api.of(kiln);
  const task = await api.createTask({ message: 'write notes.txt\nhello\nEOF' });
  await api.waitForEnd(task);
  const agents = await api.get('/api/v1/agents');
  const artifact = await api.post('/syntropic/artifacts', { workflow_id: 'w', artifact_type: 'text', title: 't', content: 'c' });
  const files = await api.get(`/api/v1/tasks/${task}/artifacts`);
  const real: Record<string, string> = {
    id: task,
    callId: 'call-1',
    agentId: agents.body.data[0].id,
    artifactId: files.body.data.files[0].artifactId,
    versionId: files.body.data.files[0].versionId,
  };
  const all: Case[] = [];
  for (const [template, operations] of Object.entries<any>(doc.paths)) {
    for (const method of Object.keys(operations).filter((m) => m !== 'parameters')) {
      const filled = template.startsWith('/syntropic/artifacts/') ? { ...real, id: artifact.body.id } : real;
      all.push(...cases(template, method, filled));
    }
  }
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (next < all.length) {
        const c = all[next++]!;
        const { status, text } = await send(kiln, c);
        if (status >= 500) failures.push(`${c.method} ${c.url.slice(0, 120)} (${c.label}) → ${status} ${text.slice(0, 200)}`);
        else {
          const problem = envelopeProblem(c.method, c.url, status, text);
          if (problem) failures.push(`${c.method} ${c.url.slice(0, 120)} (${c.label}) → ${status}: ${problem}`);
        }
      }
    }),
  );
  assert.deepEqual(failures, [], `${failures.length} of ${all.length} requests failed`);
  assert.ok(!/request failed/.test(kiln.logs()), 'no request failed on the server');
  return all.length;
}

describe('fuzzing every route', () => {
  it('answers bad input on SQLite with a client error in the face envelope, never a 5xx', { timeout: 120_000 }, async () => {
    const kiln = await startKiln();
    try {
      assert.ok((await fuzz(kiln)) > 500);
    } finally {
      await kiln.stop();
    }
  });

  it('answers bad input on PostgreSQL with a client error in the face envelope, never a 5xx', { timeout: 120_000 }, async () => {
    const schema = schemaName('fuzz');
    const kiln = await startKiln({ env: { DATABASE_URL: TEST_DATABASE_URL, KILN_DB_SCHEMA: schema } });
    try {
      assert.ok((await fuzz(kiln)) > 500);
      await kiln.stop();
      await dropSchema(schema);
    } finally {
      await kiln.stop();
    }
  });
});
