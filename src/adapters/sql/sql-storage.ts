import type { Database } from '../../ports/database.js';
import type { Storage } from '../../ports/storage.js';
import { migrate } from './migrations.js';
import { SqlAgentStore } from './sql-agent-store.js';
import { SqlIdempotencyStore } from './sql-idempotency-store.js';
import { SqlArtifactStore } from './sql-artifact-store.js';
import { SqlTaskStore } from './sql-task-store.js';
import { SqlUserStore } from './sql-user-store.js';

/** The storage contracts over any database that speaks the database port. Migrates on open. */
export async function openSqlStorage(db: Database): Promise<Storage> {
  await migrate(db);
  return {
    users: new SqlUserStore(db),
    tasks: new SqlTaskStore(db),
    agents: new SqlAgentStore(db),
    artifacts: new SqlArtifactStore(db),
    idempotency: new SqlIdempotencyStore(db),
    close: () => db.close(),
  };
}
