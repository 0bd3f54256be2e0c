import { Readable } from 'node:stream';
import SQLite from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { ApiError } from '../../http/errors.js';

/**
 * Reads a query's rows one at a time from a database cursor, as an object-mode stream that is pulled
 * only as fast as its reader takes rows: a report of a million tickets never has more than a batch of
 * them in memory. Destroying the stream (the client went away) closes the cursor at once.
 */
export interface RowCursors {
  open(query: CompiledQuery): Promise<Readable>;
  /** Lets go of the connections kept for reports (the server is stopping). */
  close(): Promise<void>;
}

/** The cursors for the database a DATABASE_URL names (the one the server's Db was opened on). */
export function rowCursors(databaseUrl: string): RowCursors {
  return databaseUrl.startsWith('sqlite:')
    ? new SqliteCursors(databaseUrl.slice('sqlite:'.length))
    : new PostgresCursors(databaseUrl);
}

const SQLITE_BATCH = 256;

/**
 * SQLite: a read-only connection of the report's own, iterated with better-sqlite3's `iterate()`. Not
 * the server's connection: while a statement of a connection is being iterated that connection may not
 * write, and a report is iterated for as long as its client takes to download it. In WAL mode the
 * reader sees one snapshot throughout and blocks no writer.
 */
class SqliteCursors implements RowCursors {
  constructor(private readonly file: string) {}

  /** Each report's connection closes with its stream: none is kept. */
  async close(): Promise<void> {}

  async open(query: CompiledQuery): Promise<Readable> {
    if (this.file === ':memory:')
      throw new ApiError(
        501,
        'reports_unavailable',
        'Reports read the database through a connection of their own, which an in-memory database cannot have.',
      );
    const db = new SQLite(this.file, { readonly: true, fileMustExist: true });
    let rows: IterableIterator<unknown>;
    try {
      db.pragma('busy_timeout = 5000');
      rows = db.prepare(query.sql).iterate(...(query.parameters as unknown[]));
    } catch (err) {
      db.close();
      throw err;
    }
    return new Readable({
      objectMode: true,
      highWaterMark: SQLITE_BATCH,
      read() {
        try {
          for (let n = 0; n < SQLITE_BATCH; n++) {
            const next = rows.next();
            if (next.done) {
              this.push(null);
              return;
            }
            if (!this.push(next.value)) return;
          }
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, done) {
        try {
          rows.return?.();
          db.close();
        } catch {
          // Closing what is already closed: nothing left to release.
        }
        done(err);
      },
    });
  }
}

/** Postgres connections for reports: a few, apart from the API's pool, so downloads never starve it. */
const POSTGRES_CONNECTIONS = 4;
const POSTGRES_BATCH = 500;

/**
 * Postgres: a client from a small pool of the reports' own, and a cursor over it (pg-query-stream,
 * which fetches POSTGRES_BATCH rows at a time). The client goes back to the pool when the cursor is
 * closed: at the end, on an error, or when the stream is destroyed because its client went away.
 */
class PostgresCursors implements RowCursors {
  private pool: pg.Pool | undefined;

  constructor(private readonly url: string) {}

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  private connections(): pg.Pool {
    if (!this.pool) {
      const parsed = new URL(this.url);
      const schema = parsed.searchParams.get('schema');
      parsed.searchParams.delete('schema');
      this.pool = new pg.Pool({
        connectionString: parsed.toString(),
        max: POSTGRES_CONNECTIONS,
        application_name: 'tickets-reports',
        // Idle report connections close by themselves, and never keep a stopping process alive.
        idleTimeoutMillis: 5_000,
        allowExitOnIdle: true,
        ...(schema ? { options: `-c search_path=${schema}` } : {}),
      });
      // A connection dropped while idle in the pool: the pool replaces it; nothing to report.
      this.pool.on('error', () => {});
    }
    return this.pool;
  }

  async open(query: CompiledQuery): Promise<Readable> {
    const client = await this.connections().connect();
    const rows = client.query(
      new QueryStream(query.sql, query.parameters as unknown[], { batchSize: POSTGRES_BATCH }),
    );
    let failed: Error | undefined;
    rows.once('error', (err) => {
      failed = err;
    });
    // 'close' comes once the cursor is closed (QueryStream's _destroy), however the stream ended; a
    // connection whose query failed is dropped rather than handed to the next report.
    rows.once('close', () => client.release(failed));
    return rows;
  }
}
