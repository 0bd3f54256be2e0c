import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  type Compilable,
  CompiledQuery,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  type QueryResult,
  SqliteAdapter,
  SqliteDialect,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { observeStatement } from '../observability/metrics.js';
import { type Checkpointer, startCheckpointer } from './checkpointer.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_orders.js';
import * as m0003 from './migrations/0003_audit_outbox.js';
import * as m0004 from './migrations/0004_invoices.js';
import * as m0005 from './migrations/0005_payments.js';
import * as m0006 from './migrations/0006_checkin.js';
import * as m0007 from './migrations/0007_offline_checkin.js';
import * as m0008 from './migrations/0008_messaging.js';
import * as m0009 from './migrations/0009_lean_door.js';
import * as m0010 from './migrations/0010_lean_outbox.js';
import * as m0011 from './migrations/0011_sale_constraints.js';
import * as m0012 from './migrations/0012_event_cancellations.js';
import * as m0013 from './migrations/0013_invoice_errors.js';
import * as m0014 from './migrations/0014_inventory_slots.js';
import * as m0015 from './migrations/0015_refund_listing.js';
import * as m0016 from './migrations/0016_password_resets.js';
import * as m0017 from './migrations/0017_publishable_keys.js';
import * as m0018 from './migrations/0018_default_tax_rate.js';
import * as m0019 from './migrations/0019_invoice_reissue.js';
import * as m0020 from './migrations/0020_org_contact.js';
import * as m0021 from './migrations/0021_order_attribution.js';
import * as m0022 from './migrations/0022_analytics_indexes.js';
import * as m0023 from './migrations/0023_sales_rollup.js';
import * as m0024 from './migrations/0024_event_analytics_indexes.js';
import * as m0025 from './migrations/0025_audit_log.js';
import * as m0026 from './migrations/0026_feedback.js';
import * as m0027 from './migrations/0027_media.js';
import * as m0028 from './migrations/0028_webhook_endpoints.js';
import * as m0029 from './migrations/0029_payment_fees.js';
import * as m0030 from './migrations/0030_payouts.js';
import * as m0031 from './migrations/0031_reconciliations.js';
import * as m0032 from './migrations/0032_google_analytics.js';
import * as m0034 from './migrations/0034_fee_rollup.js';
import * as m0035 from './migrations/0035_vouchers.js';
import * as m0036 from './migrations/0036_payment_jobs.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** The Postgres schema everything lives in. */
  schema?: string;
  /** SQLite with `backgroundCheckpoints`: the thread that checkpoints its WAL. */
  checkpointer?: Checkpointer;
  /**
   * Postgres: a connection of its own that LISTENs on `channel` and calls `onNotify` for each NOTIFY;
   * resolves to a function that closes it. (SQLite has no other processes to hear from.)
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * With background checkpoints, the WAL size (in pages) at which the server's own connection checkpoints
 * after all: only when the checkpoint thread falls that far behind (about 40 MB of log).
 */
const SAFETY_NET_PAGES = 10_000;

// count(*) and sums come back from pg as int8 strings; every such number here fits in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

/**
 * What of a SQLite database others on the machine may read or write: the folder and the file when their
 * mode gives the group or others any access (created by an older version, or by hand). [] for
 * Postgres, an in-memory database, or modes that are this account's alone.
 */
export function exposedFiles(url: string): string[] {
  if (!url.startsWith('sqlite:')) return [];
  const file = url.slice('sqlite:'.length);
  if (file === ':memory:') return [];
  return [dirname(file), file].flatMap((path) => {
    try {
      const mode = statSync(path).mode & 0o777;
      return mode & 0o077 ? [`${path} (${mode.toString(8).padStart(4, '0')})`] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Opens the database named by a DATABASE_URL: `sqlite:/path/file.db` (or `sqlite::memory:`), or
 * `postgres://user@host:port/db`, optionally with `?schema=name` to work inside one schema.
 */
export function openDatabase(
  url: string,
  options: {
    poolSize?: number;
    /** SQLite: checkpoint the WAL on a thread of its own (long-running servers; see checkpointer.ts). */
    backgroundCheckpoints?: boolean;
    /** Postgres: how long a statement may wait for a lock (default LOCK_TIMEOUT_MS). */
    lockTimeoutMs?: number;
    /** Postgres: how long a session may sit idle inside a transaction before Postgres ends it (60 s). */
    idleInTransactionMs?: number;
  } = {},
): Db {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    // It holds the signing secret and every event's private key: this account's alone (a new folder
    // 0700, a new file 0600; SQLite gives its -wal and -shm files the database file's mode).
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      closeSync(openSync(file, 'a', 0o600));
    }
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    // Several processes may share one file: wait for a writer instead of failing at once.
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    const kysely = new Kysely<Database>({
      dialect: new TransactionalSqliteDialect({ database: withStatementCache(sqlite) }),
      log: (e) => observeStatement(e, 'sqlite'),
    });
    if (!options.backgroundCheckpoints || file === ':memory:')
      return { kysely, dialect: 'sqlite', close: () => kysely.destroy() };
    sqlite.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
    const checkpointer = startCheckpointer(file);
    return {
      kysely,
      dialect: 'sqlite',
      checkpointer,
      close: async () => {
        await checkpointer.stop();
        await kysely.destroy();
      },
    };
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  // Safety nets, so that a wait nobody will end becomes an error instead of a wedged server: a statement
  // waiting for a row lock longer than LOCK_TIMEOUT_MS gives up (55P03, and a sale's transaction is run
  // again, see retriedWhenLost), and a session left idle inside a transaction for a minute (its code
  // stuck awaiting something else while holding locks) is ended by Postgres, releasing them.
  // JIT is off: it pays for itself only on long queries, and on analytics' range joins, whose row counts
  // Postgres misestimates, it cost more than the query (≈ 130 ms of compiling on a 0.1 s query).
  const guards = `-c lock_timeout=${options.lockTimeoutMs ?? LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=${options.idleInTransactionMs ?? 60_000} -c jit=off`;
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: options.poolSize ?? 10,
    options: schema ? `-c search_path=${schema} ${guards}` : guards,
  });
  // A connection Postgres ends (the idle-in-transaction timeout above, a restart, an administrator) emits
  // 'error' on its client: unheard, that would end the process. Heard, the client is left unusable — the
  // transaction on it fails and rolls back, and the pool drops it when it is released (pg-pool removes a
  // client that is no longer queryable) — while the server goes on.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const kysely = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (e) => observeStatement(e, 'postgresql'),
  });
  const listen = async (channel: string, onNotify: () => void) => {
    const client = new pg.Client({ connectionString: parsed.toString() });
    await client.connect();
    client.on('notification', () => onNotify());
    // A dropped connection must not crash the process: the caller's polling goes on without wake-ups.
    client.on('error', () => {});
    await client.query(`listen "${channel.replaceAll('"', '""')}"`);
    return async () => {
      await client.end().catch(() => {});
    };
  };
  return { kysely, dialect: 'postgres', schema: schema ?? 'public', listen, close: () => kysely.destroy() };
}

/**
 * SQLite can roll back schema changes, but Kysely's adapter says it can't, so its Migrator would run
 * each statement of a migration on its own: a migration failing half-way (a crash, a full disk) left a
 * half-changed schema that the next start could not migrate either. Saying so lets the Migrator run
 * pending migrations in one transaction (`begin immediate`, see withStatementCache), all or nothing,
 * and other processes on the file wait for it instead of writing into a table being rebuilt.
 */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
class TransactionalSqliteDialect extends SqliteDialect {
  override createAdapter(): TransactionalSqliteAdapter {
    return new TransactionalSqliteAdapter();
  }
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
          // Kysely opens every transaction with a plain `begin`, which takes the write lock only at the
          // first write: two processes that both read first then deadlock on the upgrade (SQLITE_BUSY
          // at once, busy_timeout notwithstanding). Taking it up front makes them queue instead.
          stmt = prepare(source === 'begin' ? 'begin immediate' : source);
          if (cache.size >= max) cache.delete(cache.keys().next().value as string);
          cache.set(source, stmt);
        }
        return stmt;
      };
    },
  });
}

/**
 * A hot statement built and compiled once (per database) instead of on every call: Kysely's building
 * and compiling cost as much as better-sqlite3 running the statement. `build` is called once, with
 * stand-ins for the arguments, and must use each only as a value (not to shape the query); the
 * compiled statement is then run with the real arguments in their places.
 */
export function prepared<A extends unknown[], R>(
  build: (k: Kysely<Database>, ...args: A) => Compilable<R>,
): (k: Kysely<Database>, ...args: A) => Promise<QueryResult<R>> {
  const compiled = new WeakMap<object, { query: CompiledQuery<R>; slots: (number | { value: unknown })[] }>();
  return (k, ...args) => {
    // Transactions share their parent's executor-independent compiler; key by the dialect's adapter.
    const owner = k.getExecutor().adapter;
    let entry = compiled.get(owner);
    if (!entry) {
      const stand = args.map((_, i) => `\u0000arg${i}\u0000`);
      const query = build(k, ...(stand as A)).compile();
      const slots = query.parameters.map((p) => {
        const i = typeof p === 'string' ? stand.indexOf(p) : -1;
        return i === -1 ? { value: p } : i;
      });
      entry = { query, slots };
      compiled.set(owner, entry);
    }
    const { query, slots } = entry;
    return k.executeQuery<R>({
      ...query,
      parameters: slots.map((s) => (typeof s === 'number' ? args[s] : s.value)),
    });
  };
}

/** How long a Postgres statement may wait for a lock before it gives up (see openDatabase). */
export const LOCK_TIMEOUT_MS = 10_000;

/**
 * Postgres's codes for a transaction it failed to break a deadlock, for a serialization failure, and
 * for a lock waited on longer than lock_timeout (all roll back whole: running them again is safe).
 */
const LOST = new Set(['40P01', '40001', '55P03']);
const ATTEMPTS = 5;

/**
 * A transaction of the sale (a payment, a refund, a cancellation, a hold's release), run again when
 * Postgres fails it to break a deadlock. Those transactions cannot all take their rows in one order: a
 * payment or a refund starts from its order and ends at the event's counters, while a cancellation must
 * take the event first (to stop the sale) and then its orders. When two such meet, Postgres fails one of
 * them (40P01) and the other goes on; the one failed is simply run again, on the rows as they are now,
 * where it decides afresh. `work` must therefore do nothing outside the transaction it is given. On
 * SQLite, transactions take the write lock up front (`begin immediate`) and never deadlock.
 */
export function saleTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return retriedWhenLost(() => db.kysely.transaction().execute(work));
}

/**
 * Runs `run` (one statement, or a whole transaction) again when Postgres failed it to break a deadlock
 * or a serialization conflict: it rolled back whole, so running it again is safe (see saleTransaction).
 */
export async function retriedWhenLost<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= ATTEMPTS || !code || !LOST.has(code)) throw err;
      // A few milliseconds apart, at random, so the two do not meet again in step.
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

type Job<T> = {
  work: (trx: Transaction<Database>) => Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
};

/**
 * Runs short write transactions, grouping them on SQLite: every unit of work queued in the same turn
 * of the event loop runs in one transaction, each in a savepoint of its own (a failing unit rolls back
 * alone and rejects alone), and one commit makes them all durable before any caller hears back. A
 * commit is most of the cost of a small write on SQLite, and there is only one writer anyway; the
 * units still run one after another, each seeing the ones before it, exactly as separate
 * transactions would. On Postgres each unit is simply a transaction of its own (its row locks are the
 * queue there, and grouping would make unrelated buyers wait on each other's locks), run again if
 * Postgres fails it to break a deadlock (see saleTransaction).
 *
 * A unit must only use the transaction it is given (on SQLite it holds the only connection).
 */
export function groupedWrites(db: Db): Writer {
  let writer = writers.get(db);
  if (!writer) {
    writer = makeWriter(db);
    writers.set(db, writer);
  }
  return writer;
}

type Writer = <T>(work: (trx: Transaction<Database>) => Promise<T>) => Promise<T>;
/** One writer per database, so every kind of write shares its groups (and their commits). */
const writers = new WeakMap<Db, Writer>();

// A unit's savepoint statements, compiled once: built with `sql` they were compiled for every unit.
const SAVEPOINT = CompiledQuery.raw('savepoint unit');
const ROLLBACK_TO = CompiledQuery.raw('rollback to unit');
const RELEASE = CompiledQuery.raw('release unit');

function makeWriter(db: Db, maxGroup = 256): Writer {
  if (db.dialect !== 'sqlite')
    return <T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> => saleTransaction(db, work);
  const queue: Job<unknown>[] = [];
  let scheduled = false;
  const flush = async () => {
    scheduled = false;
    const jobs = queue.splice(0, maxGroup);
    if (queue.length) schedule();
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      await db.kysely.transaction().execute(async (trx) => {
        for (const job of jobs) {
          await trx.executeQuery(SAVEPOINT);
          try {
            outcomes.push({ ok: true, value: await job.work(trx) });
          } catch (err) {
            await trx.executeQuery(ROLLBACK_TO);
            outcomes.push({ ok: false, err });
          }
          await trx.executeQuery(RELEASE);
        }
      });
    } catch (err) {
      // Nothing of the group was committed.
      for (const job of jobs) job.reject(err);
      return;
    }
    for (const [i, job] of jobs.entries()) {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    }
  };
  const schedule = () => {
    scheduled = true;
    setImmediate(() => void flush());
  };
  return <T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve, reject } as Job<unknown>);
      if (!scheduled) schedule();
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
  '0008_messaging': m0008,
  '0009_lean_door': m0009,
  '0010_lean_outbox': m0010,
  '0011_sale_constraints': m0011,
  '0012_event_cancellations': m0012,
  '0013_invoice_errors': m0013,
  '0014_inventory_slots': m0014,
  '0015_refund_listing': m0015,
  '0016_password_resets': m0016,
  '0017_publishable_keys': m0017,
  '0018_default_tax_rate': m0018,
  '0019_invoice_reissue': m0019,
  '0020_org_contact': m0020,
  '0021_order_attribution': m0021,
  '0022_analytics_indexes': m0022,
  '0023_sales_rollup': m0023,
  '0024_event_analytics_indexes': m0024,
  '0025_audit_log': m0025,
  '0026_feedback': m0026,
  '0027_media': m0027,
  '0028_webhook_endpoints': m0028,
  '0029_payment_fees': m0029,
  '0030_payouts': m0030,
  '0031_reconciliations': m0031,
  '0032_google_analytics': m0032,
  '0034_fee_rollup': m0034,
  '0035_vouchers': m0035,
  '0036_payment_jobs': m0036,
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
