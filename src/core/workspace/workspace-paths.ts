import path from 'node:path';
import { InvalidInput } from '../errors.js';

/**
 * Turns a path given by a model or a client into an absolute path inside `root`, without touching
 * the disk: absolute paths, NUL bytes and `..` that climbs out are refused. Links on the way are
 * the business of workspace-fs.ts, which never follows them.
 *
 * @example
 * lexicallyInside('/data/ws/1', 'downloads/report.md'); // '/data/ws/1/downloads/report.md'
 * lexicallyInside('/data/ws/1', '../2/secret');           // throws InvalidInput
 */
export function lexicallyInside(root: string, relative: string): string {
  if (typeof relative !== 'string' || relative.length === 0) throw new InvalidInput('A path is required.', 'path');
  if (relative.includes('\0')) throw new InvalidInput('Paths may not contain NUL bytes.', 'path');
  if (path.isAbsolute(relative) || /^[A-Za-z]:[\\/]/.test(relative)) {
    throw new InvalidInput(`Paths are relative to the workspace; "${relative}" is absolute.`, 'path');
  }
  const resolved = path.resolve(root, relative);
  if (!isWithin(root, resolved)) throw new InvalidInput(`"${relative}" points outside the workspace.`, 'path');
  return resolved;
}

export function isWithin(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
