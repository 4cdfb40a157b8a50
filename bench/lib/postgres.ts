import pg from 'pg';

/**
 * Vacuums and analyzes every table of the schemas, as autovacuum keeps a live database: a new
 * schema has no statistics, and without vacuum every task's updates leave dead index entries
 * behind (on a server with autovacuum off, runs slow down round by round).
 */
export async function vacuumSchemas(databaseUrl: string, schemas: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ schemaname: string; tablename: string }>('SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1)', [schemas]);
    for (const { schemaname, tablename } of tables.rows) await client.query(`VACUUM (ANALYZE) "${schemaname}"."${tablename}"`);
  } finally {
    await client.end();
  }
}

/** Drops the schemas with everything in them. */
export async function dropSchemas(databaseUrl: string, schemas: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
