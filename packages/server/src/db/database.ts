import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  SqliteDialect,
} from 'kysely';
import pg from 'pg';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_orders.js';
import * as m0003 from './migrations/0003_audit_outbox.js';
import * as m0004 from './migrations/0004_invoices.js';
import * as m0005 from './migrations/0005_payments.js';
import * as m0006 from './migrations/0006_checkin.js';
import * as m0007 from './migrations/0007_offline_checkin.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** The Postgres schema everything lives in. */
  schema?: string;
  close(): Promise<void>;
}

// count(*) and sums come back from pg as int8 strings; every such number here fits in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

/**
 * Opens the database named by a DATABASE_URL: `sqlite:/path/file.db` (or `sqlite::memory:`), or
 * `postgres://user@host:port/db`, optionally with `?schema=name` to work inside one schema.
 */
export function openDatabase(url: string, options: { poolSize?: number } = {}): Db {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    // Several processes may share one file: wait for a writer instead of failing at once.
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    const kysely = new Kysely<Database>({
      dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    });
    return { kysely, dialect: 'sqlite', close: () => kysely.destroy() };
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: options.poolSize ?? 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { kysely, dialect: 'postgres', schema: schema ?? 'public', close: () => kysely.destroy() };
}

/**
 * Kysely prepares every query afresh; SQLite then parses the SQL each time. Reusing prepared statements
 * by their text saves that on hot paths. Safe because better-sqlite3 runs each statement to completion
 * synchronously, so one statement object is never in use twice at once.
 */
function withStatementCache(sqlite: SQLite.Database, max = 500): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (source: string) => {
        let stmt = cache.get(source);
        if (!stmt) {
          stmt = prepare(source);
          if (cache.size >= max) cache.delete(cache.keys().next().value as string);
          cache.set(source, stmt);
        }
        return stmt;
      };
    },
  });
}

const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_orders': m0002,
  '0003_audit_outbox': m0003,
  '0004_invoices': m0004,
  '0005_payments': m0005,
  '0006_checkin': m0006,
  '0007_offline_checkin': m0007,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export function migrator(db: Db): Migrator {
  // Named explicitly: Kysely looks for its own tables in every schema, so another schema's copy would
  // otherwise be mistaken for ours.
  return new Migrator({ db: db.kysely, provider, migrationTableSchema: db.schema });
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}
