import { type RawBuilder, sql } from 'kysely';

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Case-insensitive "contains" on each column, with `%`, `_` and `\` in the search taken literally.
 * `lower(…) like … escape '\'` reads the same on SQLite and Postgres.
 */
export function containsAny(columns: readonly string[], q: string): RawBuilder<boolean>[] {
  const pattern = `%${escapeLike(q.toLowerCase())}%`;
  return columns.map((col) => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`);
}
