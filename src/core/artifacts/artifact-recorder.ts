import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../ports/blob-store.js';
import type { ArtifactStore } from '../../ports/storage.js';
import type { Task } from '../tasks/task-types.js';
import { entryStat, openedPath, openRegularFile, removeWorkspaceFile, SymlinkInTheWay, walkWorkspace, writeWorkspaceFile } from '../workspace/workspace-fs.js';
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
    const opened = await openRegularFile(this.deps.workspaces.dir(task.id), relative);
    if (!opened) return null;
    const { handle, stat: before } = opened;
    let stored: { sha256: string; size: number };
    let head: Buffer;
    try {
      // Read through the opened file, never by its name again: the name may be a link by now.
      if (known && known.size === before.size) {
        await this.deps.blobs.putFile(openedPath(handle), known);
        stored = known;
      } else {
        stored = await this.deps.blobs.put(createReadStream(openedPath(handle)));
      }
      head = await readHead(handle);
    } finally {
      await handle.close();
    }
    const { sha256, size } = stored;
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
   * what changed, so unchanged files are not read. Nothing is recorded beyond the workspace size
   * limit (logical sizes, so sparse files count in full). Returns notes for the agent about what
   * was not recorded.
   */
  async scan(task: Task, source: VersionSource): Promise<string[]> {
    const root = this.deps.workspaces.dir(task.id);
    // Everything one command changed is recorded at one time: the moment it was seen.
    const now = new Date().toISOString();
    const known = await this.deps.artifacts.observedFiles(task.id);
    const seen = new Set<string>();
    const changed: { relative: string; size: number }[] = [];
    const unreadable: string[] = [];
    let unchangedBytes = 0;
    await walkWorkspace(root, ({ relative, display, stat }) => {
      if (!stat.isFile()) return;
      if (relative === null) {
        unreadable.push(display);
        return;
      }
      seen.add(relative);
      const last = known.get(relative);
      if (last && !last.deleted && last.size === stat.size && last.mtimeMs === Math.trunc(stat.mtimeMs)) unchangedBytes += stat.size;
      else changed.push({ relative, size: stat.size });
    });
    const notes: string[] = [];
    let budget = this.deps.workspaces.limitBytes - unchangedBytes;
    const refused: string[] = [];
    for (const { relative, size } of changed.sort((x, y) => (x.relative < y.relative ? -1 : 1))) {
      if (size > budget) {
        refused.push(relative);
        continue;
      }
      budget -= size;
      await this.recordFile(task, relative, source, [], now);
    }
    if (refused.length > 0) {
      notes.push(`[workspace size limit of ${this.deps.workspaces.limitMb} MB reached: ${listed(refused)} not recorded; delete files to make room]`);
    }
    if (unreadable.length > 0) notes.push(`[${listed(unreadable)} not recorded: a file name must be valid UTF-8; rename it]`);
    const gone = [...known].filter(([relative, info]) => !info.deleted && !seen.has(relative)).map(([relative]) => relative);
    await this.deps.artifacts.markDeleted(task.id, gone, now);
    return notes;
  }
}

function listed(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
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
    try {
      const local = await entryStat(root, artifact.path!);
      if (local?.isFile() && local.size === seen?.size && Math.trunc(local.mtimeMs) === seen.mtimeMs) continue;
      if (local && !local.isFile()) continue;
      await writeWorkspaceFile(root, artifact.path!, await deps.blobs.read(artifact.latest.sha256), seen?.mtimeMs != null ? { mtimeMs: seen.mtimeMs } : {});
      changed++;
    } catch (error) {
      // A command left a link on the way: that file stays as the command left it.
      if (!(error instanceof SymlinkInTheWay)) throw error;
    }
  }
  for (const [relative, info] of observed) {
    if (!info.deleted) continue;
    try {
      if (await removeWorkspaceFile(root, relative)) changed++;
    } catch (error) {
      if (!(error instanceof SymlinkInTheWay)) throw error;
    }
  }
  return changed;
}

async function readHead(handle: FileHandle): Promise<Buffer> {
  const buffer = Buffer.alloc(4096);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
  return buffer.subarray(0, bytesRead);
}
