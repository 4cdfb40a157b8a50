import type { Database, Dialect } from '../../ports/database.js';

/**
 * One ordered list of schema changes for every backend. Each entry is applied once, in its own
 * transaction, and recorded in `schema_migrations`. Never edit an entry that has shipped: add one.
 */
const MIGRATIONS: { version: number; name: string; statements: (dialect: Dialect) => string[] }[] = [
  {
    version: 1,
    name: 'users, keys, tasks, messages, events',
    statements: () => [
      `CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      )`,
      `CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        key_hash TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
      )`,
      `CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        api_key_id TEXT,
        session_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL,
        system_prompt TEXT,
        show_in_history INTEGER NOT NULL,
        auto_execute INTEGER NOT NULL,
        env TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        last_activity_at TEXT NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0,
        turn INTEGER NOT NULL DEFAULT 1,
        turn_start_seq BIGINT NOT NULL DEFAULT 0,
        last_event_seq BIGINT NOT NULL DEFAULT 0,
        queued_at TEXT,
        lease_owner TEXT,
        lease_expires_at TEXT
      )`,
      `CREATE INDEX tasks_by_activity ON tasks (user_id, last_activity_at DESC, id DESC)`,
      `CREATE INDEX tasks_queued ON tasks (queued_at, id) WHERE queued_at IS NOT NULL`,
      `CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE lease_owner IS NOT NULL`,
      `CREATE TABLE messages (
        task_id TEXT NOT NULL REFERENCES tasks(id),
        seq INTEGER NOT NULL,
        turn INTEGER NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attached_files TEXT,
        thoughts TEXT,
        tool_calls TEXT,
        PRIMARY KEY (task_id, seq)
      )`,
      `CREATE TABLE events (
        task_id TEXT NOT NULL REFERENCES tasks(id),
        seq BIGINT NOT NULL,
        turn INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
      )`,
      `CREATE TABLE model_messages (
        task_id TEXT NOT NULL REFERENCES tasks(id),
        seq INTEGER NOT NULL,
        turn INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
      )`,
    ],
  },
  {
    version: 2,
    name: 'per-task tool policy',
    statements: () => ['ALTER TABLE tasks ADD COLUMN tool_policy TEXT'],
  },
  {
    version: 3,
    name: 'per-task model',
    statements: () => ['ALTER TABLE tasks ADD COLUMN model TEXT'],
  },
  {
    version: 4,
    name: 'agents, artifacts and their versions',
    statements: () => [
      `CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        system_prompt TEXT,
        model TEXT,
        tool_policy TEXT,
        auto_execute INTEGER NOT NULL,
        is_default INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      'CREATE INDEX agents_by_user ON agents (user_id, created_at)',
      'CREATE UNIQUE INDEX agents_one_default ON agents (user_id) WHERE is_default = 1',
      'ALTER TABLE tasks ADD COLUMN agent_id TEXT',
      'ALTER TABLE tasks ADD COLUMN workflow_id TEXT',
      'ALTER TABLE tasks ADD COLUMN phase_id TEXT',
      `CREATE TABLE artifacts (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        agent_id TEXT NOT NULL,
        task_id TEXT,
        path TEXT,
        name TEXT NOT NULL,
        title TEXT NOT NULL,
        artifact_type TEXT NOT NULL,
        workflow_id TEXT,
        phase_id TEXT,
        is_primary INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        deleted_at TEXT,
        latest_version INTEGER NOT NULL,
        observed_size BIGINT,
        observed_mtime_ms BIGINT
      )`,
      'CREATE UNIQUE INDEX artifacts_by_task_path ON artifacts (task_id, path)',
      'CREATE INDEX artifacts_by_user ON artifacts (user_id, created_at DESC, id DESC)',
      `CREATE TABLE artifact_versions (
        id TEXT PRIMARY KEY,
        artifact_id TEXT NOT NULL REFERENCES artifacts(id),
        number INTEGER NOT NULL,
        size BIGINT NOT NULL,
        media_type TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        task_id TEXT,
        turn INTEGER,
        user_id TEXT NOT NULL,
        agent_id TEXT,
        source TEXT NOT NULL,
        derived_from TEXT,
        UNIQUE (artifact_id, number)
      )`,
      'CREATE INDEX versions_by_time ON artifact_versions (created_at DESC, id DESC)',
      'CREATE INDEX versions_by_sha ON artifact_versions (sha256)',
    ],
  },
  {
    version: 5,
    name: 'where a task\'s secrets are held',
    statements: () => ['ALTER TABLE tasks ADD COLUMN secrets_holder TEXT'],
  },
  {
    version: 6,
    name: 'count of tasks per user',
    statements: () => [
      'ALTER TABLE users ADD COLUMN task_count INTEGER NOT NULL DEFAULT 0',
      'UPDATE users SET task_count = (SELECT COUNT(*) FROM tasks WHERE tasks.user_id = users.id)',
    ],
  },
  {
    version: 7,
    name: 'key names, admin keys, revocation and last use',
    statements: () => [
      'ALTER TABLE api_keys ADD COLUMN name TEXT',
      'ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0',
      'ALTER TABLE api_keys ADD COLUMN revoked_at TEXT',
      'ALTER TABLE api_keys ADD COLUMN last_used_at TEXT',
      // Whoever sets KILN_API_KEY owns the server: its key manages every user's keys.
      "UPDATE api_keys SET admin = 1, name = 'KILN_API_KEY' WHERE source = 'env'",
      'CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at)',
    ],
  },
  {
    version: 8,
    name: 'MCP servers of agents',
    statements: () => ['ALTER TABLE agents ADD COLUMN mcp_servers TEXT'],
  },
  {
    version: 9,
    name: 'widget apps, their tokens\' variables, and end users of tasks',
    statements: () => [
      `CREATE TABLE widget_apps (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        allowed_origins TEXT NOT NULL,
        agent_id TEXT,
        auto_execute INTEGER,
        sealed_variables TEXT,
        secret_hash TEXT NOT NULL,
        generation INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      'CREATE INDEX widget_apps_by_user ON widget_apps (user_id, created_at)',
      `CREATE TABLE widget_token_variables (
        token_id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        sealed TEXT NOT NULL,
        expires_at TEXT NOT NULL
      )`,
      'CREATE INDEX widget_token_variables_by_app ON widget_token_variables (app_id)',
      'CREATE INDEX widget_token_variables_by_expiry ON widget_token_variables (expires_at)',
      // An end user's conversations are the tasks of one app with one end-user id.
      'ALTER TABLE tasks ADD COLUMN widget_app_id TEXT',
      'ALTER TABLE tasks ADD COLUMN end_user_id TEXT',
      'CREATE INDEX tasks_by_end_user ON tasks (widget_app_id, end_user_id, last_activity_at DESC, id DESC) WHERE widget_app_id IS NOT NULL',
    ],
  },
  {
    version: 10,
    name: 'idempotency keys',
    statements: () => [
      `CREATE TABLE idempotency_keys (
        user_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        owner TEXT,
        locked_until TEXT,
        status_code INTEGER,
        content_type TEXT,
        body TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (user_id, idempotency_key)
      )`,
      'CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at)',
    ],
  },
  {
    version: 11,
    name: 'webhook endpoints and their delivery outbox',
    statements: () => [
      `CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        description TEXT,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        disabled_reason TEXT,
        failing_since TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      'CREATE INDEX webhook_endpoints_by_user ON webhook_endpoints (user_id, created_at)',
      `CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
        user_id TEXT NOT NULL,
        task_id TEXT,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        give_up_after TEXT NOT NULL,
        lease_owner TEXT,
        lease_expires_at TEXT,
        last_attempt_at TEXT,
        last_status_code INTEGER,
        last_error TEXT,
        last_duration_ms INTEGER,
        delivered_at TEXT,
        created_at TEXT NOT NULL
      )`,
      "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
      'CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC)',
      'CREATE INDEX webhook_deliveries_by_task ON webhook_deliveries (task_id) WHERE task_id IS NOT NULL',
    ],
  },
  {
    version: 12,
    name: 'request rate buckets and turn budgets',
    statements: (dialect) => [
      `CREATE TABLE rate_limit_buckets (
        api_key_id TEXT PRIMARY KEY,
        tokens ${dialect === 'postgres' ? 'DOUBLE PRECISION' : 'REAL'} NOT NULL,
        updated_ms BIGINT NOT NULL,
        allowed INTEGER NOT NULL
      )`,
      'ALTER TABLE tasks ADD COLUMN max_tokens INTEGER',
      'ALTER TABLE tasks ADD COLUMN max_duration_seconds INTEGER',
      'ALTER TABLE agents ADD COLUMN max_tokens INTEGER',
      'ALTER TABLE agents ADD COLUMN max_duration_seconds INTEGER',
    ],
  },
  {
    version: 13,
    name: 'retention: per-agent retention, purges in progress',
    statements: () => [
      'ALTER TABLE agents ADD COLUMN retention_days INTEGER',
      'ALTER TABLE tasks ADD COLUMN purging_since TEXT',
      'CREATE INDEX tasks_by_last_activity ON tasks (last_activity_at)',
    ],
  },
  {
    version: 14,
    name: 'trace context of the queued turn; tasks by status',
    statements: () => [
      // The W3C traceparent of the request that queued the turn, so the worker's spans join its trace.
      'ALTER TABLE tasks ADD COLUMN trace_parent TEXT',
      // Lets the metrics count tasks by status from the index alone.
      'CREATE INDEX tasks_by_status ON tasks (status)',
    ],
  },
  {
    version: 15,
    name: 'task list index in ascending order; held turns by user',
    // Tasks enter the index in increasing order of activity. An ascending index takes them at its
    // right edge, in full pages; the descending one took them at its left edge, splitting pages
    // half full (75% more pages at 100k tasks, so deep offsets read that much more). Pages are
    // read newest first by walking it backwards.
    statements: () => [
      'DROP INDEX tasks_by_activity',
      'CREATE INDEX tasks_by_activity ON tasks (user_id, last_activity_at, id)',
      // A claim counts the running turns of each user: only the held turns are read, in user order,
      // where it scanned every task through the index above.
      'CREATE INDEX tasks_held_by_user ON tasks (user_id, lease_owner) WHERE lease_owner IS NOT NULL',
    ],
  },
  {
    version: 16,
    name: 'waiting turns by user',
    // A claim on SQLite looks at each user with waiting turns once, and at that user's oldest one,
    // where it sorted every waiting turn (with a temporary index of the running counts) each time.
    statements: () => [
      'DROP INDEX tasks_queued',
      'CREATE INDEX tasks_waiting ON tasks (user_id, queued_at, id) WHERE queued_at IS NOT NULL AND lease_owner IS NULL',
    ],
  },
  {
    version: 17,
    name: 'task counts in slots',
    // A user's count in one row made PostgreSQL commit that user's new tasks one at a time: each
    // create held the row's lock until its commit. Spread over slots, creates commit together.
    statements: () => [
      'CREATE TABLE task_counts (user_id TEXT NOT NULL, slot INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (user_id, slot))',
      'INSERT INTO task_counts (user_id, slot, n) SELECT id, 0, task_count FROM users',
      'ALTER TABLE users DROP COLUMN task_count',
    ],
  },
  {
    version: 18,
    name: 'agent revisions',
    // Counts an agent's changes, so that a task made from a remembered copy of its agent can be
    // checked, in the statement that stores it, against the agent as it now is. The database
    // counts them, so that a change written by a process of an earlier version (during a rolling
    // upgrade) counts too.
    statements: (dialect) => [
      'ALTER TABLE agents ADD COLUMN revision INTEGER NOT NULL DEFAULT 1',
      ...(dialect === 'postgres'
        ? [
            'CREATE FUNCTION agents_count_revision() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.revision := OLD.revision + 1; RETURN NEW; END $$',
            'CREATE TRIGGER agents_revision BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION agents_count_revision()',
          ]
        : ['CREATE TRIGGER agents_revision AFTER UPDATE ON agents FOR EACH ROW WHEN NEW.revision = OLD.revision BEGIN UPDATE agents SET revision = OLD.revision + 1 WHERE id = OLD.id; END']),
    ],
  },
];

/** The migrations this code knows that the database has not applied (all of them before the first start). */
export async function pendingMigrations(db: Database): Promise<number[]> {
  const table = db.dialect === 'postgres' ? "to_regclass('schema_migrations') IS NOT NULL" : "EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations')";
  const exists = await db.get<{ present: boolean | number }>(`SELECT ${table} AS present`);
  const applied = exists?.present ? new Set((await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version))) : new Set<number>();
  return MIGRATIONS.map((m) => m.version).filter((v) => !applied.has(v));
}

/** Migrations applied to the database that this code does not know (a newer Kiln migrated it). */
export async function unknownMigrations(db: Database): Promise<number[]> {
  const known = new Set(MIGRATIONS.map((m) => m.version));
  return (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)).filter((v) => !known.has(v));
}

/**
 * Applies the migrations not yet applied, all in one transaction. On PostgreSQL an advisory lock
 * makes processes that start together take turns, so each migration runs exactly once.
 */
export async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    if (db.dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(7254100001)');
    await tx.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set((await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements(db.dialect)) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [migration.version, migration.name, new Date().toISOString()]);
    }
  });
}
