import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
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
  /** Rows several workers take work from: locked, skipping rows another worker has locked. */
  forClaim<TB extends keyof Database, O>(
    q: SelectQueryBuilder<Database, TB, O>,
  ): SelectQueryBuilder<Database, TB, O>;
}

const sqliteStore = (db: Db): Store => ({
  remote: false,
  alone: (work) => groupedWrites(db)((trx) => work(trx)),
  forUpdate: (q) => q,
  forClaim: (q) => q,
});

const postgresStore = (db: Db): Store => ({
  remote: true,
  alone: (work) => work(db.kysely),
  forUpdate: (q) => q.forUpdate(),
  forClaim: (q) => q.forUpdate().skipLocked(),
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
 * The implementation for the database's dialect, out of one for each: where a whole strategy differs
 * (a purchase as one Postgres statement, or as a group of SQLite writes), each is written out in full
 * and chosen here, once, rather than branching inside.
 */
export function byDialect<T>(db: Pick<Db, 'dialect'>, implementations: Record<Dialect, T>): T {
  return implementations[db.dialect];
}
