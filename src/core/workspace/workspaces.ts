import fs from 'node:fs/promises';
import path from 'node:path';
import type { AttachedFile } from '../tasks/task-types.js';

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

  /** Moves staged files into the task's `uploads/` folder; a later file of the same name replaces an earlier one. */
  async adoptUploads(taskId: string, files: readonly StagedFile[]): Promise<AttachedFile[]> {
    const uploads = path.join(this.dir(taskId), 'uploads');
    await fs.mkdir(uploads, { recursive: true });
    const attached = new Map<string, AttachedFile>();
    for (const file of files) {
      await fs.rename(file.tempPath, path.join(uploads, file.name));
      attached.set(file.name, { name: file.name, path: `uploads/${file.name}` });
    }
    return [...attached.values()];
  }
}

/** Reduces a client-supplied file name to a plain base name that is safe on disk. */
export function safeFileName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return 'file';
  return cleaned.slice(0, 255);
}
