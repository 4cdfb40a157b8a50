import fs from 'node:fs/promises';
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { ArtifactStore, KeyOwner, RetentionStore } from '../../ports/storage.js';
import { Conflict, Forbidden, NotFound } from '../errors.js';
import type { Workspaces } from '../workspace/workspaces.js';

export interface PurgeOptions {
  /** KILN_RETENTION_DAYS: ended tasks idle for longer are removed (null: kept for good, unless their agent says otherwise). */
  retentionDays: number | null;
  /** Blobs written more recently than this are spared (a write of the same bytes may be about to record a version). */
  blobGraceMs: number;
  /** Rows removed per transaction. */
  batch?: number;
}

const SWEEP_TASKS = 50;

/**
 * Removes tasks for good: their events, conversation, webhook deliveries, artifact versions
 * (and artifacts), workspace, and the blobs no version refers to any more. Rows go in small
 * batches, a transaction each, with a pause for other work between them, so the API stays
 * responsive while a large task goes. A removal cut short is finished by the next sweep.
 *
 * @example
 * await purger.purge(caller, taskId); // POST /api/v1/tasks/{id}/purge
 * await purger.sweep();              // retention, on a timer
 */
export class TaskPurger {
  /** Blobs spared for being written recently, tried again on later sweeps. */
  private readonly sparedBlobs = new Set<string>();

  constructor(
    private readonly deps: { retention: RetentionStore; artifacts: ArtifactStore; blobs: BlobStore; workspaces: Workspaces; logger: Logger },
    private readonly options: PurgeOptions,
  ) {}

  /**
   * Removes one of the caller's tasks now. A task whose turn is still executing is refused:
   * cancel it first. Removing is the owner's decision: an end user (widget token) may not.
   */
  async purge(caller: KeyOwner, taskId: string): Promise<void> {
    if (caller.endUser) throw new Forbidden('A widget token cannot purge tasks: purging is for the owner of the widget app, with an API key.');
    const marked = await this.deps.retention.beginPurge(taskId, caller.userId, new Date().toISOString());
    if (marked === 'missing') throw new NotFound('Task not found');
    if (marked === 'executing') {
      throw new Conflict('The task is still executing (pending, running or awaiting approval): cancel it first (DELETE /api/v1/tasks/{id}), then purge it.');
    }
    await this.remove(taskId);
  }

  /** Removes the tasks past their retention (and finishes removals cut short); returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const due = await this.deps.retention.expired(new Date(), this.options.retentionDays, SWEEP_TASKS);
      for (const id of due) {
        if ((await this.deps.retention.beginPurge(id, null, new Date().toISOString())) !== 'marked') continue;
        await this.remove(id);
        removed++;
      }
      if (due.length < SWEEP_TASKS) break;
    }
    await this.removeBlobs([...this.sparedBlobs]);
    if (removed > 0) this.deps.logger.info(`retention: removed ${removed} task(s)`);
    return removed;
  }

  private async remove(taskId: string): Promise<void> {
    const batch = this.options.batch ?? 500;
    const blobs = new Set<string>();
    for (;;) {
      const { removed, blobs: released } = await this.deps.retention.purgeBatch(taskId, batch);
      for (const sha of released) blobs.add(sha);
      if (removed < batch) break;
      // Let requests waiting for the database in between.
      await yieldToOthers();
    }
    await this.deps.retention.finishPurge(taskId);
    await fs.rm(this.deps.workspaces.dir(taskId), { recursive: true, force: true });
    await this.removeBlobs([...blobs]);
  }

  private async removeBlobs(candidates: string[]): Promise<void> {
    const writtenBefore = new Date(Date.now() - this.options.blobGraceMs);
    for (const sha of candidates) {
      this.sparedBlobs.delete(sha);
      if (await this.deps.artifacts.isBlobReferenced(sha)) continue;
      if (!(await this.deps.blobs.remove(sha, writtenBefore))) {
        if (await this.deps.blobs.has(sha)) this.sparedBlobs.add(sha);
      }
    }
  }
}
