import fs from 'node:fs/promises';
import path from 'node:path';
import { relativeTo, resolveInside } from '../workspace/workspace-paths.js';
import { ToolArgumentError, type ToolContext } from './tool-types.js';

/**
 * Creates or replaces a file of the workspace (the one way tools write files), and records the
 * change as an artifact version. Returns the workspace-relative path written.
 */
export async function writeWorkspaceFile(ctx: ToolContext, relative: string, content: string | Uint8Array): Promise<string> {
  const file = await resolveInside(ctx.workspace, relative);
  const existing = await fs.lstat(file).catch(() => null);
  if (existing && !existing.isFile()) throw new ToolArgumentError(`${relative} exists and is not a regular file.`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
  const written = relativeTo(ctx.workspace, file);
  await ctx.files.written(written);
  return written;
}

/**
 * Reads a regular file of the workspace, up to `limit` bytes. Returns its bytes, its full size and
 * its workspace-relative path; a directory or special file is refused.
 */
export async function readWorkspaceFile(ctx: ToolContext, relative: string, limit: number): Promise<{ bytes: Buffer; size: number; path: string }> {
  const file = await resolveInside(ctx.workspace, relative);
  const stat = await fs.stat(file);
  if (stat.isDirectory()) throw new ToolArgumentError(`${relative} is a directory; use list_directory.`);
  if (!stat.isFile()) throw new ToolArgumentError(`${relative} is not a regular file.`);
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(stat.size, limit));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { bytes: buffer.subarray(0, bytesRead), size: stat.size, path: relativeTo(ctx.workspace, file) };
  } finally {
    await handle.close();
  }
}
