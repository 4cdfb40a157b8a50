import fs from 'node:fs/promises';
import path from 'node:path';
import type { AttachedFile } from '../tasks/task-types.js';
import { resolveInside } from './workspace-paths.js';
import { looksLikeZip, unpackZip } from './zip-unpack.js';

/** A file received from a client, already on disk in the staging area. */
export interface StagedFile {
  /** The client's file name, reduced to a safe base name. */
  name: string;
  tempPath: string;
  size: number;
}

/**
 * Task workspaces on local disk: `<dataDir>/workspaces/<taskId>/` with `uploads/` for files sent in
 * and `downloads/` for what the agent produces.
 */
export class Workspaces {
  readonly root: string;
  readonly staging: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'workspaces');
    this.staging = path.join(dataDir, 'tmp');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    // Anything left in staging belongs to a request that never finished.
    await fs.rm(this.staging, { recursive: true, force: true });
    await fs.mkdir(this.staging, { recursive: true });
  }

  dir(taskId: string): string {
    return path.join(this.root, taskId);
  }

  async create(taskId: string): Promise<string> {
    const dir = this.dir(taskId);
    await fs.mkdir(path.join(dir, 'uploads'), { recursive: true });
    await fs.mkdir(path.join(dir, 'downloads'), { recursive: true });
    return dir;
  }

  /**
   * Moves staged files into the task's `uploads/` folder; ZIP archives are unpacked there with
   * their folder layout. Every archive is unpacked (and checked) before anything is moved, so a
   * bad archive leaves the workspace as it was. A later file of the same name replaces an earlier one.
   */
  async adoptUploads(taskId: string, files: readonly StagedFile[]): Promise<AttachedFile[]> {
    const moves: { from: string; to: string }[] = [];
    const unpacked: string[] = [];
    try {
      for (const file of files) {
        if (/\.zip$/i.test(file.name) && (await looksLikeZip(file.tempPath))) {
          const dir = `${file.tempPath}.unpacked`;
          unpacked.push(dir);
          for (const relative of await unpackZip(file.tempPath, dir, file.name)) moves.push({ from: path.join(dir, relative), to: relative });
        } else {
          moves.push({ from: file.tempPath, to: file.name });
        }
      }
      const attached = new Map<string, AttachedFile>();
      for (const move of moves) {
        // The agent may have put symlinks in uploads/: never write through one that leads out.
        const destination = await resolveInside(this.dir(taskId), `uploads/${move.to}`);
        await fs.mkdir(path.dirname(destination), { recursive: true });
        await fs.rename(move.from, destination);
        attached.set(move.to, { name: path.basename(move.to), path: `uploads/${move.to}` });
      }
      return [...attached.values()];
    } finally {
      await Promise.all(unpacked.map((dir) => fs.rm(dir, { recursive: true, force: true })));
    }
  }
}

/** Reduces a client-supplied file name to a plain base name that is safe on disk. */
export function safeFileName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return 'file';
  return cleaned.slice(0, 255);
}
