import { randomUUID } from 'node:crypto';
import type { Artifact, ArtifactVersion, NewVersion } from '../../core/artifacts/artifact-types.js';
import { artifactCreatedEvent } from '../../core/webhooks/webhook-types.js';
import type { Database, SqlValue } from '../../ports/database.js';
import type { ArtifactQuery, ArtifactStore, VersionQuery } from '../../ports/storage.js';
import { WebhookOutbox } from './webhook-outbox.js';

const ARTIFACT = `a.id, a.user_id, a.agent_id, a.task_id, a.path, a.name, a.title, a.artifact_type, a.workflow_id, a.phase_id,
  a.is_primary, a.metadata, a.created_at, a.updated_at, a.deleted_at`;
const VERSION = `v.id AS v_id, v.artifact_id AS v_artifact_id, v.number AS v_number, v.size AS v_size, v.media_type AS v_media_type,
  v.sha256 AS v_sha256, v.created_at AS v_created_at, v.task_id AS v_task_id, v.turn AS v_turn, v.user_id AS v_user_id,
  v.agent_id AS v_agent_id, v.source AS v_source, v.derived_from AS v_derived_from`;
/** Artifacts joined with their latest version. */
const WITH_LATEST = `SELECT ${ARTIFACT}, ${VERSION} FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id AND v.number = a.latest_version`;

interface Row {
  id: string;
  user_id: string;
  agent_id: string;
  task_id: string | null;
  path: string | null;
  name: string;
  title: string;
  artifact_type: string;
  workflow_id: string | null;
  phase_id: string | null;
  is_primary: number;
  metadata: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  v_id: string;
  v_artifact_id: string;
  v_number: number;
  v_size: number | string;
  v_media_type: string;
  v_sha256: string;
  v_created_at: string;
  v_task_id: string | null;
  v_turn: number | null;
  v_user_id: string;
  v_agent_id: string | null;
  v_source: string;
  v_derived_from: string | null;
}

function versionOf(row: Row): ArtifactVersion {
  return {
    id: row.v_id,
    artifactId: row.v_artifact_id,
    number: Number(row.v_number),
    size: Number(row.v_size),
    mediaType: row.v_media_type,
    sha256: row.v_sha256,
    createdAt: row.v_created_at,
    taskId: row.v_task_id,
    turn: row.v_turn === null ? null : Number(row.v_turn),
    userId: row.v_user_id,
    agentId: row.v_agent_id,
    source: row.v_source as ArtifactVersion['source'],
    derivedFrom: row.v_derived_from ? (JSON.parse(row.v_derived_from) as string[]) : [],
  };
}

function artifactOf(row: Row, latest: ArtifactVersion): Artifact {
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id,
    taskId: row.task_id,
    path: row.path,
    name: row.name,
    title: row.title,
    artifactType: row.artifact_type,
    workflowId: row.workflow_id,
    phaseId: row.phase_id,
    isPrimaryDeliverable: Boolean(Number(row.is_primary)),
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    latest,
  };
}

const withLatest = (row: Row) => artifactOf(row, versionOf(row));

/** LIKE pattern matching `text` literally (with `\` as the escape character). */
function literal(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class SqlArtifactStore implements ArtifactStore {
  constructor(
    private readonly db: Database,
    private readonly outbox = new WebhookOutbox(db.dialect),
  ) {}

  async recordVersion(input: NewVersion, now: string): Promise<{ artifact: Artifact; created: boolean }> {
    return this.db.transaction(async (tx) => {
      // PostgreSQL: versions of one artifact are numbered one writer at a time (SQLite runs one
      // transaction at a time anyway). The read after the lock sees the latest committed version.
      // A path with no artifact yet has no row to lock: its writers take turns on a lock of the
      // task's path instead, so that the second makes version 2 rather than a second artifact.
      if (this.db.dialect === 'postgres') {
        if (input.artifactId) await tx.get('SELECT id FROM artifacts WHERE id = ? FOR UPDATE', [input.artifactId]);
        else {
          await tx.get('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [JSON.stringify(['artifact path', input.taskId, input.path])]);
          await tx.get('SELECT id FROM artifacts WHERE task_id = ? AND path = ? FOR UPDATE', [input.taskId, input.path]);
        }
      }
      const existing = input.artifactId
        ? await tx.get<Row>(`${WITH_LATEST} WHERE a.id = ?`, [input.artifactId])
        : await tx.get<Row>(`${WITH_LATEST} WHERE a.task_id = ? AND a.path = ?`, [input.taskId, input.path]);
      const observed: SqlValue[] = [input.observed?.size ?? null, input.observed?.mtimeMs ?? null];
      if (existing && existing.v_sha256 === input.version.sha256 && existing.deleted_at === null) {
        await tx.run('UPDATE artifacts SET observed_size = ?, observed_mtime_ms = ? WHERE id = ?', [...observed, existing.id]);
        return { artifact: withLatest(existing), created: false };
      }
      const artifactId = existing?.id ?? input.create.id ?? randomUUID();
      const number = existing ? Number(existing.v_number) + 1 : 1;
      if (existing) {
        await tx.run('UPDATE artifacts SET latest_version = ?, updated_at = ?, deleted_at = NULL, observed_size = ?, observed_mtime_ms = ? WHERE id = ?', [
          number,
          now,
          ...observed,
          artifactId,
        ]);
      } else {
        const c = input.create;
        await tx.run(
          `INSERT INTO artifacts (id, user_id, agent_id, task_id, path, name, title, artifact_type, workflow_id, phase_id, is_primary,
             metadata, created_at, updated_at, deleted_at, latest_version, observed_size, observed_mtime_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 1, ?, ?)`,
          [
            artifactId,
            c.userId,
            c.agentId,
            input.taskId,
            input.path,
            c.name,
            c.title,
            c.artifactType,
            c.workflowId,
            c.phaseId,
            c.isPrimaryDeliverable ? 1 : 0,
            JSON.stringify(c.metadata),
            now,
            now,
            ...observed,
          ],
        );
      }
      const v = input.version;
      await tx.run(
        `INSERT INTO artifact_versions (id, artifact_id, number, size, media_type, sha256, created_at, task_id, turn, user_id, agent_id, source, derived_from)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          randomUUID(),
          artifactId,
          number,
          v.size,
          v.mediaType,
          v.sha256,
          now,
          v.taskId,
          v.turn,
          v.userId,
          v.agentId,
          v.source,
          v.derivedFrom.length > 0 ? JSON.stringify(v.derivedFrom) : null,
        ],
      );
      const row = await tx.get<Row>(`${WITH_LATEST} WHERE a.id = ?`, [artifactId]);
      const artifact = withLatest(row!);
      if (!existing) await tx.runAll(await this.outbox.statements(tx, artifactCreatedEvent(artifact)));
      return { artifact, created: true };
    });
  }

  async observedFiles(taskId: string) {
    const rows = await this.db.all<{ id: string; path: string; observed_size: number | null; observed_mtime_ms: number | null; deleted_at: string | null }>(
      'SELECT id, path, observed_size, observed_mtime_ms, deleted_at FROM artifacts WHERE task_id = ? AND path IS NOT NULL',
      [taskId],
    );
    return new Map(
      rows.map((r) => [
        r.path,
        {
          size: r.observed_size === null ? null : Number(r.observed_size),
          mtimeMs: r.observed_mtime_ms === null ? null : Number(r.observed_mtime_ms),
          artifactId: r.id,
          deleted: r.deleted_at !== null,
        },
      ]),
    );
  }

  async markDeleted(taskId: string, paths: readonly string[], now: string): Promise<void> {
    if (paths.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const path of paths) {
        await tx.run('UPDATE artifacts SET deleted_at = ?, observed_size = NULL, observed_mtime_ms = NULL WHERE task_id = ? AND path = ? AND deleted_at IS NULL', [
          now,
          taskId,
          path,
        ]);
      }
    });
  }

  async listForTask(taskId: string): Promise<Artifact[]> {
    const rows = await this.db.all<Row>(`${WITH_LATEST} WHERE a.task_id = ? AND a.deleted_at IS NULL ORDER BY a.path`, [taskId]);
    return rows.map(withLatest);
  }

  async findByPath(taskId: string, path: string): Promise<Artifact | undefined> {
    const row = await this.db.get<Row>(`${WITH_LATEST} WHERE a.task_id = ? AND a.path = ? AND a.deleted_at IS NULL`, [taskId, path]);
    return row ? withLatest(row) : undefined;
  }

  async get(userId: string, id: string): Promise<Artifact | undefined> {
    const row = await this.db.get<Row>(`${WITH_LATEST} WHERE a.id = ? AND a.user_id = ? AND a.deleted_at IS NULL`, [id, userId]);
    return row ? withLatest(row) : undefined;
  }

  async findByPrefix(userId: string, prefix: string, limit: number): Promise<Artifact[]> {
    const rows = await this.db.all<Row>(
      `${WITH_LATEST} WHERE a.user_id = ? AND a.deleted_at IS NULL AND a.id LIKE ? ESCAPE '\\' ORDER BY a.id LIMIT ?`,
      [userId, `${literal(prefix)}%`, limit],
    );
    return rows.map(withLatest);
  }

  async version(artifactId: string, number: number): Promise<ArtifactVersion | undefined> {
    const row = await this.db.get<Row>(
      `SELECT ${ARTIFACT}, ${VERSION} FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id WHERE a.id = ? AND v.number = ?`,
      [artifactId, number],
    );
    return row ? versionOf(row) : undefined;
  }

  async versions(artifactId: string): Promise<ArtifactVersion[]> {
    const rows = await this.db.all<Row>(
      `SELECT ${ARTIFACT}, ${VERSION} FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id WHERE a.id = ? ORDER BY v.number DESC`,
      [artifactId],
    );
    return rows.map(versionOf);
  }

  async versionById(versionId: string): Promise<{ version: ArtifactVersion; artifact: Artifact } | undefined> {
    const row = await this.db.get<Row>(`SELECT ${ARTIFACT}, ${VERSION} FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id WHERE v.id = ?`, [versionId]);
    if (!row) return undefined;
    const latest = await this.db.get<Row>(`${WITH_LATEST} WHERE a.id = ?`, [row.id]);
    return { version: versionOf(row), artifact: withLatest(latest!) };
  }

  async listVersions(query: VersionQuery): Promise<{ version: ArtifactVersion; artifact: Artifact }[]> {
    const where = ['a.user_id = ?', 'a.agent_id = ?', 'a.deleted_at IS NULL'];
    const params: SqlValue[] = [query.userId, query.agentId];
    if (query.taskId !== undefined) {
      where.push('a.task_id = ?');
      params.push(query.taskId);
    }
    if (query.search) {
      where.push("LOWER(a.name) LIKE ? ESCAPE '\\'");
      params.push(`%${literal(query.search.toLowerCase())}%`);
    }
    const newest = query.order === 'newest';
    if (query.after) {
      where.push(newest ? '(v.created_at < ? OR (v.created_at = ? AND v.id < ?))' : '(v.created_at > ? OR (v.created_at = ? AND v.id > ?))');
      params.push(query.after.createdAt, query.after.createdAt, query.after.versionId);
    }
    const direction = newest ? 'DESC' : 'ASC';
    const rows = await this.db.scans.all<Row>(
      `SELECT ${ARTIFACT}, ${VERSION} FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id
        WHERE ${where.join(' AND ')} ORDER BY v.created_at ${direction}, v.id ${direction} LIMIT ?`,
      [...params, query.limit],
    );
    const latest = new Map<string, Artifact>();
    return Promise.all(
      rows.map(async (row) => {
        let artifact = latest.get(row.id);
        if (!artifact) {
          artifact = withLatest((await this.db.get<Row>(`${WITH_LATEST} WHERE a.id = ?`, [row.id]))!);
          latest.set(row.id, artifact);
        }
        return { version: versionOf(row), artifact };
      }),
    );
  }

  async list(query: ArtifactQuery): Promise<Artifact[]> {
    const where = ['a.user_id = ?', 'a.deleted_at IS NULL'];
    const params: SqlValue[] = [query.userId];
    for (const [column, value] of [
      ['a.workflow_id', query.workflowId],
      ['a.phase_id', query.phaseId],
      ['a.artifact_type', query.artifactType],
    ] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const rows = await this.db.all<Row>(`${WITH_LATEST} WHERE ${where.join(' AND ')} ORDER BY a.created_at DESC, a.id DESC LIMIT ?`, [...params, query.limit]);
    return rows.map(withLatest);
  }

  async isBlobReferenced(sha256: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS x FROM artifact_versions WHERE sha256 = ? LIMIT 1', [sha256])) !== undefined;
  }
}

