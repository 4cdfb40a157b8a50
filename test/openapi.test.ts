import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api, form } from './helpers/api.js';
import { ROOT, startKiln, type KilnServer } from './helpers/kiln-process.js';

/**
 * Keeps docs/openapi.json true to the code: every route the server registers is documented and
 * every documented operation exists, and what a running server answers matches the documented
 * schemas (no undocumented fields, no missing required ones, only documented status codes).
 */

const DOC_PATH = path.join(ROOT, 'docs', 'openapi.json');
const FACES_DIR = path.join(ROOT, 'src', 'faces');
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

// ---------------------------------------------------------------------------------------------
// Routes registered in the source
// ---------------------------------------------------------------------------------------------

interface SourceRoute {
  method: string;
  /** OpenAPI form: `/api/v1/tasks/{id}`. */
  path: string;
  where: string;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/**
 * The prefix every face folder is mounted at, read from the `register(..., { prefix })` calls of
 * the HTTP server. Files outside a face folder are mounted at the root.
 */
function facePrefixes(files: string[]): Map<string, string> {
  const server = fs.readFileSync(path.join(FACES_DIR, 'http', 'server.ts'), 'utf8');
  const prefixes = new Map<string, string>();
  const registrations = [...server.matchAll(/\.register\(\s*async\s*\(\s*(\w+)\s*\)\s*=>\s*(\w+)\(\s*\1\b[^)]*\)\s*,\s*\{\s*prefix:\s*'([^']*)'/g)];
  assert.ok(registrations.length > 0, 'the HTTP server mounts its faces with register(..., { prefix })');
  for (const [, , face, prefix] of registrations) {
    const home = files.find((file) => new RegExp(`export\\s+async\\s+function\\s+${face}\\s*\\(`).test(fs.readFileSync(file, 'utf8')));
    assert.ok(home, `the face ${face} mounted at ${prefix} is defined under src/faces`);
    prefixes.set(path.dirname(home), prefix!);
  }
  return prefixes;
}

/**
 * Every route registered in src/faces: `x.get('/...')` (and the other methods) and
 * `x.route({ method, url })` on any Fastify instance of the file. A route call this reader cannot
 * understand fails the test instead of being skipped.
 */
function sourceRoutes(): SourceRoute[] {
  const files = sourceFiles(FACES_DIR);
  const prefixes = facePrefixes(files);
  const routes: SourceRoute[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const relative = path.relative(ROOT, file);
    const prefix = prefixes.get(path.dirname(file)) ?? '';
    const instances = new Set<string>([
      ...[...text.matchAll(/\b(\w+)\s*:\s*FastifyInstance\b/g)].map((m) => m[1]!),
      ...[...text.matchAll(/\b(?:const|let)\s+(\w+)\s*=\s*(?:await\s+)?Fastify\s*\(/g)].map((m) => m[1]!),
    ]);
    for (const instance of instances) {
      const call = new RegExp(`\\b${instance}\\s*\\.\\s*(get|post|put|patch|delete|head|options|all|route)\\s*(?:<[^()]*?>)?\\s*\\(`, 'g');
      for (const match of text.matchAll(call)) {
        const where = `${relative}:${lineOf(text, match.index!)}`;
        const rest = text.slice(match.index! + match[0].length);
        const verb = match[1]!;
        if (verb === 'route') {
          const options = rest.slice(0, rest.search(/\bhandler\b/) >= 0 ? rest.search(/\bhandler\b/) : 600);
          const url = /\burl\s*:\s*(['"`])(\/[^'"`]*)\1/.exec(options);
          const method = /\bmethod\s*:\s*(\[[^\]]*\]|(['"`])[A-Za-z]+\2)/.exec(options);
          assert.ok(url && method, `the route at ${where} names its method and url as literals (so that this test can read it)`);
          const methods = [...method[1]!.matchAll(/['"`]([A-Za-z]+)['"`]/g)].map((m) => m[1]!.toLowerCase());
          for (const m of methods) routes.push({ method: m, path: openApiPath(prefix + url[2]!), where });
        } else {
          const url = /^\s*(['"`])(\/[^'"`]*)\1/.exec(rest);
          assert.ok(url, `the route at ${where} has a literal path (so that this test can read it)`);
          assert.notEqual(verb, 'all', `the route at ${where} uses all(): name its methods so that they can be documented`);
          routes.push({ method: verb, path: openApiPath(prefix + url[2]!), where });
        }
      }
    }
  }
  return routes;
}

function openApiPath(fastifyPath: string): string {
  const joined = fastifyPath.replace(/\/+$/, '') || '/';
  return joined.replace(/:(\w+)/g, '{$1}');
}

function documentedOperations(doc: any): { method: string; path: string }[] {
  return Object.entries<any>(doc.paths).flatMap(([p, item]) => HTTP_METHODS.filter((m) => item[m] !== undefined).map((method) => ({ method, path: p })));
}

const key = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;

// ---------------------------------------------------------------------------------------------
// A small checker for the JSON Schema the document uses
// ---------------------------------------------------------------------------------------------

class SchemaChecker {
  constructor(private readonly doc: any) {}

  resolve(schema: any): any {
    let s = schema;
    for (let hops = 0; s && typeof s === 'object' && typeof s.$ref === 'string'; hops++) {
      assert.ok(hops < 20, `$ref loop at ${schema.$ref}`);
      s = this.pointer(s.$ref);
    }
    return s;
  }

  pointer(ref: string): any {
    assert.ok(ref.startsWith('#/'), `only local references are used (${ref})`);
    let node: any = this.doc;
    for (const part of ref.slice(2).split('/')) {
      node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      if (node === undefined) return undefined;
    }
    return node;
  }

  /** Property names an object schema (with its allOf parts) documents. */
  private propertyNames(schema: any): Set<string> {
    const s = this.resolve(schema);
    const names = new Set<string>(Object.keys(s.properties ?? {}));
    for (const part of s.allOf ?? []) for (const name of this.propertyNames(part)) names.add(name);
    return names;
  }

  /**
   * What is wrong with `value` under `schema` (empty when it conforms). Objects with documented
   * properties are closed: a field the document does not name is reported.
   */
  errors(schema: any, value: unknown, at: string, open = false): string[] {
    const s = this.resolve(schema);
    if (s === undefined) return [`${at}: unresolvable schema ${JSON.stringify(schema)}`];
    const out: string[] = [];
    if (s.allOf) {
      for (const part of s.allOf) out.push(...this.errors(part, value, at, true));
      if (isPlainObject(value) && !open) {
        const names = this.propertyNames(s);
        for (const name of Object.keys(value)) if (!names.has(name)) out.push(`${at}.${name} is not documented`);
      }
      return out;
    }
    if (s.oneOf) {
      const results = s.oneOf.map((branch: any) => this.errors(branch, value, at, open));
      const matching = results.filter((r: string[]) => r.length === 0).length;
      if (matching === 1) return out;
      if (matching > 1) return [`${at} matches ${matching} alternatives of a oneOf`];
      const closest = results.reduce((a: string[], b: string[]) => (b.length < a.length ? b : a));
      return [`${at} matches none of the documented alternatives; nearest: ${closest.join('; ')}`];
    }
    if ('const' in s && JSON.stringify(value) !== JSON.stringify(s.const)) out.push(`${at} should be ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}`);
    if (s.enum && !s.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${at} = ${JSON.stringify(value)} is not one of ${s.enum.join(', ')}`);
    if (s.type !== undefined) {
      const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
      if (!types.some((t) => hasType(t, value))) return [...out, `${at} should be ${types.join(' or ')}, got ${JSON.stringify(value)?.slice(0, 80)}`];
    }
    if (typeof value === 'string') {
      if (s.pattern && !new RegExp(s.pattern).test(value)) out.push(`${at} = ${JSON.stringify(value)} does not match ${s.pattern}`);
      if (s.maxLength !== undefined && value.length > s.maxLength) out.push(`${at} is longer than ${s.maxLength}`);
      if (s.minLength !== undefined && value.length < s.minLength) out.push(`${at} is shorter than ${s.minLength}`);
      if (s.format === 'date-time' && Number.isNaN(Date.parse(value))) out.push(`${at} = ${JSON.stringify(value)} is not a date-time`);
      if (s.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) out.push(`${at} = ${value} is not a uuid`);
      if (s.format === 'uri' && !URL.canParse(value)) out.push(`${at} = ${value} is not a URI`);
    }
    if (typeof value === 'number') {
      if (s.minimum !== undefined && value < s.minimum) out.push(`${at} = ${value} is below ${s.minimum}`);
      if (s.maximum !== undefined && value > s.maximum) out.push(`${at} = ${value} is above ${s.maximum}`);
    }
    if (Array.isArray(value)) {
      if (s.minItems !== undefined && value.length < s.minItems) out.push(`${at} has fewer than ${s.minItems} items`);
      if (s.maxItems !== undefined && value.length > s.maxItems) out.push(`${at} has more than ${s.maxItems} items`);
      if (s.items) value.forEach((item, i) => out.push(...this.errors(s.items, item, `${at}[${i}]`)));
    }
    if (isPlainObject(value)) {
      for (const name of s.required ?? []) if (!(name in value)) out.push(`${at}.${name} is missing`);
      for (const [name, v] of Object.entries(value)) {
        if (s.propertyNames) out.push(...this.errors(s.propertyNames, name, `${at} (property name ${name})`));
        if (s.properties?.[name] !== undefined) out.push(...this.errors(s.properties[name], v, `${at}.${name}`));
        else if (isPlainObject(s.additionalProperties)) out.push(...this.errors(s.additionalProperties, v, `${at}.${name}`));
        else if (s.additionalProperties === false || (s.properties && s.additionalProperties === undefined && !open)) out.push(`${at}.${name} is not documented`);
      }
    }
    return out;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(type: string, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
    default:
      return typeof value === type;
  }
}

/** Every `$ref` anywhere in the document. */
function references(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) references(item, found);
  else if (isPlainObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else references(v, found);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Talking to the running server, checked against the document
// ---------------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

const doc: any = JSON.parse(fs.readFileSync(DOC_PATH, 'utf8'));
const checker = new SchemaChecker(doc);

/** The documented schema of one response of one operation. */
function documentedResponse(method: string, template: string, status: number, mediaType: string): any {
  const operation = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(operation, `${method} ${template} is documented`);
  const response = checker.resolve(operation.responses[String(status)]);
  assert.ok(response, `${method} ${template} documents the status ${status} it answered`);
  if (!mediaType) return undefined;
  const content = response.content?.[mediaType] ?? response.content?.['*/*'];
  assert.ok(content, `${method} ${template} documents a ${mediaType} body for ${status}`);
  return content.schema;
}

/** Sends a request to `template` (with its path parameters filled in) and checks the answer against the document. */
async function call(
  kiln: KilnServer,
  method: string,
  template: string,
  options: { params?: Record<string, string>; query?: Record<string, string>; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<Reply> {
  const url = new URL(kiln.url + template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? `missing-${name}`)));
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth === undefined ? `Bearer ${kiln.key}` : options.auth;
  if (auth !== null) headers.authorization = auth;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  let text = '';
  let parsed: any = null;
  if (type === 'text/event-stream' || type === 'application/zip' || method === 'HEAD') {
    await response.body?.cancel();
  } else {
    text = await response.text();
    parsed = type === 'application/json' && text !== '' ? JSON.parse(text) : text;
  }
  const schema = documentedResponse(method, template, response.status, method === 'HEAD' || response.status === 304 ? '' : type);
  if (type === 'application/json' && schema) {
    const problems = checker.errors(schema, parsed, `${method} ${template} → ${response.status}`);
    assert.deepEqual(problems, [], `the answer matches the document:\n${text.slice(0, 2000)}`);
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

/** Each event of a stream, checked against the documented event schema. */
function checkEvents(events: { event: string; data: unknown; id?: number }[]): void {
  const schema = doc.components.schemas.StreamEvent;
  for (const e of events) {
    const message = { event: e.event, data: e.data, ...(e.id !== undefined ? { id: e.id } : {}) };
    assert.deepEqual(checker.errors(schema, message, `event ${e.event}`), [], JSON.stringify(message));
  }
}

/** True when the answer is a face's (or the server's) reply to an endpoint it does not have. */
function isUnknownEndpoint(reply: { status: number; text: string }): boolean {
  if (reply.status !== 404) return false;
  return reply.text === '' || /No such endpoint/.test(reply.text) || reply.text === '{"detail":"Not Found"}';
}

// ---------------------------------------------------------------------------------------------

describe('the OpenAPI document', () => {
  let kiln: KilnServer;
  let api: Api;
  /** Real ids, so that every documented path can be called. */
  const real: Record<string, string> = {};

  before(async () => {
    kiln = await startKiln();
    api = Api.of(kiln);
    const created = await api.request('POST', '/api/v1/tasks', {
      body: form({ message: 'think about it\nwrite downloads/report.md\n# Report\nEOF\ncat downloads/report.md', workflowId: 'wf-doc', phaseId: 'draft' }, [
        { name: 'notes.txt', content: 'some notes\n' },
      ]),
    });
    real.taskId = created.body.data.id as string;
    await api.waitForEnd(created.body.data.id);
    real.agentId = (await api.get('/api/v1/agents')).body.data[0].id;
    const file = (await api.get(`/api/v1/tasks/${real.taskId}/artifacts`)).body.data.files.find((f: any) => f.path === 'downloads/report.md');
    real.path = file.path;
    real.artifactId = file.artifactId;
    real.versionId = file.versionId;
    const link = new URL((await api.get(`/gumloop/artifacts/${file.artifactId}/download`)).body.download_url);
    real.expires = link.searchParams.get('expires')!;
    real.signature = link.searchParams.get('signature')!;
  });
  after(async () => {
    await kiln?.stop();
  });

  it('is an OpenAPI 3.1 document whose references all resolve', () => {
    assert.match(doc.openapi, /^3\.1\./);
    assert.equal(typeof doc.info.title, 'string');
    for (const ref of references(doc)) assert.notEqual(checker.pointer(ref), undefined, `${ref} resolves`);
    const ids = new Set<string>();
    for (const { method, path: p } of documentedOperations(doc)) {
      const item = doc.paths[p];
      const operation = item[method];
      assert.ok(operation.operationId && !ids.has(operation.operationId), `${method} ${p} has a unique operationId`);
      ids.add(operation.operationId);
      assert.ok(Object.keys(operation.responses ?? {}).length > 0, `${method} ${p} documents its responses`);
      const declared = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map((x: any) => checker.resolve(x)).filter((x: any) => x.in === 'path');
      const inTemplate = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.map((x: any) => x.name).sort(), [...inTemplate].sort(), `${method} ${p} declares exactly its path parameters`);
    }
  });

  it('offers Bearer keys, X-API-Key and, for Syntropic137, HTTP Basic', () => {
    const schemes = doc.components.securitySchemes;
    assert.deepEqual({ type: schemes.bearerApiKey.type, scheme: schemes.bearerApiKey.scheme }, { type: 'http', scheme: 'bearer' });
    assert.deepEqual({ type: schemes.apiKeyHeader.type, in: schemes.apiKeyHeader.in, name: schemes.apiKeyHeader.name }, { type: 'apiKey', in: 'header', name: 'X-API-Key' });
    assert.deepEqual({ type: schemes.basicApiKey.type, scheme: schemes.basicApiKey.scheme }, { type: 'http', scheme: 'basic' });
    for (const { method, path: p } of documentedOperations(doc)) {
      const security = doc.paths[p][method].security ?? doc.security;
      const names = security.flatMap((s: any) => Object.keys(s));
      if (p.startsWith('/syntropic/')) assert.ok(names.includes('basicApiKey'), `${method} ${p} accepts Basic`);
      else assert.ok(!names.includes('basicApiKey'), `${method} ${p} does not accept Basic`);
    }
  });

  it('documents every route the server registers, and no route it does not have', () => {
    const registered = sourceRoutes();
    assert.ok(registered.length >= 20, `the route reader found the routes (${registered.length})`);
    const documented = new Set(documentedOperations(doc).map(key));
    const undocumented = registered.filter((r) => !documented.has(key(r))).map((r) => `${key(r)} (${r.where})`);
    assert.deepEqual(undocumented, [], 'routes registered in src/faces but missing from docs/openapi.json');
    const inSource = new Set(registered.map(key));
    const invented = [...documented].filter((k) => !inSource.has(k));
    assert.deepEqual(invented, [], 'operations in docs/openapi.json that no route registers');
  });

  it('has every documented operation answered by the running server', async () => {
    const probe: Record<string, string> = { callId: 'call_unknown', ...real };
    const valueOf = (template: string, name: string) => {
      if (name !== 'id') return probe[name] ?? 'probe';
      if (template.startsWith('/api/v1/agents')) return real.agentId!;
      if (template.startsWith('/syntropic/')) return real.artifactId!;
      return real.taskId!;
    };
    const unanswered: string[] = [];
    for (const { method, path: template } of documentedOperations(doc)) {
      const item = doc.paths[template];
      const parameters = [...(item.parameters ?? []), ...(item[method].parameters ?? [])].map((x: any) => checker.resolve(x));
      const url = new URL(kiln.url + template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(valueOf(template, name))));
      for (const q of parameters.filter((x: any) => x.in === 'query' && x.required)) url.searchParams.set(q.name, valueOf(template, q.name));
      // A body no operation accepts: refused by validation, so that probing changes nothing.
      const body = ['post', 'put', 'patch'].includes(method) ? JSON.stringify({ probe: true }) : undefined;
      const response = await fetch(url, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${kiln.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body } : {}),
      });
      const streamed = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
      const text = streamed ? '' : await response.text();
      if (streamed) await response.body?.cancel();
      if (!streamed && isUnknownEndpoint({ status: response.status, text })) unanswered.push(`${method.toUpperCase()} ${template} → ${response.status} ${text}`);
    }
    assert.deepEqual(unanswered, [], 'documented operations the server answers as unknown');
  });

  it('names every stream event and every error code the code can send', () => {
    const documentedText = JSON.stringify(doc);
    const eventTypes = fs.readFileSync(path.join(ROOT, 'src/core/events/event-types.ts'), 'utf8');
    const logged = [...eventTypes.matchAll(/\{\s*type:\s*'(\w+)';\s*data:/g)].map((m) => m[1]!);
    assert.ok(logged.length >= 10, 'the event types were read');
    const streamed = new Set(doc.components.schemas.StreamEvent.oneOf.map((b: any) => b.properties.event.const));
    for (const name of [...logged, 'history_message', 'history_done']) assert.ok(streamed.has(name), `the stream event ${name} is documented`);

    const codes = new Set<string>();
    for (const file of sourceFiles(FACES_DIR)) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bcode:\s*'([\w.]+)'/g)) {
        // Zod issue codes (`ctx.addIssue({ code: 'custom' })`) are not answers.
        if (!/addIssue\(\s*\{\s*$/.test(text.slice(Math.max(0, m.index! - 30), m.index!))) codes.add(m[1]!);
      }
      for (const m of text.matchAll(/gumloopCode:\s*'([\w.]+)'/g)) codes.add(m[1]!);
      for (const m of text.matchAll(/\[\d{3},\s*'(\w+)'(?:,\s*'(\w+)')?\]/g)) {
        codes.add(m[1]!);
        if (m[2]) codes.add(m[2]);
      }
    }
    assert.ok(codes.size >= 20, 'the error codes were read');
    const missing = [...codes].filter((code) => !documentedText.includes(`"${code}"`) && !documentedText.includes(`\`${code}\``));
    assert.deepEqual(missing, [], 'error codes (and Gumloop error types) sent by src/faces but not named in the document');
  });

  it('describes the tasks API as it answers: create in three content types, list, read, history, follow-ups, approvals, cancel', async () => {
    const json = await call(kiln, 'POST', '/api/v1/tasks', {
      json: { message: 'hello', systemPrompt: 'Be brief.', toolPolicy: { read_file: 'allow' }, env: { A: 'b' }, secrets: { TOKEN: 'xyzzy-secret' }, workflowId: 'wf-doc' },
    });
    assert.equal(json.status, 200);
    const encoded = await call(kiln, 'POST', '/api/v1/tasks', {
      body: new URLSearchParams({ message: 'hello form', showInHistory: 'false', autoExecute: 'TRUE' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(encoded.status, 200);
    const multipart = await call(kiln, 'POST', '/api/v1/tasks', { body: form({ message: 'hello files' }, [{ name: 'a.txt', content: 'a' }]) });
    assert.equal(multipart.status, 200);
    await api.waitForEnd(multipart.body.data.id);

    const list = await call(kiln, 'GET', '/api/v1/tasks', { query: { limit: '2', offset: '1' } });
    assert.equal(list.body.pagination.limit, 2);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks', { query: { limit: '0' } })).status, 400);

    const detail = await call(kiln, 'GET', '/api/v1/tasks/{id}', { params: { id: real.taskId! } });
    assert.ok(detail.body.data.output, 'a started task has its output');
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}', { params: { id: 'no-such-task' } })).status, 404);
    const history = await call(kiln, 'GET', '/api/v1/tasks/{id}/history', { params: { id: multipart.body.data.id } });
    assert.ok(history.body.data.messages[0].attachedFiles, 'the first message lists its files');

    const followUp = await call(kiln, 'POST', '/api/v1/tasks/{id}/messages', { params: { id: multipart.body.data.id }, json: { message: 'sleep 300', secrets: { K: 'v' } } });
    assert.equal(followUp.status, 200);
    assert.equal((await call(kiln, 'POST', '/api/v1/tasks/{id}/messages', { params: { id: multipart.body.data.id }, json: { message: 'too soon' } })).status, 409);
    await api.waitForEnd(multipart.body.data.id);
    const multipartFollowUp = await call(kiln, 'POST', '/api/v1/tasks/{id}/messages', {
      params: { id: multipart.body.data.id },
      body: form({ message: 'with a file' }, [{ name: 'b.txt', content: 'b' }]),
    });
    assert.equal(multipartFollowUp.status, 200);
    await api.waitForEnd(multipart.body.data.id);
    const encodedFollowUp = await call(kiln, 'POST', '/api/v1/tasks/{id}/messages', {
      params: { id: multipart.body.data.id },
      body: new URLSearchParams({ message: 'and a form' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(encodedFollowUp.status, 200);
    await api.waitForEnd(multipart.body.data.id);

    // A tool call that waits for a decision.
    const waiting = await call(kiln, 'POST', '/api/v1/tasks', { json: { message: 'ls', autoExecute: false } });
    const id = waiting.body.data.id;
    const stream = await api.openStream(id);
    await stream.readUntil((e) => e.event === 'status' && e.data.status === 'awaiting_approval');
    stream.close();
    const pending = await call(kiln, 'GET', '/api/v1/tasks/{id}', { params: { id } });
    const callId = pending.body.data.pendingApprovals[0].callId;
    assert.equal((await call(kiln, 'POST', '/api/v1/tasks/{id}/tools/{callId}/approve', { params: { id, callId }, json: { outcome: 'sideways' } })).status, 400);
    assert.equal((await call(kiln, 'POST', '/api/v1/tasks/{id}/tools/{callId}/approve', { params: { id, callId: 'call_nope' }, json: { outcome: 'cancel' } })).status, 404);
    const approved = await call(kiln, 'POST', '/api/v1/tasks/{id}/tools/{callId}/approve', { params: { id, callId }, json: { outcome: 'proceed_once' } });
    assert.equal(approved.body.data.approved, true);
    assert.equal((await call(kiln, 'POST', '/api/v1/tasks/{id}/tools/{callId}/approve', { params: { id, callId }, json: { outcome: 'cancel' } })).status, 409);
    await api.waitForEnd(id);

    const sleeper = (await call(kiln, 'POST', '/api/v1/tasks', { json: { message: 'sleep 10000' } })).body.data.id;
    const cancelled = await call(kiln, 'DELETE', '/api/v1/tasks/{id}', { params: { id: sleeper } });
    assert.equal(cancelled.body.data.message, 'Task cancelled');
    assert.equal((await call(kiln, 'DELETE', '/api/v1/tasks/{id}', { params: { id: real.taskId! } })).status, 409);
  });

  it('describes every event a stream sends, with its payload', async () => {
    const failing = await api.createTask({ message: 'think first\nfail on purpose' });
    const waiting = await api.createTask({ message: 'cat downloads/x.txt', autoExecute: false });
    const stream = await api.openStream(waiting);
    await stream.readUntil((e) => e.event === 'status' && e.data.status === 'awaiting_approval');
    stream.close();
    const callId = (await api.get(`/api/v1/tasks/${waiting}`)).body.data.pendingApprovals[0].callId;
    await api.post(`/api/v1/tasks/${waiting}/tools/${callId}/approve`, { outcome: 'cancel' });
    const sleeper = await api.createTask({ message: 'sleep 10000' });
    const open = await api.openStream(sleeper);
    await open.readUntil((e) => e.event === 'history_done');
    await api.request('DELETE', `/api/v1/tasks/${sleeper}`);
    const all = [
      ...(await api.streamAll(real.taskId!)),
      ...(await api.events(real.taskId!)),
      ...(await api.events(failing)),
      ...(await api.events(waiting)),
      ...(await open.readAll()),
    ];
    checkEvents(all);
    const seen = new Set(all.map((e) => e.event));
    for (const name of ['history_message', 'history_done', 'status', 'thought', 'content', 'tool_call', 'tool_approval', 'tool_result', 'usage', 'done', 'error', 'cancelled']) {
      assert.ok(seen.has(name), `the streams showed a ${name} event`);
    }
    const response = await fetch(`${kiln.url}/api/v1/tasks/${real.taskId}/stream`, { headers: { authorization: `Bearer ${kiln.key}` } });
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    await response.body?.cancel();
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/stream', { params: { id: real.taskId! }, headers: { 'last-event-id': 'x' } })).status, 400);
  });

  it('describes the artifact routes: listing, downloads with versions, ranges and ETags, versions, archives', async () => {
    const params = { id: real.taskId! };
    await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts', { params });
    const whole = await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path!, version: '1' } });
    const etag = whole.headers.get('etag')!;
    assert.match(etag, /^"[0-9a-f]{64}"$/);
    assert.equal((await call(kiln, 'HEAD', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path! } })).status, 200);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path! }, headers: { range: 'bytes=0-1' } })).status, 206);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path! }, headers: { range: 'bytes=9999-' } })).status, 416);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path! }, headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path!, version: '0' } })).status, 400);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params, query: { path: real.path!, version: '7' } })).status, 404);
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/download', { params })).status, 400);
    await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/versions', { params, query: { path: real.path! } });
    const zip = await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/archive', { params, query: { path: 'downloads' } });
    assert.equal(zip.headers.get('content-type'), 'application/zip');
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks/{id}/artifacts/archive', { params, query: { path: 'nothing-here' } })).status, 404);
  });

  it('describes the keys API', async () => {
    const created = await call(kiln, 'POST', '/api/v1/keys', { json: { userId: 'documented', name: 'doc key' } });
    assert.equal(created.status, 201);
    const member = created.body.data.key as string;
    await call(kiln, 'GET', '/api/v1/keys');
    await call(kiln, 'GET', '/api/v1/keys', { query: { all: 'true' } });
    await call(kiln, 'GET', '/api/v1/keys', { query: { userId: 'documented' } });
    assert.equal((await call(kiln, 'GET', '/api/v1/keys', { query: { userId: 'nobody' } })).status, 404);
    assert.equal((await call(kiln, 'GET', '/api/v1/keys', { query: { all: 'yes' } })).status, 400);
    await call(kiln, 'GET', '/api/v1/users');
    assert.equal((await call(kiln, 'GET', '/api/v1/users', { auth: `Bearer ${member}` })).status, 403);
    assert.equal((await call(kiln, 'POST', '/api/v1/keys', { auth: `Bearer ${member}`, json: { admin: true } })).status, 403);
    assert.equal((await call(kiln, 'POST', '/api/v1/keys', { json: { colour: 'red' } })).status, 400);
    assert.equal((await call(kiln, 'DELETE', '/api/v1/keys/{id}', { params: { id: created.body.data.id } })).status, 200);
    assert.equal((await call(kiln, 'DELETE', '/api/v1/keys/{id}', { params: { id: created.body.data.id } })).status, 404);
  });

  it('describes widget apps, the token exchange and the widget script', async () => {
    const created = await call(kiln, 'POST', '/api/v1/widget-apps', { json: { name: 'Documented', allowedOrigins: ['https://shop.example'], env: { A: 'b' }, secrets: { S: 'secret-value' } } });
    assert.equal(created.status, 201);
    const id = created.body.data.id;
    await call(kiln, 'GET', '/api/v1/widget-apps');
    await call(kiln, 'GET', '/api/v1/widget-apps/{id}', { params: { id } });
    await call(kiln, 'PATCH', '/api/v1/widget-apps/{id}', { params: { id }, json: { autoExecute: false, secrets: null } });
    assert.equal((await call(kiln, 'PATCH', '/api/v1/widget-apps/{id}', { params: { id }, json: { colour: 'red' } })).status, 400);
    const rotated = await call(kiln, 'POST', '/api/v1/widget-apps/{id}/rotate-secret', { params: { id } });
    const exchange = { appId: id, appSecret: rotated.body.data.appSecret, endUserId: 'doc-user' };
    const token = (await call(kiln, 'POST', '/api/v1/auth/token', { auth: null, json: { ...exchange, expiresIn: '30m', env: { X: 'y' } } })).body.data.token;
    assert.equal((await call(kiln, 'POST', '/api/v1/auth/token', { auth: null, json: { ...exchange, expiresIn: 'soon' } })).body.error.code, 'INVALID_EXPIRES_IN');
    assert.equal((await call(kiln, 'POST', '/api/v1/auth/token', { auth: null, json: { ...exchange, appSecret: 'wrong' } })).body.error.code, 'INVALID_CREDENTIALS');
    assert.equal((await call(kiln, 'POST', '/api/v1/auth/token', { auth: null, json: exchange, headers: { origin: 'https://evil.example' } })).body.error.code, 'ORIGIN_NOT_ALLOWED');
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks', { auth: `Bearer ${token}` })).status, 200);
    assert.equal((await call(kiln, 'GET', '/api/v1/agents', { auth: `Bearer ${token}` })).body.error.code, 'FORBIDDEN');
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks', { headers: { origin: 'https://shop.example' } })).body.error.code, 'ORIGIN_NOT_ALLOWED');
    assert.equal((await call(kiln, 'GET', '/gumloop/agents', { auth: `Bearer ${token}` })).status, 403);
    assert.equal((await call(kiln, 'GET', '/syntropic/artifacts', { auth: `Bearer ${token}` })).status, 403);
    assert.equal((await call(kiln, 'DELETE', '/api/v1/widget-apps/{id}', { params: { id } })).status, 200);
    assert.equal((await call(kiln, 'GET', '/api/v1/widget-apps/{id}', { params: { id } })).status, 404);
    const script = await call(kiln, 'GET', '/widget.js', { auth: null });
    assert.match(script.text, /data-token-url|tokenUrl/);
  });

  it('describes the MCP endpoint', async () => {
    const headers = { accept: 'application/json, text/event-stream' };
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'doc', version: '1' } } };
    assert.equal((await call(kiln, 'POST', '/mcp', { headers, json: initialize })).status, 200);
    assert.equal((await call(kiln, 'POST', '/mcp', { headers, json: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status, 202);
    assert.equal((await call(kiln, 'POST', '/mcp', { headers, auth: null, json: initialize })).status, 401);
    assert.equal((await call(kiln, 'POST', '/mcp', { json: initialize })).status, 406);
    assert.equal((await call(kiln, 'POST', '/mcp', { headers: { ...headers, 'content-type': 'application/xml' }, body: '<not-json/>' })).status, 415);
    assert.equal((await call(kiln, 'POST', '/mcp', { headers: { ...headers, 'content-type': 'application/json' }, body: '{not json' })).status, 400);
    assert.equal((await call(kiln, 'GET', '/mcp', { auth: null })).status, 405);
    assert.equal((await call(kiln, 'DELETE', '/mcp', { auth: null })).status, 405);
  });

  it('describes the agents API', async () => {
    const mcpServers = {
      docs: { type: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer {{mcp.TOKEN}}' }, timeout: 5000, tools: { deny: ['delete'] } },
      sheets: { command: 'node', args: ['server.mjs'], cwd: 'uploads', env: { KEY: '{{mcp.KEY}}' }, enabled: false },
    };
    const created = await call(kiln, 'POST', '/api/v1/agents', { json: { name: 'Documented', toolPolicy: { run_command: 'ask', 'docs__*': 'allow' }, autoExecute: false, mcpServers } });
    const id = created.body.data.id;
    await call(kiln, 'GET', '/api/v1/agents');
    await call(kiln, 'GET', '/api/v1/agents/{id}', { params: { id } });
    await call(kiln, 'PATCH', '/api/v1/agents/{id}', { params: { id }, json: { systemPrompt: 'Be careful.' } });
    assert.equal((await call(kiln, 'PATCH', '/api/v1/agents/{id}', { params: { id }, json: { colour: 'red' } })).status, 400);
    assert.equal((await call(kiln, 'GET', '/api/v1/agents/{id}', { params: { id: 'no-such-agent' } })).status, 404);
  });

  it('describes the native error envelope, for missing, malformed and JWT credentials', async () => {
    const cases: [string | null, Record<string, string>, number, string][] = [
      [null, {}, 401, 'AUTH_REQUIRED'],
      ['Bearer not-a-kiln-key', {}, 401, 'INVALID_AUTH_FORMAT'],
      [`Bearer kiln_${'0'.repeat(64)}`, {}, 401, 'INVALID_API_KEY'],
      ['Basic abc', {}, 401, 'INVALID_AUTH_FORMAT'],
      ['Bearer eyJhbGciOiJIUzI1NiJ9.e30.x', {}, 401, 'INVALID_TOKEN'],
      [null, { 'x-api-key': 'kiln_wrong' }, 401, 'INVALID_API_KEY'],
    ];
    for (const [auth, headers, status, code] of cases) {
      const reply = await call(kiln, 'GET', '/api/v1/tasks', { auth, headers });
      assert.deepEqual([reply.status, reply.body.error.code], [status, code], `${auth} ${JSON.stringify(headers)}`);
    }
    assert.equal((await call(kiln, 'GET', '/api/v1/tasks', { auth: null, headers: { 'x-api-key': kiln.key } })).status, 200);
    const bad = await call(kiln, 'POST', '/api/v1/tasks', { json: { message: 'x', env: { '1BAD': 'x' } } });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'INVALID_ENV']);
  });

  it('describes the Gumloop face and its error shape', async () => {
    const agents = await call(kiln, 'GET', '/gumloop/agents');
    const agentId = agents.body.agents[0].id;
    await call(kiln, 'GET', '/gumloop/agents/{agentId}', { params: { agentId } });
    const page = await call(kiln, 'GET', '/gumloop/agents/{agentId}/artifacts', { params: { agentId }, query: { page_size: '1', sort_order: 'oldest' } });
    assert.ok(page.body.next_cursor, 'a first page of one row has a cursor');
    await call(kiln, 'GET', '/gumloop/agents/{agentId}/artifacts', { params: { agentId }, query: { page_size: '1', sort_order: 'oldest', cursor: page.body.next_cursor } });
    await call(kiln, 'GET', '/gumloop/agents/{agentId}/artifacts', { params: { agentId }, query: { session_id: real.taskId!, search_query: 'REPORT' } });
    assert.equal((await call(kiln, 'GET', '/gumloop/agents/{agentId}/artifacts', { params: { agentId }, query: { sort_order: 'sideways' } })).status, 400);
    await call(kiln, 'GET', '/gumloop/artifacts/{artifactId}/download', { params: { artifactId: real.artifactId! }, query: { version_id: real.versionId! } });
    assert.equal((await call(kiln, 'GET', '/gumloop/agents/{agentId}', { params: { agentId: 'nope' } })).body.error.code, 'gummie_not_found');
    assert.equal((await call(kiln, 'GET', '/gumloop/artifacts/{artifactId}/download', { params: { artifactId: 'nope' } })).status, 404);
    assert.equal((await call(kiln, 'GET', '/gumloop/agents', { auth: null })).status, 401);
    assert.equal((await call(kiln, 'GET', '/gumloop/agents', { headers: { 'x-auth-key': 'someone-else' } })).status, 401);
  });

  it('describes the Syntropic137 face and its FastAPI error shapes', async () => {
    const basic = `Basic ${Buffer.from(`anyone:${kiln.key}`).toString('base64')}`;
    await call(kiln, 'GET', '/syntropic/artifacts', { auth: basic, query: { workflow_id: 'wf-doc', limit: '5' } });
    assert.equal((await call(kiln, 'GET', '/syntropic/artifacts', { query: { limit: '0' } })).status, 422);
    const created = await call(kiln, 'POST', '/syntropic/artifacts', {
      auth: null,
      headers: { 'x-api-key': kiln.key },
      json: { workflow_id: 'wf-doc', artifact_type: 'plan', title: 'The plan', content: '# Plan', session_id: real.taskId, derived_from: [real.artifactId], metadata: { k: 1 } },
    });
    assert.equal(created.status, 201);
    assert.equal((await call(kiln, 'POST', '/syntropic/artifacts', { json: { workflow_id: 'w', artifact_type: 'poem', title: 't', content: 'c' } })).status, 400);
    assert.equal((await call(kiln, 'POST', '/syntropic/artifacts', { json: { title: 't', surprise: true } })).status, 422);
    assert.equal((await call(kiln, 'POST', '/syntropic/artifacts', { body: '{not json', headers: { 'content-type': 'application/json' } })).status, 422);
    const id = created.body.id as string;
    await call(kiln, 'GET', '/syntropic/artifacts/{id}', { params: { id: id.slice(0, 13) } });
    await call(kiln, 'GET', '/syntropic/artifacts/{id}', { params: { id }, query: { include_content: 'no' } });
    await call(kiln, 'GET', '/syntropic/artifacts/{id}/content', { params: { id } });
    const upload = new FormData();
    upload.append('file', new Blob(['# Plan v2'], { type: 'text/markdown' }), 'plan.md');
    assert.equal((await call(kiln, 'POST', '/syntropic/artifacts/{id}/upload', { params: { id }, body: upload })).body.version, 2);
    assert.equal((await call(kiln, 'POST', '/syntropic/artifacts/{id}/upload', { params: { id }, json: {} })).status, 422);
    assert.equal((await call(kiln, 'GET', '/syntropic/artifacts/{id}', { params: { id: 'zzz-none' } })).status, 404);
    const unauthenticated = await call(kiln, 'GET', '/syntropic/artifacts', { auth: null });
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  it('describes signed download links and the health check', async () => {
    const params = { versionId: real.versionId! };
    const query = { expires: real.expires!, signature: real.signature! };
    assert.equal((await call(kiln, 'GET', '/files/{versionId}', { params, query, auth: null })).status, 200);
    assert.equal((await call(kiln, 'HEAD', '/files/{versionId}', { params, query, auth: null })).status, 200);
    assert.equal((await call(kiln, 'GET', '/files/{versionId}', { params, query, auth: null, headers: { range: 'bytes=-3' } })).status, 206);
    const forged = await call(kiln, 'GET', '/files/{versionId}', { params, query: { ...query, signature: '0'.repeat(64) }, auth: null });
    assert.deepEqual([forged.status, forged.body.error.code], [403, 'INVALID_SIGNATURE']);
    assert.deepEqual((await call(kiln, 'GET', '/healthz', { auth: null })).body, { status: 'ok' });
  });
});
