import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './kiln-process.js';
import { buildZip } from './zip.js';

/** Packages the test stdio server imports at run time, with what they depend on. */
const ROOTS = ['@modelcontextprotocol/sdk', 'zod', 'zod-to-json-schema', 'ajv', 'ajv-formats'];
const CODE = /\.(js|mjs|cjs|json)$/;

/**
 * A ZIP of the test stdio MCP server (`<dir>/server.mjs`) and the packages it imports
 * (`<dir>/node_modules/...`), to be uploaded into a task's workspace: inside the sandbox the
 * workspace is the only place a program can load files from besides the system folders.
 */
export function stdioServerZip(dir = 'mcp-server'): Buffer {
  const modules = path.join(ROOT, 'node_modules');
  const entries: { name: string; content: Buffer }[] = [
    { name: `${dir}/server.mjs`, content: fs.readFileSync(path.join(ROOT, 'dist', 'test', 'helpers', 'mcp-stdio-server.js')) },
  ];
  const seen = new Set<string>();
  const queue = ROOTS.map((name) => path.join(modules, name));
  while (queue.length > 0) {
    const pkg = queue.shift()!;
    if (seen.has(pkg)) continue;
    seen.add(pkg);
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
    // The SDK's own dependencies are for its clients and HTTP servers: the stdio server needs the roots only.
    const skip = manifest.name === '@modelcontextprotocol/sdk' ? ['dist/cjs'] : [];
    for (const file of filesOf(pkg, skip)) entries.push({ name: `${dir}/node_modules/${path.relative(modules, file).split(path.sep).join('/')}`, content: fs.readFileSync(file) });
    if (manifest.name === '@modelcontextprotocol/sdk') continue;
    for (const dep of Object.keys(manifest.dependencies ?? {})) queue.push(locate(pkg, dep));
  }
  return buildZip(entries, true);
}

function filesOf(dir: string, skip: string[], base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    const relative = path.relative(base, full);
    if (skip.some((s) => relative === s) || entry.name === 'node_modules' && dir === base) return [];
    if (entry.isDirectory()) return filesOf(full, skip, base);
    return entry.isFile() && CODE.test(entry.name) ? [full] : [];
  });
}

/** Where Node finds `name` from the package at `from`: its own node_modules, then up the tree. */
function locate(from: string, name: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(dir)) throw new Error(`package ${name} not found from ${from}`);
  }
}
