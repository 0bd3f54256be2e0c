import { type Kysely, type SelectQueryBuilder, SqliteAdapter, sql, type Transaction } from 'kysely';
import { type Db, type Dialect, groupedWrites } from './database.js';
import type { Database } from './schema.js';

/**
 * What differs between the two databases, in one place. The rest of the code asks the store of its
 * database (`storeOf(db)`) or hands both implementations to `byDialect`, and never compares dialects
 * itself (test/dialect-branches.test.ts fails if it does).
 *
 * The differences are of two kinds. Locks: Postgres locks rows, so a read that decides a write locks
 * what it read (FOR UPDATE), while SQLite's write transactions (`begin immediate`) hold the whole
 * database already. Cost: SQLite runs in this process, where a statement is a function call and a
 * commit is the cost to save; Postgres is a round trip away, where the number of statements is.
 */
export interface Store {
  /** Statements travel to a server: one statement doing more beats several doing less. */
  readonly remote: boolean;
  /**
   * A write of one statement, on its own: on SQLite with the other writes of the moment, under one
   * commit (see groupedWrites); on Postgres sent as it is (a single statement is atomic on its own: one
   * round trip instead of three).
   */
  alone<T>(work: (q: Kysely<Database> | Transaction<Database>) => Promise<T>): Promise<T>;
  /** Rows read to decide a write in the same transaction, locked until it ends. */
  forUpdate<TB extends keyof Database, O>(
    q: SelectQueryBuilder<Database, TB, O>,
  ): SelectQueryBuilder<Database, TB, O>;
  /**
   * A row read to check a condition that another transaction may only change after this one ends
   * (e.g. an event on sale): shared with other readers, blocking writers.
   */
  forShare<TB extends keyof Database, O>(
    q: SelectQueryBuilder<Database, TB, O>,
  ): SelectQueryBuilder<Database, TB, O>;
  /** Rows several workers take work from: locked, skipping rows another worker has locked. */
  forClaim<TB extends keyof Database, O>(
    q: SelectQueryBuilder<Database, TB, O>,
  ): SelectQueryBuilder<Database, TB, O>;
}

interface Locks extends Pick<Store, 'forUpdate' | 'forShare' | 'forClaim'> {
  /**
   * Holds a lock named by `key` until the transaction ends: transactions that take the same key run
   * one after the other (where no row they write would make them: e.g. one buyer's orders of an event
   * with slots, checked against the buyer's limit). SQLite: its one writer does already.
   */
  byKey(trx: Transaction<Database>, key: string): Promise<void>;
}

const SQLITE_LOCKS: Locks = {
  forUpdate: (q) => q,
  forShare: (q) => q,
  forClaim: (q) => q,
  byKey: async () => {},
};

const POSTGRES_LOCKS: Locks = {
  forUpdate: (q) => q.forUpdate(),
  forShare: (q) => q.forShare(),
  forClaim: (q) => q.forUpdate().skipLocked(),
  byKey: async (trx, key) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
  },
};

const sqliteStore = (db: Db): Store => ({
  ...SQLITE_LOCKS,
  remote: false,
  alone: (work) => groupedWrites(db)((trx) => work(trx)),
});

const postgresStore = (db: Db): Store => ({
  ...POSTGRES_LOCKS,
  remote: true,
  alone: (work) => work(db.kysely),
});

const stores = new WeakMap<Db, Store>();

/** The store of a database. */
export function storeOf(db: Db): Store {
  let store = stores.get(db);
  if (!store) {
    store = byDialect(db, { sqlite: sqliteStore, postgres: postgresStore })(db);
    stores.set(db, store);
  }
  return store;
}

/**
 * The locking clauses for code that is handed only a Kysely or a transaction (the inventory's moves,
 * called inside other modules' transactions), told by its adapter.
 */
export function locksOf(k: Kysely<Database>): Locks {
  const db = { dialect: k.getExecutor().adapter instanceof SqliteAdapter ? 'sqlite' : 'postgres' } as const;
  return byDialect(db, { sqlite: SQLITE_LOCKS, postgres: POSTGRES_LOCKS });
}

/**
 * The implementation for the database's dialect, out of one for each: where a whole strategy differs
 * (a purchase as one Postgres statement, or as a group of SQLite writes), each is written out in full
 * and chosen here, once, rather than branching inside.
 */
export function byDialect<T>(db: Pick<Db, 'dialect'>, implementations: Record<Dialect, T>): T {
  return implementations[db.dialect];
}
