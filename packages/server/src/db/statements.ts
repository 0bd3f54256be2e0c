import {
  CompiledQuery,
  type DatabaseConnection,
  type Kysely,
  type QueryResult,
  type Transaction,
} from 'kysely';
import type { Dialect } from './database.js';
import type { Database } from './schema.js';

type Trx = Transaction<Database>;
type Value = string | number | bigint | null | readonly string[];

/**
 * Runs a statement given as SQL text with `?` placeholders (numbered for Postgres), skipping Kysely's
 * building and compiling: on the purchase path those cost as much as SQLite running the statement.
 * In a SQLite transaction the statement goes straight to the transaction's connection (see
 * `connectionOf`).
 */
export function run<R = unknown>(
  trx: Trx | Kysely<Database>,
  dialect: Dialect,
  text: string,
  parameters: readonly Value[],
): Promise<QueryResult<R>> {
  const query = CompiledQuery.raw(dialect === 'postgres' ? numbered(text) : text, [...parameters]);
  if (dialect === 'sqlite' && trx.isTransaction)
    return connectionOf(trx as Trx).then((c) => c.executeQuery<R>(query));
  return trx.executeQuery<R>(query);
}

/**
 * A SQLite transaction's one connection, taken from Kysely once per transaction. Kysely hands it out
 * one statement at a time (a queue of promises per statement: several microseconds, as much as SQLite
 * running a small insert); within a transaction, whose statements are awaited one after another, it
 * is the same connection each time, so the sale's statements use it directly. Unlike Kysely's own
 * path, nothing here refuses a transaction that has ended: a `trx` must never be used after its unit
 * (see groupedWrites) returned, or its statement would run outside it. Only for SQLite
 * transactions: a Postgres pool, or SQLite outside a transaction, lends connections that must be
 * given back.
 */
const connections = new WeakMap<Trx, DatabaseConnection>();
async function connectionOf(trx: Trx): Promise<DatabaseConnection> {
  let connection = connections.get(trx);
  if (!connection) {
    connection = await trx.getExecutor().provideConnection(async (c) => c);
    connections.set(trx, connection);
  }
  return connection;
}

const numberedCache = new Map<string, string>();
function numbered(text: string): string {
  let out = numberedCache.get(text);
  if (out === undefined) {
    let n = 0;
    out = text.replace(/\?/g, () => `$${++n}`);
    numberedCache.set(text, out);
  }
  return out;
}

/** The statement text for `count` rows of `columns`, built once per shape. */
const insertText = new Map<string, { columns: string[]; text: string }[]>();
function insertSql(dialect: Dialect, table: string, columns: string[], count: number): string {
  const key = `${dialect} ${table} ${count}`;
  let shapes = insertText.get(key);
  if (!shapes) {
    shapes = [];
    insertText.set(key, shapes);
  }
  const known = shapes.find(
    (shape) => shape.columns.length === columns.length && shape.columns.every((c, i) => c === columns[i]),
  );
  if (known) return known.text;
  let n = 0;
  const row = () => `(${columns.map(() => (dialect === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
  const text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${Array.from(
    { length: count },
    row,
  ).join(', ')}`;
  shapes.push({ columns, text });
  return text;
}

/** Statement sizes rows are inserted in: a few fixed shapes, so prepared statements are reused. */
const CHUNKS = [64, 16, 4, 1];

/**
 * Inserts plain rows (every row with the first row's columns, values that bind as they are: text,
 * numbers, null) in a few multi-row statements of fixed sizes.
 */
export async function insertRows(
  trx: Trx,
  dialect: Dialect,
  table: keyof Database & string,
  rows: readonly object[],
): Promise<void> {
  if (!rows.length) return;
  const columns = Object.keys(rows[0]!);
  let at = 0;
  while (at < rows.length) {
    const size = CHUNKS.find((c) => c <= rows.length - at)!;
    const parameters: Value[] = [];
    for (let r = at; r < at + size; r++) {
      const row = rows[r] as Record<string, Value>;
      for (const c of columns) parameters.push(row[c] ?? null);
    }
    await run(trx, dialect, insertSql(dialect, table, columns, size), parameters);
    at += size;
  }
}
