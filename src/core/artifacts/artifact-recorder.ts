import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../ports/blob-store.js';
import type { ArtifactStore } from '../../ports/storage.js';
import type { Task } from '../tasks/task-types.js';
import { relativeTo } from '../workspace/workspace-paths.js';
import type { Workspaces } from '../workspace/workspaces.js';
import type { Artifact, VersionSource } from './artifact-types.js';
import { mediaTypeOf } from './media-types.js';

/** Syntropic137's artifact types that a workspace file maps to, by its category. */
const TYPE_BY_CATEGORY: Record<string, string> = { text: 'text', code: 'code', json: 'json', csv: 'text' };

/**
 * Turns the files of a task's workspace into artifact versions. Every change of content (an
 * upload, a file tool write, whatever a command did) becomes a new version, hashed and stored in
 * the blob store before it is recorded, so a recorded version always has its bytes.
 */
export class ArtifactRecorder {
  constructor(private readonly deps: { artifacts: ArtifactStore; blobs: BlobStore; workspaces: Workspaces }) {}

  /** Records one workspace file as it is now; null when it is not a regular file. */
  async recordFile(
    task: Task,
    relative: string,
    source: VersionSource,
    derivedFrom: readonly string[] = [],
    now = new Date().toISOString(),
    known?: { sha256: string; size: number },
  ): Promise<Artifact | null> {
    const file = path.join(this.deps.workspaces.dir(task.id), relative);
    const before = await fs.lstat(file).catch(() => null);
    if (!before?.isFile()) return null;
    let stored: { sha256: string; size: number };
    if (known && known.size === before.size) {
      await this.deps.blobs.putFile(file, known);
      stored = known;
    } else {
      stored = await this.deps.blobs.put(createReadStream(file));
    }
    const { sha256, size } = stored;
    const head = await readHead(file);
    const { mediaType, category } = mediaTypeOf(relative, head);
    const byAgent = source === 'tool' || source === 'command';
    const { artifact } = await this.deps.artifacts.recordVersion(
      {
        taskId: task.id,
        path: relative,
        create: {
          userId: task.userId,
          agentId: task.agentId,
          name: path.posix.basename(relative),
          title: relative,
          artifactType: relative.endsWith('.md') ? 'markdown' : /\.ya?ml$/.test(relative) ? 'yaml' : (TYPE_BY_CATEGORY[category] ?? 'other'),
          workflowId: task.workflowId,
          phaseId: task.phaseId,
          isPrimaryDeliverable: relative.startsWith('downloads/'),
          metadata: {},
        },
        version: {
          size,
          mediaType,
          sha256,
          taskId: task.id,
          turn: task.turn,
          userId: task.userId,
          agentId: byAgent ? task.agentId : null,
          source,
          derivedFrom: derivedFrom.filter((id) => id !== ''),
        },
        observed: { size: before.size, mtimeMs: Math.trunc(before.mtimeMs) },
      },
      now,
    );
    return artifact;
  }

  /**
   * Compares the workspace with what was last recorded and records the differences: changed or
   * new files get a version, vanished files are marked deleted. Size and modification time tell
   * what changed, so unchanged files are not read.
   */
  async scan(task: Task, source: VersionSource): Promise<void> {
    const root = this.deps.workspaces.dir(task.id);
    // Everything one command changed is recorded at one time: the moment it was seen.
    const now = new Date().toISOString();
    const known = await this.deps.artifacts.observedFiles(task.id);
    const seen = new Set<string>();
    for (const { file, size, mtimeMs } of await regularFiles(root)) {
      const relative = relativeTo(root, file);
      seen.add(relative);
      const last = known.get(relative);
      if (last && !last.deleted && last.size === size && last.mtimeMs === mtimeMs) continue;
      await this.recordFile(task, relative, source, [], now);
    }
    const gone = [...known].filter(([relative, info]) => !info.deleted && !seen.has(relative)).map(([relative]) => relative);
    await this.deps.artifacts.markDeleted(task.id, gone, now);
  }
}

/**
 * Brings a task's workspace on this machine up to date with its recorded files: a turn may run
 * on another worker than the last one. Files whose size or time differ from the record are
 * written from the blob store (with the recorded time, so the next scan sees them as unchanged);
 * files deleted elsewhere are removed. Returns how many files it changed.
 */
export async function restoreWorkspace(deps: { artifacts: ArtifactStore; blobs: BlobStore; workspaces: Workspaces }, taskId: string): Promise<number> {
  const root = await deps.workspaces.create(taskId);
  const current = await deps.artifacts.listForTask(taskId);
  const observed = await deps.artifacts.observedFiles(taskId);
  let changed = 0;
  for (const artifact of current) {
    const seen = observed.get(artifact.path!);
    const file = path.join(root, artifact.path!);
    const local = await fs.lstat(file).catch(() => null);
    if (local?.isFile() && local.size === seen?.size && Math.trunc(local.mtimeMs) === seen.mtimeMs) continue;
    if (local && !local.isFile()) continue;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await deps.blobs.copyTo(artifact.latest.sha256, file);
    if (seen?.mtimeMs != null) await fs.utimes(file, new Date(seen.mtimeMs), new Date(seen.mtimeMs));
    changed++;
  }
  for (const [relative, info] of observed) {
    if (!info.deleted) continue;
    const file = path.join(root, relative);
    if ((await fs.lstat(file).catch(() => null))?.isFile()) {
      await fs.rm(file, { force: true });
      changed++;
    }
  }
  return changed;
}

async function readHead(file: string): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Regular files under `root`, found without following symlinks. */
async function regularFiles(root: string): Promise<{ file: string; size: number; mtimeMs: number }[]> {
  const found: { file: string; size: number; mtimeMs: number }[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) {
        const stat = await fs.lstat(full).catch(() => null);
        if (stat?.isFile()) found.push({ file: full, size: stat.size, mtimeMs: Math.trunc(stat.mtimeMs) });
      }
    }
  }
  return found;
}
