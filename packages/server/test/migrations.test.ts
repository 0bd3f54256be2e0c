import { type Insertable, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, migrateToLatest, migrator, openDatabase, pendingMigrations } from '../src/db/database.js';
import type { CheckinsTable } from '../src/db/schema.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from './harness.js';

describe.each(DIALECTS)(
  '%s: 0009_lean_door keeps the door data and makes the conflict index partial',
  (dialect) => {
    let tdb: TestDatabase;
    let db: Db;
    const at = '2030-06-01T18:00:00.000Z';
    const scan = (id: string, extra: Partial<Insertable<CheckinsTable>> = {}): Insertable<CheckinsTable> => ({
      id,
      org_id: 'org_1',
      event_id: 'evt_1',
      list_id: 'cl_1',
      ticket_id: 'tkt_1',
      device_id: 'door-1',
      gate: null,
      direction: 'entry',
      result: 'admitted',
      offline: 0,
      scanned_at: at,
      created_at: at,
      scan_id: null,
      offline_result: null,
      conflict: 0,
      first_used: null,
      ...extra,
    });

    beforeAll(async () => {
      tdb = await createTestDatabase(dialect);
      db = openDatabase(tdb.url);
      const { error } = await migrator(db).migrateTo('0008_messaging');
      if (error) throw error;
      // Rows as 0008 left them, without their parents: this test is about the tables 0009 rebuilds.
      await db.kysely.connection().execute(async (c) => {
        await (dialect === 'sqlite'
          ? sql`pragma foreign_keys = off`
          : sql`set session_replication_role = replica`
        ).execute(c);
        await c
          .insertInto('ticket_presence')
          .values([
            {
              ticket_id: 'tkt_1',
              list_id: 'cl_1',
              inside: 1,
              first_entry_at: at,
              first_gate: 'North',
              first_device: 'door-1',
              last_change_at: at,
            },
            {
              ticket_id: 'tkt_2',
              list_id: 'cl_1',
              inside: 0,
              first_entry_at: at,
              first_gate: null,
              first_device: 'door-2',
              last_change_at: at,
            },
          ])
          .execute();
        await c
          .insertInto('checkins')
          .values([
            scan('chk_1'),
            scan('chk_2', { offline: 1, scan_id: 'scan_a', result: 'already_used', conflict: 1 }),
            scan('chk_3'),
          ])
          .execute();
        await (dialect === 'sqlite'
          ? sql`pragma foreign_keys = on`
          : sql`set session_replication_role = default`
        ).execute(c);
      });
      // The orphans would fail the copy's foreign-key checks on SQLite (real rows have their parents).
      if (dialect === 'sqlite') await sql`pragma foreign_keys = off`.execute(db.kysely);
      await migrateToLatest(db);
      if (dialect === 'sqlite') await sql`pragma foreign_keys = on`.execute(db.kysely);
    });
    afterAll(async () => {
      await db?.close();
      await tdb?.drop();
    });

    it('keeps every presence row and scan', async () => {
      const presence = await db.kysely
        .selectFrom('ticket_presence')
        .selectAll()
        .orderBy('ticket_id')
        .execute();
      expect(presence.map((p) => [p.ticket_id, p.inside, p.first_gate, p.first_device])).toEqual([
        ['tkt_1', 1, 'North', 'door-1'],
        ['tkt_2', 0, null, 'door-2'],
      ]);
      const scans = await db.kysely
        .selectFrom('checkins')
        .select(['id', 'scan_id', 'conflict'])
        .orderBy('id')
        .execute();
      expect(scans).toEqual([
        { id: 'chk_1', scan_id: null, conflict: 0 },
        { id: 'chk_2', scan_id: 'scan_a', conflict: 1 },
        { id: 'chk_3', scan_id: null, conflict: 0 },
      ]);
    });

    it('still admits a ticket once per list, and a device scan id once per organization', async () => {
      const again = db.kysely.insertInto('ticket_presence').values({
        ticket_id: 'tkt_1',
        list_id: 'cl_1',
        inside: 1,
        first_entry_at: at,
        first_gate: null,
        first_device: 'door-9',
        last_change_at: at,
      });
      await expect(again.execute()).rejects.toThrow();
      const claim = await db.kysely
        .insertInto('checkins')
        .values(scan('chk_4', { offline: 1, scan_id: 'scan_a' }))
        .onConflict((oc) => oc.columns(['org_id', 'scan_id']).doNothing())
        .executeTakeFirst();
      expect(Number(claim.numInsertedOrUpdatedRows ?? 0)).toBe(0);
    });

    it.runIf(dialect === 'sqlite')(
      'stores presence without rowids and finds conflicts through the partial index',
      async () => {
        const table = await sql<{
          sql: string;
        }>`select sql from sqlite_master where name = 'ticket_presence'`.execute(db.kysely);
        expect(table.rows[0]?.sql).toMatch(/without rowid/i);
        const plan = await sql<{ detail: string }>`explain query plan
      select * from checkins where org_id = 'org_1' and event_id = 'evt_1' and conflict = 1 order by id`.execute(
          db.kysely,
        );
        expect(plan.rows.map((r) => r.detail).join('\n')).toMatch(/checkins_conflict_idx/);
        const indexes = await sql<{ name: string; partial: number }>`pragma index_list('checkins')`.execute(
          db.kysely,
        );
        const partial = Object.fromEntries(indexes.rows.map((r) => [r.name, r.partial]));
        // The offline scan ids' unique index stays whole: code before 0009 names it in ON CONFLICT.
        expect(partial).toMatchObject({ checkins_scan_idx: 0, checkins_conflict_idx: 1 });
        expect(partial).not.toHaveProperty('checkins_ticket_idx');
      },
    );
  },
);

describe.each(DIALECTS)('%s: 0010_lean_outbox makes three outbox indexes partial, still used', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase(dialect);
    db = openDatabase(tdb.url);
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('indexes only the rows that have the column set', async () => {
    const names = ['outbox_ticket_idx', 'outbox_provider_idx', 'outbox_campaign_idx'];
    if (dialect === 'sqlite') {
      const { rows } = await sql<{ name: string; partial: number }>`pragma index_list('outbox')`.execute(
        db.kysely,
      );
      const partial = Object.fromEntries(rows.map((r) => [r.name, r.partial]));
      for (const name of names) expect(partial[name], name).toBe(1);
    } else {
      const { rows } = await sql<{ indexname: string; indexdef: string }>`
        select indexname, indexdef from pg_indexes where schemaname = current_schema() and tablename = 'outbox'`.execute(
        db.kysely,
      );
      const defs = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef]));
      for (const name of names) expect(defs[name], name).toMatch(/WHERE .* IS NOT NULL/);
    }
  });

  it.runIf(dialect === 'sqlite')('is chosen for a lookup by a bound value', async () => {
    for (const [column, index] of [
      ['ticket_id', 'outbox_ticket_idx'],
      ['provider_message_id', 'outbox_provider_idx'],
      ['campaign_id', 'outbox_campaign_idx'],
    ] as const) {
      const compiled = db.kysely.selectFrom('outbox').select('id').where(column, '=', 'x').compile();
      const plan = await db.kysely.executeQuery<{ detail: string }>({
        ...compiled,
        sql: `explain query plan ${compiled.sql}`,
      });
      expect(plan.rows.map((r) => r.detail).join('\n'), column).toContain(index);
    }
  });
});

// Kysely's Migrator runs SQLite migrations statement by statement unless told the database can roll
// back schema changes (openDatabase does): a migration failing half-way must leave nothing behind, so
// that the next start can run it again.
describe('sqlite: a migration that fails half-way leaves nothing behind', () => {
  it('rolls 0009 back whole when its copy fails, and runs it again once the cause is gone', async () => {
    const tdb = await createTestDatabase('sqlite');
    const db = openDatabase(tdb.url);
    try {
      const { error } = await migrator(db).migrateTo('0008_messaging');
      if (error) throw error;
      // A presence row whose ticket is missing: 0009's copy of the table fails its foreign-key check,
      // after the migration has already dropped one index and created another.
      await sql`pragma foreign_keys = off`.execute(db.kysely);
      await db.kysely
        .insertInto('ticket_presence')
        .values({
          ticket_id: 'tkt_gone',
          list_id: 'cl_gone',
          inside: 1,
          first_entry_at: '2030-06-01T18:00:00.000Z',
          first_gate: null,
          first_device: 'door-1',
          last_change_at: '2030-06-01T18:00:00.000Z',
        })
        .execute();
      await sql`pragma foreign_keys = on`.execute(db.kysely);
      await expect(migrateToLatest(db)).rejects.toThrow(/FOREIGN KEY/);
      const indexes = await sql<{ name: string }>`pragma index_list('checkins')`.execute(db.kysely);
      expect(indexes.rows.map((r) => r.name)).toContain('checkins_ticket_idx');
      const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(
        db.kysely,
      );
      expect(tables.rows.map((r) => r.name)).not.toContain('ticket_presence_lean');
      expect(await pendingMigrations(db)).toEqual([
        '0009_lean_door',
        '0010_lean_outbox',
        '0011_sale_constraints',
        '0012_event_cancellations',
        '0013_invoice_errors',
        '0014_inventory_slots',
        '0015_refund_listing',
        '0016_password_resets',
        '0017_publishable_keys',
        '0018_default_tax_rate',
        '0019_invoice_reissue',
        '0020_org_contact',
        '0021_order_attribution',
        '0022_analytics_indexes',
        '0023_sales_rollup',
        '0024_event_analytics_indexes',
        '0025_audit_log',
        '0026_feedback',
        '0027_media',
        '0028_webhook_endpoints',
        '0029_payment_fees',
        '0030_payouts',
        '0031_reconciliations',
        '0032_google_analytics',
        '0034_fee_rollup',
        '0035_vouchers',
        '0036_payment_jobs',
      ]);
      await db.kysely.deleteFrom('ticket_presence').where('ticket_id', '=', 'tkt_gone').execute();
      expect(await migrateToLatest(db)).toEqual([
        '0009_lean_door',
        '0010_lean_outbox',
        '0011_sale_constraints',
        '0012_event_cancellations',
        '0013_invoice_errors',
        '0014_inventory_slots',
        '0015_refund_listing',
        '0016_password_resets',
        '0017_publishable_keys',
        '0018_default_tax_rate',
        '0019_invoice_reissue',
        '0020_org_contact',
        '0021_order_attribution',
        '0022_analytics_indexes',
        '0023_sales_rollup',
        '0024_event_analytics_indexes',
        '0025_audit_log',
        '0026_feedback',
        '0027_media',
        '0028_webhook_endpoints',
        '0029_payment_fees',
        '0030_payouts',
        '0031_reconciliations',
        '0032_google_analytics',
        '0034_fee_rollup',
        '0035_vouchers',
        '0036_payment_jobs',
      ]);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});

describe.each(DIALECTS)('%s: 0011_sale_constraints', (dialect) => {
  const at = '2030-06-01T18:00:00.000Z';

  /** A database at 0010 holding one organization, event, type, paid order of two tickets. */
  async function at0010() {
    const tdb = await createTestDatabase(dialect);
    const db = openDatabase(tdb.url);
    const { error } = await migrator(db).migrateTo('0010_lean_outbox');
    if (error) throw error;
    const k = db.kysely;
    await sql`insert into organizations (id, name, created_at) values ('org_1', 'Org', ${at})`.execute(k);
    await sql`insert into events (id, org_id, name, slug, timezone, starts_at, ends_at, status, currency,
      capacity, transferable, sold, held, created_at, updated_at)
      values ('evt_1', 'org_1', 'E', 'e', 'UTC', ${at}, ${at}, 'published', 'EUR', 10, 1, 2, 0, ${at}, ${at})`.execute(
      k,
    );
    await sql`insert into ticket_types (id, org_id, event_id, name, price_amount, capacity, sold, held,
      min_per_order, hidden, sort_order, tax_rate, created_at, updated_at)
      values ('tt_1', 'org_1', 'evt_1', 'GA', 2500, 5, 2, 0, 1, 0, 0, 0, ${at}, ${at})`.execute(k);
    await sql`insert into orders (id, org_id, event_id, status, buyer_name, buyer_email, currency,
      total_amount, refunded_amount, ticket_count, payment_method, created_at, updated_at)
      values ('ord_1', 'org_1', 'evt_1', 'partially_refunded', 'B', 'b@example.com', 'EUR', 5000, 2500, 2,
      'manual', ${at}, ${at})`.execute(k);
    for (const [id, status, reason] of [
      ['tkt_1', 'void', 'refunded'],
      ['tkt_2', 'valid', null],
    ])
      await sql`insert into tickets (id, org_id, event_id, order_id, ticket_type_id, holder_name, status,
        void_reason, code_version, code, created_at, updated_at)
        values (${id}, 'org_1', 'evt_1', 'ord_1', 'tt_1', 'H', ${status}, ${reason}, 1, ${id}, ${at}, ${at})`.execute(
        k,
      );
    // tkt_1 was refunded with its seat kept off sale: `sold` still counts it.
    await sql`insert into refunds (id, org_id, order_id, ticket_id, amount, currency, status, provider,
      returned_inventory, created_at, updated_at)
      values ('ref_1', 'org_1', 'ord_1', 'tkt_1', 2500, 'EUR', 'succeeded', 'manual', 0, ${at}, ${at})`.execute(
      k,
    );
    return { tdb, db };
  }

  it('marks the seats refunds kept off sale, so sold still equals the tickets holding a seat', async () => {
    const { tdb, db } = await at0010();
    try {
      expect(await migrateToLatest(db)).toEqual([
        '0011_sale_constraints',
        '0012_event_cancellations',
        '0013_invoice_errors',
        '0014_inventory_slots',
        '0015_refund_listing',
        '0016_password_resets',
        '0017_publishable_keys',
        '0018_default_tax_rate',
        '0019_invoice_reissue',
        '0020_org_contact',
        '0021_order_attribution',
        '0022_analytics_indexes',
        '0023_sales_rollup',
        '0024_event_analytics_indexes',
        '0025_audit_log',
        '0026_feedback',
        '0027_media',
        '0028_webhook_endpoints',
        '0029_payment_fees',
        '0030_payouts',
        '0031_reconciliations',
        '0032_google_analytics',
        '0034_fee_rollup',
        '0035_vouchers',
        '0036_payment_jobs',
      ]);
      const tickets = await db.kysely
        .selectFrom('tickets')
        .select(['id', 'seat_kept'])
        .orderBy('id')
        .execute();
      expect(tickets).toEqual([
        { id: 'tkt_1', seat_kept: 1 },
        { id: 'tkt_2', seat_kept: 0 },
      ]);
      await expect(
        db.kysely.updateTable('ticket_types').set({ held: -1 }).where('id', '=', 'tt_1').execute(),
      ).rejects.toThrow(/ticket_types_inventory/);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });

  it('refuses to migrate data that already breaks a rule, and leaves the schema at 0010', async () => {
    const { tdb, db } = await at0010();
    try {
      await sql`update orders set refunded_amount = 6000 where id = 'ord_1'`.execute(db.kysely);
      // Postgres checks the existing rows when the constraint is added; SQLite's triggers guard writes
      // from now on, so there the broken row is left for the invariant check to find.
      if (dialect === 'postgres') {
        await expect(migrateToLatest(db)).rejects.toThrow(/orders_refunded/);
        expect(await pendingMigrations(db)).toEqual([
          '0011_sale_constraints',
          '0012_event_cancellations',
          '0013_invoice_errors',
          '0014_inventory_slots',
          '0015_refund_listing',
          '0016_password_resets',
          '0017_publishable_keys',
          '0018_default_tax_rate',
          '0019_invoice_reissue',
          '0020_org_contact',
          '0021_order_attribution',
          '0022_analytics_indexes',
          '0023_sales_rollup',
          '0024_event_analytics_indexes',
          '0025_audit_log',
          '0026_feedback',
          '0027_media',
          '0028_webhook_endpoints',
          '0029_payment_fees',
          '0030_payouts',
          '0031_reconciliations',
          '0032_google_analytics',
          '0034_fee_rollup',
          '0035_vouchers',
          '0036_payment_jobs',
        ]);
      } else {
        expect(await migrateToLatest(db)).toEqual([
          '0011_sale_constraints',
          '0012_event_cancellations',
          '0013_invoice_errors',
          '0014_inventory_slots',
          '0015_refund_listing',
          '0016_password_resets',
          '0017_publishable_keys',
          '0018_default_tax_rate',
          '0019_invoice_reissue',
          '0020_org_contact',
          '0021_order_attribution',
          '0022_analytics_indexes',
          '0023_sales_rollup',
          '0024_event_analytics_indexes',
          '0025_audit_log',
          '0026_feedback',
          '0027_media',
          '0028_webhook_endpoints',
          '0029_payment_fees',
          '0030_payouts',
          '0031_reconciliations',
          '0032_google_analytics',
          '0034_fee_rollup',
          '0035_vouchers',
          '0036_payment_jobs',
        ]);
        await expect(
          sql`update orders set refunded_amount = 6001 where id = 'ord_1'`.execute(db.kysely),
        ).rejects.toThrow(/orders_refunded/);
      }
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});
