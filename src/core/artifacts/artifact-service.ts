import type { Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../ports/blob-store.js';
import type { ArtifactQuery, KeyOwner, Storage, VersionQuery } from '../../ports/storage.js';
import { Conflict, InvalidInput, NotFound, TooLarge } from '../errors.js';
import type { Task } from '../tasks/task-types.js';
import { entryStat, FolderInTheWay, pathNames, removeWorkspaceFile, SymlinkInTheWay, workspaceBytes, writeWorkspaceFile } from '../workspace/workspace-fs.js';
import type { Workspaces } from '../workspace/workspaces.js';
import type { ArtifactRecorder } from './artifact-recorder.js';
import type { Artifact, ArtifactVersion } from './artifact-types.js';

export interface ApiArtifactInput {
  workflowId: string;
  artifactType: string;
  title: string;
  content: string;
  phaseId: string | null;
  /** A task of the caller the artifact belongs to (its file is then put in that task's workspace). */
  taskId: string | null;
  contentType: string;
  derivedFrom: string[];
  metadata: Record<string, unknown>;
  isPrimaryDeliverable: boolean;
}

const EXTENSION_BY_TYPE: Record<string, string> = {
  'text/markdown': 'md',
  'text/plain': 'txt',
  'application/json': 'json',
  'application/yaml': 'yaml',
  'text/x-python': 'py',
  'text/x-typescript': 'ts',
  'text/javascript': 'js',
};

/**
 * Reading artifacts for the API faces, and the writes that do not come from a task's workspace:
 * artifacts created and uploaded through the API. Every read checks that the caller owns what it
 * asks for; another user's artifact is "not found".
 */
export class ArtifactService {
  constructor(
    private readonly deps: { storage: Storage; blobs: BlobStore; workspaces: Workspaces; recorder: ArtifactRecorder },
  ) {}

  /** The files of a task's workspace, each with its latest version. */
  async taskFiles(caller: KeyOwner, taskId: string): Promise<Artifact[]> {
    const task = await this.task(caller, taskId);
    return this.deps.storage.artifacts.listForTask(task.id);
  }

  /** One file of a task at its latest version, or at version `number`. */
  async taskFile(caller: KeyOwner, taskId: string, relative: string, number?: number): Promise<{ artifact: Artifact; version: ArtifactVersion }> {
    const task = await this.task(caller, taskId);
    const clean = normalise(relative);
    // A backslash is an ordinary character in a Linux file name; Windows-style separators are
    // accepted too when no file has the name as given.
    const artifact =
      (await this.deps.storage.artifacts.findByPath(task.id, clean)) ??
      (clean.includes('\\') ? await this.deps.storage.artifacts.findByPath(task.id, normalise(clean.replace(/\\/g, '/'))) : undefined);
    if (!artifact) throw new NotFound(`No file at ${clean} in this task's workspace`);
    if (number === undefined || number === artifact.latest.number) return { artifact, version: artifact.latest };
    const version = await this.deps.storage.artifacts.version(artifact.id, number);
    if (!version) throw new NotFound(`${clean} has no version ${number} (its latest is ${artifact.latest.number})`);
    return { artifact, version };
  }

  /** Every version of one file of a task, newest first. */
  async taskFileVersions(caller: KeyOwner, taskId: string, relative: string): Promise<{ artifact: Artifact; versions: ArtifactVersion[] }> {
    const { artifact } = await this.taskFile(caller, taskId, relative);
    return { artifact, versions: await this.deps.storage.artifacts.versions(artifact.id) };
  }

  /** The files under a folder of a task's workspace (the whole workspace for ""). */
  /** `folder` comes back normalised (`./downloads/` is `downloads`; '' is the whole workspace). */
  async taskFolder(caller: KeyOwner, taskId: string, folder: string): Promise<{ task: Task; folder: string; files: Artifact[] }> {
    const task = await this.task(caller, taskId);
    const clean = folder === '' ? '' : normalise(folder);
    const files = (await this.deps.storage.artifacts.listForTask(task.id)).filter((a) => clean === '' || a.path!.startsWith(`${clean}/`));
    if (clean !== '' && files.length === 0) throw new NotFound(`No files under ${clean}/ in this task's workspace`);
    return { task, folder: clean, files };
  }

  /** The caller's artifacts, newest first, every filter applied before the limit. */
  async list(caller: KeyOwner, query: Omit<ArtifactQuery, 'userId'>): Promise<Artifact[]> {
    return this.deps.storage.artifacts.list({ ...query, userId: caller.userId });
  }

  /** Versions of the artifacts of one of the caller's agents (one row per version), a page at a time. */
  async agentVersions(caller: KeyOwner, query: Omit<VersionQuery, 'userId'>): Promise<{ version: ArtifactVersion; artifact: Artifact }[]> {
    return this.deps.storage.artifacts.listVersions({ ...query, userId: caller.userId });
  }

  /** An artifact by id, or by a unique prefix of its id. */
  async find(caller: KeyOwner, idOrPrefix: string): Promise<Artifact> {
    const exact = await this.deps.storage.artifacts.get(caller.userId, idOrPrefix);
    if (exact) return exact;
    const matches = idOrPrefix.length > 0 ? await this.deps.storage.artifacts.findByPrefix(caller.userId, idOrPrefix, 10) : [];
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) throw new NotFound(`Artifact not found: ${idOrPrefix}`);
    throw new AmbiguousPrefix(idOrPrefix, matches.map((m) => m.id));
  }

  /** A version of an artifact the caller owns (the latest when `versionId` is absent). */
  async version(caller: KeyOwner, artifactId: string, versionId?: string): Promise<{ artifact: Artifact; version: ArtifactVersion }> {
    const artifact = await this.deps.storage.artifacts.get(caller.userId, artifactId);
    if (!artifact) throw new NotFound(`Artifact not found: ${artifactId}`);
    if (versionId === undefined) return { artifact, version: artifact.latest };
    const found = await this.deps.storage.artifacts.versionById(versionId);
    if (!found || found.version.artifactId !== artifact.id) throw new NotFound(`Version ${versionId} of artifact ${artifactId} not found`);
    return { artifact, version: found.version };
  }

  /** A version by its id alone, for signed links (which carry no caller). */
  async versionForLink(versionId: string): Promise<{ artifact: Artifact; version: ArtifactVersion }> {
    const found = await this.deps.storage.artifacts.versionById(versionId);
    if (!found) throw new NotFound('This file no longer exists');
    return found;
  }

  content(version: ArtifactVersion, range?: { start: number; end: number }): Promise<Readable> {
    return this.deps.blobs.read(version.sha256, range);
  }

  async text(version: ArtifactVersion): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.content(version)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Creates an artifact from text; within a task it also becomes a file of the task's workspace. */
  async createFromText(caller: KeyOwner, input: ApiArtifactInput): Promise<Artifact> {
    if (input.content === '') throw new InvalidInput('content must not be empty', 'content');
    for (const id of input.derivedFrom) {
      if (!(await this.deps.storage.artifacts.get(caller.userId, id))) throw new InvalidInput(`derived_from: no artifact ${id}`, 'derived_from');
    }
    const task = input.taskId ? await this.deps.storage.tasks.get(input.taskId, caller.userId, caller.endUser) : undefined;
    if (input.taskId && !task) throw new InvalidInput(`session_id: no task ${input.taskId} belongs to you`, 'session_id');
    const agent = task ? { id: task.agentId } : await this.deps.storage.agents.ensureDefault(caller.userId, new Date().toISOString());
    const bytes = Buffer.from(input.content, 'utf8');
    const name = `${slug(input.title)}.${EXTENSION_BY_TYPE[input.contentType] ?? 'txt'}`;
    // A task's workspace is made when something first goes in it.
    if (task) await this.deps.workspaces.create(task.id);
    let relative: string | null = null;
    let observed: Stats | null = null;
    try {
      if (task) {
        await this.refuseBeyondLimit(task.id, bytes.length, 0);
        ({ relative, observed } = await this.writeAtFreePath(task.id, `artifacts/${name}`, bytes));
      }
      const { sha256, size } = await this.deps.blobs.put(Readable.from([bytes]));
      const { artifact } = await this.deps.storage.artifacts.recordVersion(
        {
          taskId: task?.id ?? null,
          path: relative,
          create: {
            userId: caller.userId,
            agentId: agent.id,
            name: relative ? path.posix.basename(relative) : name,
            title: input.title,
            artifactType: input.artifactType,
            workflowId: input.workflowId,
            phaseId: input.phaseId,
            isPrimaryDeliverable: input.isPrimaryDeliverable,
            metadata: input.metadata,
          },
          version: {
            size,
            mediaType: input.contentType,
            sha256,
            taskId: task?.id ?? null,
            turn: null,
            userId: caller.userId,
            agentId: null,
            source: 'api',
            derivedFrom: input.derivedFrom,
          },
          ...(observed ? { observed: { size: observed.size, mtimeMs: Math.trunc(observed.mtimeMs) } } : {}),
        },
        new Date().toISOString(),
      );
      return artifact;
    } catch (error) {
      // A path of its own (see writeAtFreePath): nothing else is lost with it, and no half-written file stays.
      if (observed && task && relative) await removeWorkspaceFile(this.deps.workspaces.dir(task.id), relative);
      throw error;
    }
  }

  /**
   * Stores uploaded bytes as a new version of an existing artifact. A workspace file gets the new
   * content too. `maxBytes` refuses larger uploads before anything is recorded. `stored` is told
   * the bytes' hash and size once they are stored, before anything is recorded, and may refuse.
   */
  async uploadVersion(
    caller: KeyOwner,
    artifactId: string,
    source: Readable,
    mediaType: string | null,
    maxBytes: number,
    stored?: (blob: { sha256: string; size: number }) => Promise<void>,
  ): Promise<Artifact> {
    const artifact = await this.deps.storage.artifacts.get(caller.userId, artifactId);
    if (!artifact) throw new NotFound(`Artifact not found: ${artifactId}`);
    const { sha256, size } = await this.deps.blobs.put(source, { maxBytes });
    await stored?.({ sha256, size });
    let observed: { size: number; mtimeMs: number } | undefined;
    if (artifact.taskId && artifact.path) {
      const root = await this.deps.workspaces.create(artifact.taskId);
      const current = await entryStat(root, artifact.path);
      await this.refuseBeyondLimit(artifact.taskId, size, current?.isFile() ? current.size : 0);
      const stat = await writeWorkspaceFile(root, artifact.path, await this.deps.blobs.read(sha256));
      observed = { size: stat.size, mtimeMs: Math.trunc(stat.mtimeMs) };
    }
    const { artifact: updated } = await this.deps.storage.artifacts.recordVersion(
      {
        artifactId: artifact.id,
        taskId: artifact.taskId,
        path: artifact.path,
        create: artifact,
        version: {
          size,
          mediaType: mediaType ?? artifact.latest.mediaType,
          sha256,
          taskId: artifact.taskId,
          turn: null,
          userId: caller.userId,
          agentId: null,
          source: 'api',
          derivedFrom: [],
        },
        ...(observed ? { observed } : {}),
      },
      new Date().toISOString(),
    );
    return updated;
  }

  private async task(caller: KeyOwner, taskId: string): Promise<Task> {
    const task = await this.deps.storage.tasks.get(taskId, caller.userId, caller.endUser);
    if (!task) throw new NotFound('Task not found');
    return task;
  }

  /**
   * Writes `bytes` at `wanted`, or at `name-2.ext`, `name-3.ext`... where something already is: a
   * path of its own, even against creates running at the same time.
   */
  private async writeAtFreePath(taskId: string, wanted: string, bytes: Buffer): Promise<{ relative: string; observed: Stats }> {
    const ext = path.posix.extname(wanted);
    const base = wanted.slice(0, wanted.length - ext.length);
    for (let n = 1; ; n++) {
      const relative = n === 1 ? wanted : `${base}-${n}${ext}`;
      try {
        return { relative, observed: await writeWorkspaceFile(this.deps.workspaces.dir(taskId), relative, bytes, { exclusive: true }) };
      } catch (error) {
        // Something at this very path is taken; a link or file on the way to it is an error.
        const inTheWay = (error instanceof FolderInTheWay || error instanceof SymlinkInTheWay) && error.relative === relative;
        const taken = (error as NodeJS.ErrnoException).code === 'EEXIST' || inTheWay;
        if (!taken) throw error;
      }
    }
  }

  /** Refuses a write that would take the task's workspace past its size limit. */
  private async refuseBeyondLimit(taskId: string, adding: number, replacing: number): Promise<void> {
    const used = await workspaceBytes(this.deps.workspaces.dir(taskId));
    if (used - replacing + adding > this.deps.workspaces.limitBytes) {
      throw new TooLarge(`This would take the task's workspace past its size limit of ${this.deps.workspaces.limitMb} MB; nothing was stored.`);
    }
  }
}

/** Several artifacts match an id prefix; the caller must give more of it. */
export class AmbiguousPrefix extends Conflict {
  constructor(
    readonly prefix: string,
    readonly matches: string[],
  ) {
    super(
      [`Ambiguous artifact ID '${prefix}' matches ${matches.length} entries:`, ...matches.slice(0, 5).map((m) => `  - ${m.slice(0, 12)}...`), 'Provide a longer prefix to disambiguate.'].join(
        '\n',
      ),
    );
  }
}

/** A workspace-relative path as artifacts record it; refuses absolute paths, NUL bytes and `..`. */
function normalise(relative: string): string {
  if (relative === undefined || relative === '') throw new InvalidInput('path is required', 'path');
  return pathNames(relative).join('/');
}

function slug(title: string): string {
  const s = title
    .normalize('NFKD')
    .replace(/[^\w\s.-]/g, '')
    .trim()
    .replace(/\s+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 80);
  return s || 'artifact';
}
