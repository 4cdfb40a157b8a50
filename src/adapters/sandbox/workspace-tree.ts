import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Walks a workspace without following symlinks, calling `visit` for every entry (the root
 * included) with its lstat.
 */
async function walk(root: string, visit: (file: string, stat: import('node:fs').Stats) => Promise<void> | void): Promise<void> {
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let stat;
    try {
      stat = await fs.lstat(dir);
    } catch {
      continue;
    }
    await visit(dir, stat);
    if (!stat.isDirectory()) continue;
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) pending.push(path.join(dir, name));
  }
}

/** Bytes of disk the workspace occupies (allocated blocks, so sparse files count as what they use). */
export async function diskUsage(root: string): Promise<number> {
  let bytes = 0;
  await walk(root, (_file, stat) => {
    bytes += stat.blocks * 512;
  });
  return bytes;
}

/** Gives every entry of the workspace to `uid`/`gid` (symlinks themselves, never their targets). */
export async function giveTo(root: string, uid: number, gid: number): Promise<void> {
  await walk(root, async (file, stat) => {
    if (stat.uid !== uid || stat.gid !== gid) await fs.lchown(file, uid, gid).catch(() => {});
  });
}
