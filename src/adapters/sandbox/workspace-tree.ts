import fs from 'node:fs/promises';
import { walkWorkspace, workspaceBytes } from '../../core/workspace/workspace-fs.js';

/** Logical bytes of the workspace's files (sparse files count in full, as their copies would). */
export function diskUsage(root: string): Promise<number> {
  return workspaceBytes(root);
}

/**
 * Gives every entry of the workspace to `uid`/`gid`: links themselves, never their targets, and
 * every folder reached through its parent's descriptor, so a folder swapped for a link while the
 * walk runs cannot lead it out. Returns the workspace's size as {@link diskUsage} counts it,
 * measured in the same walk.
 */
export async function giveTo(root: string, uid: number, gid: number): Promise<number> {
  let bytes = 0;
  await walkWorkspace(root, async ({ rawPath, stat }) => {
    if (stat.isFile()) bytes += stat.size;
    if (stat.uid !== uid || stat.gid !== gid) await fs.lchown(rawPath, uid, gid).catch(() => {});
  });
  return bytes;
}
