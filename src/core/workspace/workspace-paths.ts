import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidInput, NotFound } from '../errors.js';

/**
 * Turns a path given by a model or a client into an absolute path inside `root`.
 * Refused: absolute paths, NUL bytes, `..` that climbs out, and (when the target exists)
 * a symlink anywhere on the way that resolves outside `root`.
 *
 * @example
 * await resolveInside('/data/ws/1', 'downloads/report.md'); // '/data/ws/1/downloads/report.md'
 * await resolveInside('/data/ws/1', '../2/secret');           // throws InvalidInput
 */
export async function resolveInside(root: string, relative: string): Promise<string> {
  const candidate = lexicallyInside(root, relative);
  const realRoot = await fs.realpath(root);
  // Walk up to the deepest part that exists and check where it really points.
  let existing = candidate;
  for (;;) {
    try {
      const real = await fs.realpath(existing);
      if (!isWithin(realRoot, real)) throw new NotFound(`No such file in the workspace: ${relative}`);
      break;
    } catch (error) {
      if (error instanceof NotFound) throw error;
      const parent = path.dirname(existing);
      if (parent === existing || !isWithin(root, parent)) break;
      existing = parent;
    }
  }
  return candidate;
}

/** The same checks without touching the disk: absolute paths, NUL bytes and `..` escapes. */
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

/** Workspace-relative form of an absolute path inside it, with forward slashes. */
export function relativeTo(root: string, absolute: string): string {
  return path.relative(root, absolute).split(path.sep).join('/');
}
