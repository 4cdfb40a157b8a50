import { entryStat, openForRead, pathNames, workspaceBytes, writeWorkspaceFile } from '../workspace/workspace-fs.js';
import { ToolArgumentError, type ToolContext } from './tool-types.js';

const MB = 1024 * 1024;

/*
 * How tools read and write the files of a task's workspace: through workspace-fs.ts (no link is
 * ever followed), with the workspace size limit on writes and every change told to the observer.
 */

/**
 * Creates or replaces a file of the workspace (the one way tools write files) and records the
 * change as an artifact version. Refused when it would take the workspace past `workspaceMb`
 * (logical sizes, as the workspace limit counts). Returns the workspace-relative path written.
 */
export async function writeToolFile(ctx: ToolContext, relative: string, content: Buffer, workspaceMb: number): Promise<string> {
  const written = pathNames(relative).join('/');
  const existing = await entryStat(ctx.workspace, relative);
  if (existing && !existing.isFile() && !existing.isSymbolicLink()) throw new ToolArgumentError(`${relative} exists and is not a regular file.`);
  const after = (await workspaceBytes(ctx.workspace)) - (existing?.isFile() ? existing.size : 0) + content.length;
  if (after > workspaceMb * MB) {
    throw new ToolArgumentError(`Not written: ${written} would take the workspace past its size limit of ${workspaceMb} MB. Delete files to make room.`);
  }
  await writeWorkspaceFile(ctx.workspace, relative, content);
  await ctx.files.written(written);
  return written;
}

/**
 * Reads a regular file of the workspace, up to `limit` bytes. Returns its bytes, its full size and
 * its workspace-relative path; a folder or special file is refused.
 */
export async function readToolFile(ctx: ToolContext, relative: string, limit: number): Promise<{ bytes: Buffer; size: number; path: string }> {
  const path = pathNames(relative).join('/');
  const { handle, stat } = await openForRead(ctx.workspace, relative);
  try {
    if (stat.isDirectory()) throw new ToolArgumentError(`${relative} is a directory; use list_directory.`);
    if (!stat.isFile()) throw new ToolArgumentError(`${relative} is not a regular file.`);
    const buffer = Buffer.alloc(Math.min(stat.size, limit));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { bytes: buffer.subarray(0, bytesRead), size: stat.size, path };
  } finally {
    await handle.close();
  }
}
