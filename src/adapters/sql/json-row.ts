import type { Dialect } from '../../ports/database.js';

/**
 * Rows of another table returned beside a statement's own row, as JSON: on PostgreSQL each read
 * is a round trip, and one statement can bring back what would take several.
 */

/** The columns (`a, b, c`) of the row `alias` as one JSON object, named as the columns are. */
export function rowJson(dialect: Dialect, alias: string, columns: string): string {
  const fields = columns.split(', ').map((column) => `'${column}', ${alias}.${column}`).join(', ');
  return `${dialect === 'postgres' ? 'json_build_object' : 'json_object'}(${fields})`;
}

/** The JSON values `value` of a group's rows as one array, in `orderBy` order (null for no rows on PostgreSQL). */
export function jsonArray(dialect: Dialect, value: string, orderBy: string): string {
  return `${dialect === 'postgres' ? 'json_agg' : 'json_group_array'}(${value} ORDER BY ${orderBy})`;
}

/** A JSON value as read: SQLite returns it as text, node-pg parses PostgreSQL's json itself. */
export function parsedJson<T>(value: string | T | null): T | null {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
