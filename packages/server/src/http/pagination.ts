import type { Page } from '@tickets/sdk';
import { ApiError } from './errors.js';

export const DEFAULT_LIMIT = 20;

/** Cursors are opaque to clients: the sort key of the last row seen, base64url-encoded. */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(values) &&
      values.length === arity &&
      values.every((v) => typeof v === 'string' || typeof v === 'number')
    )
      return values;
  } catch {
    // fall through
  }
  throw new ApiError(400, 'invalid_cursor', 'starting_after is not a cursor this list returned.', [
    { path: 'starting_after', message: 'is not a valid cursor', code: 'invalid_cursor' },
  ]);
}

/** Builds a page from rows fetched with `limit + 1`: the extra row only says there is more. */
export function toPage<Row, T>(
  rows: Row[],
  limit: number,
  cursorOf: (row: Row) => readonly (string | number)[],
  view: (row: Row) => T,
): Page<T> {
  const hasMore = rows.length > limit;
  const shown = hasMore ? rows.slice(0, limit) : rows;
  const last = shown[shown.length - 1];
  return {
    object: 'list',
    data: shown.map(view),
    has_more: hasMore,
    next_cursor: hasMore && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}

/**
 * Where a newest-first list (by id: TypeIDs sort by creation) continues: its page size, and the id to continue
 * below (null on the first page).
 */
export function newestFirst(query: { limit?: number; starting_after?: string }): {
  limit: number;
  before: string | null;
} {
  return {
    limit: query.limit ?? DEFAULT_LIMIT,
    before: query.starting_after ? String(decodeCursor(query.starting_after, 1)[0]) : null,
  };
}

/** {@link toPage} for views that read more of the database. */
export async function toPageAsync<Row, T>(
  rows: Row[],
  limit: number,
  cursorOf: (row: Row) => readonly (string | number)[],
  view: (row: Row) => Promise<T>,
): Promise<Page<T>> {
  const page = toPage(rows, limit, cursorOf, (r) => r);
  return { ...page, data: await Promise.all(page.data.map(view)) };
}
