// saleTransaction: a sale transaction Postgres fails to break a deadlock is run again (see database.ts).
// Two transactions take two rows in opposite orders, each waiting for the other to hold its first row
// before it asks for its second: a deadlock every time, which Postgres breaks by failing one of them.
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Db, openDatabase, saleTransaction } from '../src/db/database.js';
import type { Database } from '../src/db/schema.js';
import { createTestDatabase, describeOnPostgres, type TestDatabase } from './harness.js';

describeOnPostgres('postgres: sale transactions that meet in a deadlock', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    db = openDatabase(database.url, { poolSize: 4 });
    await sql`create table counters (id integer primary key, n integer not null)`.execute(db.kysely);
  });

  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  /** Two works that take rows 1 and 2 in opposite orders, meeting after their first row the first time. */
  function crossing() {
    const attempts = { a: 0, b: 0 };
    let arrived = 0;
    let release!: () => void;
    const bothHoldOne = new Promise<void>((r) => {
      release = r;
    });
    const meet = async () => {
      if (++arrived === 2) release();
      await bothHoldOne;
    };
    const bump = (trx: Transaction<Database>, id: number) =>
      sql`update counters set n = n + 1 where id = ${id}`.execute(trx);
    const work = (name: 'a' | 'b', first: number, second: number) => async (trx: Transaction<Database>) => {
      attempts[name]++;
      await bump(trx, first);
      if (attempts[name] === 1) await meet();
      await bump(trx, second);
    };
    return { attempts, a: work('a', 1, 2), b: work('b', 2, 1) };
  }

  async function reset() {
    await sql`delete from counters`.execute(db.kysely);
    await sql`insert into counters (id, n) values (1, 0), (2, 0)`.execute(db.kysely);
  }

  const counters = async () =>
    (await sql<{ n: number }>`select n from counters order by id`.execute(db.kysely)).rows.map((r) => r.n);

  it('a plain transaction loses the deadlock (40P01): what saleTransaction is for', async () => {
    await reset();
    const { a, b } = crossing();
    const outcomes = await Promise.allSettled([
      db.kysely.transaction().execute(a),
      db.kysely.transaction().execute(b),
    ]);
    const failed = outcomes.filter((o) => o.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(((failed[0] as PromiseRejectedResult).reason as { code: string }).code).toBe('40P01');
    expect(await counters()).toEqual([1, 1]);
  }, 20_000);

  it('saleTransaction runs the one Postgres failed again: both happen, each once', async () => {
    await reset();
    const { attempts, a, b } = crossing();
    await Promise.all([saleTransaction(db, a), saleTransaction(db, b)]);
    expect(attempts.a + attempts.b).toBe(3);
    expect(await counters()).toEqual([2, 2]);
  }, 20_000);

  it('sets the safety nets on every connection: a lock wait times out, an idle transaction ends', async () => {
    const shown = await sql<{ lock_timeout: string; idle: string }>`
      select current_setting('lock_timeout') as lock_timeout,
        current_setting('idle_in_transaction_session_timeout') as idle`.execute(db.kysely);
    expect(shown.rows[0]).toEqual({ lock_timeout: '10s', idle: '1min' });
  });

  it('a wait for a lock nobody lets go becomes an error (55P03), and saleTransaction tries again', async () => {
    await reset();
    const quick = openDatabase(database.url, { poolSize: 2, lockTimeoutMs: 200 });
    try {
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      let held!: () => void;
      const holding = new Promise<void>((r) => {
        held = r;
      });
      // Another session holds row 1 for 700 ms.
      const holder = db.kysely.transaction().execute(async (trx) => {
        await sql`update counters set n = n + 10 where id = 1`.execute(trx);
        held();
        await released;
      });
      await holding;
      const started = Date.now();
      const plain = await quick.kysely
        .transaction()
        .execute((trx) => sql`update counters set n = n + 1 where id = 1`.execute(trx))
        .catch((err: { code?: string }) => err);
      expect((plain as { code?: string }).code).toBe('55P03');
      expect(Date.now() - started).toBeLessThan(5_000);
      setTimeout(release, 500);
      let attempts = 0;
      await saleTransaction(quick, async (trx) => {
        attempts++;
        await sql`update counters set n = n + 1 where id = 1`.execute(trx);
      });
      await holder;
      expect(attempts).toBeGreaterThan(1);
      expect(await counters()).toEqual([11, 0]);
    } finally {
      await quick.close();
    }
  }, 20_000);

  it('a transaction left idle too long is ended by Postgres: it fails, the process and the pool go on', async () => {
    await reset();
    const quick = openDatabase(database.url, { poolSize: 1, idleInTransactionMs: 300 });
    try {
      const stuck = await quick.kysely
        .transaction()
        .execute(async (trx) => {
          await sql`update counters set n = n + 1 where id = 1`.execute(trx);
          // Its code awaits something else, holding the row: Postgres ends the session.
          await new Promise((r) => setTimeout(r, 1_000));
          await sql`update counters set n = n + 1 where id = 2`.execute(trx);
        })
        .catch((err: Error) => err);
      expect(stuck).toBeInstanceOf(Error);
      // Nothing of it stayed, the row it held is free, and the pool (of one) serves the next query.
      expect(await counters()).toEqual([0, 0]);
      await sql`update counters set n = n + 5 where id = 1`.execute(quick.kysely);
      expect(await counters()).toEqual([5, 0]);
    } finally {
      await quick.close();
    }
  }, 20_000);
});
