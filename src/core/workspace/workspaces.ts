import fs from 'node:fs/promises';
import path from 'node:path';
import type { AttachedFile } from '../tasks/task-types.js';
import { InvalidInput, NotFound } from '../errors.js';
import { lexicallyInside, resolveInside } from './workspace-paths.js';
import { looksLikeZip, unpackZip } from './zip-unpack.js';

/** A file received from a client, already on disk in the staging area. */
export interface StagedFile {
  /** The client's file name, reduced to a safe base name. */
  name: string;
  tempPath: string;
  size: number;
  /** SHA-256 of the content, computed while it was received. */
  sha256: string;
}

/** A file placed in uploads/, with its hash when known from staging. */
export interface AdoptedFile extends AttachedFile {
  known?: { sha256: string; size: number };
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

  /**
   * Where an upload lands. Its folder must really be inside the workspace: the agent may have put
   * symlinks in uploads/, and an upload is never written through one that leads out.
   */
  private async uploadDestination(taskId: string, relative: string): Promise<string> {
    const root = this.dir(taskId);
    const destination = lexicallyInside(root, `uploads/${relative}`);
    try {
      await resolveInside(root, path.relative(root, path.dirname(destination)));
    } catch (error) {
      if (error instanceof NotFound) {
        throw new InvalidInput(`uploads/${path.dirname(relative)} leads outside the workspace (a symlink); the upload was refused and nothing was stored.`);
      }
      throw error;
    }
    return destination;
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
  async adoptUploads(taskId: string, files: readonly StagedFile[]): Promise<AdoptedFile[]> {
    const moves: { from: string; to: string; known?: { sha256: string; size: number } }[] = [];
    const unpacked: string[] = [];
    try {
      for (const file of files) {
        if (/\.zip$/i.test(file.name) && (await looksLikeZip(file.tempPath))) {
          const dir = `${file.tempPath}.unpacked`;
          unpacked.push(dir);
          for (const relative of await unpackZip(file.tempPath, dir, file.name)) moves.push({ from: path.join(dir, relative), to: relative });
        } else {
          moves.push({ from: file.tempPath, to: file.name, known: { sha256: file.sha256, size: file.size } });
        }
      }
      // Check every destination before moving anything, so a refused upload changes nothing.
      const targets: ((typeof moves)[number] & { destination: string })[] = [];
      for (const move of moves) targets.push({ ...move, destination: await this.uploadDestination(taskId, move.to) });
      const attached = new Map<string, AdoptedFile>();
      for (const { from, to, destination, known } of targets) {
        await fs.mkdir(path.dirname(destination), { recursive: true });
        // rename replaces a symlink at the destination itself, never the file it points to.
        await fs.rename(from, destination);
        attached.set(to, { name: path.basename(to), path: `uploads/${to}`, ...(known ? { known } : {}) });
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
