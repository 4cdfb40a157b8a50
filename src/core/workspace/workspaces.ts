import fs from 'node:fs/promises';
import path from 'node:path';
import type { AttachedFile } from '../tasks/task-types.js';
import { InvalidInput, TooLarge } from '../errors.js';
import { entryStat, FolderInTheWay, makeWorkspaceFolder, moveIntoWorkspace, pathNames, removeWorkspaceFile, SymlinkInTheWay, workspaceBytes } from './workspace-fs.js';
import { looksLikeZip, MAX_UNPACKED_BYTES, MAX_UNPACKED_ENTRIES, unpackZip, type UnpackBudget } from './zip-unpack.js';

const MB = 1024 * 1024;

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
 * and `downloads/` for what the agent produces. Every file operation inside a workspace goes
 * through workspace-fs.ts, which never follows a link a command left there.
 */
export class Workspaces {
  readonly root: string;
  readonly staging: string;

  constructor(
    dataDir: string,
    /** The largest logical size of one workspace (KILN_WORKSPACE_MB). */
    readonly limitBytes: number,
  ) {
    this.root = path.join(dataDir, 'workspaces');
    this.staging = path.join(dataDir, 'tmp');
  }

  get limitMb(): number {
    return Math.round(this.limitBytes / MB);
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
    await fs.mkdir(dir, { recursive: true });
    for (const folder of ['uploads', 'downloads']) {
      // A link a command put there stays (and is refused when used); it is not followed.
      await makeWorkspaceFolder(dir, folder).catch((error: unknown) => {
        if (!(error instanceof SymlinkInTheWay)) throw error;
      });
    }
    return dir;
  }

  /**
   * Moves staged files into the task's `uploads/` folder; ZIP archives are unpacked there with
   * their folder layout. Every archive is unpacked and every destination checked before anything
   * is moved, so a refused upload leaves the workspace as it was. The request's files (archives
   * unpacked) count against the workspace size limit. A later file of the same name replaces an
   * earlier one.
   */
  async adoptUploads(taskId: string, files: readonly StagedFile[]): Promise<AdoptedFile[]> {
    const root = this.dir(taskId);
    const moves = new Map<string, { from: string; size: number; known?: { sha256: string; size: number } }>();
    const unpacked: string[] = [];
    try {
      const zips = files.filter((file) => /\.zip$/i.test(file.name));
      const isZip = new Set<StagedFile>();
      for (const file of zips) if (await looksLikeZip(file.tempPath)) isZip.add(file);
      const plainBytes = files.filter((f) => !isZip.has(f)).reduce((sum, f) => sum + f.size, 0);
      const used = files.length > 0 ? await workspaceBytes(root) : 0;
      const room = this.limitBytes - used - plainBytes;
      const budget: UnpackBudget =
        room < MAX_UNPACKED_BYTES
          ? { entries: MAX_UNPACKED_ENTRIES, bytes: Math.max(room, 0), bytesLimit: `the room left in the task's workspace (limit ${this.limitMb} MB)` }
          : { entries: MAX_UNPACKED_ENTRIES, bytes: MAX_UNPACKED_BYTES, bytesLimit: `${MAX_UNPACKED_BYTES / MB} MB` };
      for (const file of files) {
        if (isZip.has(file)) {
          const dir = `${file.tempPath}.unpacked`;
          unpacked.push(dir);
          for (const { relative, size } of await unpackZip(file.tempPath, dir, file.name, budget)) moves.set(relative, { from: path.join(dir, relative), size });
        } else {
          moves.set(file.name, { from: file.tempPath, size: file.size, known: { sha256: file.sha256, size: file.size } });
        }
      }
      refuseFileFolderClash([...moves.keys()]);
      // Check every destination before moving anything, so a refused upload changes nothing.
      let freed = 0;
      for (const to of moves.keys()) freed += await this.replacedBytes(root, `uploads/${to}`);
      const incoming = [...moves.values()].reduce((sum, m) => sum + m.size, 0);
      if (used - freed + incoming > this.limitBytes) {
        throw new TooLarge(`These files would take the task's workspace past its size limit of ${this.limitMb} MB; nothing was stored.`);
      }
      const existing = new Set<string>();
      for (const to of moves.keys()) if (await entryStat(root, `uploads/${to}`)) existing.add(to);
      const attached: AdoptedFile[] = [];
      try {
        for (const [to, { from, known }] of moves) {
          await moveIntoWorkspace(root, `uploads/${to}`, from);
          attached.push({ name: path.posix.basename(to), path: `uploads/${to}`, ...(known ? { known } : {}) });
        }
      } catch (error) {
        // A move that fails after the checks (the disk, say): the files this upload added go again.
        const added = attached.filter((file) => !existing.has(file.path.slice('uploads/'.length)));
        await Promise.all(added.map((file) => removeWorkspaceFile(root, file.path)));
        throw error;
      }
      return attached;
    } finally {
      await Promise.all(unpacked.map((dir) => fs.rm(dir, { recursive: true, force: true })));
    }
  }

  /**
   * Bytes of the file an upload to `relative` replaces (0 when there is none). Refuses a link or
   * a file where the upload needs a folder, and a folder where it needs a file.
   */
  private async replacedBytes(root: string, relative: string): Promise<number> {
    const names = pathNames(relative);
    for (let i = 1; i < names.length; i++) {
      const folder = names.slice(0, i).join('/');
      const stat = await entryStat(root, folder);
      if (!stat) break;
      if (stat.isSymbolicLink()) throw new SymlinkInTheWay(folder);
      if (!stat.isDirectory()) throw new InvalidInput(`${folder} is a file in the task's workspace, so ${relative} cannot be stored; nothing was stored.`);
    }
    const stat = await entryStat(root, relative);
    if (stat?.isSymbolicLink()) throw new SymlinkInTheWay(relative);
    if (stat?.isDirectory()) throw new FolderInTheWay(relative);
    return stat?.isFile() ? stat.size : 0;
  }
}

/** Refuses a set of upload paths in which one name is both a file and a folder. */
function refuseFileFolderClash(paths: readonly string[]): void {
  const files = new Set(paths);
  for (const file of paths) {
    const names = file.split('/');
    for (let i = 1; i < names.length; i++) {
      const folder = names.slice(0, i).join('/');
      if (files.has(folder)) throw new InvalidInput(`The upload has both a file and a folder named "${folder}"; nothing was stored.`);
    }
  }
}

/** Reduces a client-supplied file name to a plain base name that is safe on disk. */
export function safeFileName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return 'file';
  return withinBytes(cleaned, MAX_NAME_BYTES);
}

/** The longest file name most file systems take, in bytes of UTF-8. */
const MAX_NAME_BYTES = 255;

/** `name` cut to `max` bytes of UTF-8 on whole characters, keeping a short extension. */
function withinBytes(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && Buffer.byteLength(name.slice(dot)) <= 16 ? name.slice(dot) : '';
  let stem = '';
  let bytes = Buffer.byteLength(extension);
  for (const char of name.slice(0, name.length - extension.length)) {
    bytes += Buffer.byteLength(char);
    if (bytes > max) break;
    stem += char;
  }
  return stem + extension;
}
