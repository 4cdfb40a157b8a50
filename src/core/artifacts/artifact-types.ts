/** Who or what made a version: a client's upload, the agent's file tool, a command, or an API call. */
export type VersionSource = 'upload' | 'tool' | 'command' | 'api';

/** One immutable state of an artifact's content. */
export interface ArtifactVersion {
  id: string;
  artifactId: string;
  /** 1 for the first version, +1 for each change. */
  number: number;
  size: number;
  mediaType: string;
  sha256: string;
  createdAt: string;
  taskId: string | null;
  turn: number | null;
  /** The user on whose behalf the version was made. */
  userId: string;
  /** The agent that made it, when an agent did. */
  agentId: string | null;
  source: VersionSource;
  /** Artifacts this version was made from. */
  derivedFrom: string[];
}

/**
 * A file that persists through versions: a workspace file of a task (`taskId` and `path` set), or
 * one created through the API on its own (`path` null).
 */
export interface Artifact {
  id: string;
  userId: string;
  agentId: string;
  taskId: string | null;
  path: string | null;
  /** The file name: the last part of `path`, or one made from the title. */
  name: string;
  title: string;
  artifactType: string;
  workflowId: string | null;
  phaseId: string | null;
  isPrimaryDeliverable: boolean;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  latest: ArtifactVersion;
}

/** What the artifact store needs to record a new state of a file. */
export interface NewVersion {
  /** Identifies the artifact: an existing id, or (for workspace files) the task and path. */
  artifactId?: string;
  taskId: string | null;
  path: string | null;
  /** Used only when the artifact does not exist yet. */
  create: Omit<Artifact, 'id' | 'latest' | 'createdAt' | 'updatedAt' | 'deletedAt' | 'taskId' | 'path'> & { id?: string };
  version: Omit<ArtifactVersion, 'id' | 'artifactId' | 'number' | 'createdAt'>;
  /** Size and modification time of the workspace file as recorded, to notice later changes cheaply. */
  observed?: { size: number; mtimeMs: number };
}
