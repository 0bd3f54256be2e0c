import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Reconciliations (issue 16): an organization's records compared with Stripe's balance transactions
// over a range of days; each mismatch a line, with its kind.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('reconciliations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('from_date', 'text', (c) => c.notNull())
    .addColumn('to_date', 'text', (c) => c.notNull())
    .addColumn('matched', 'integer', (c) => c.notNull())
    .addColumn('mismatches', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('reconciliations_org_idx')
    .on('reconciliations')
    .columns(['org_id', 'id'])
    .execute();
  // The nightly run (created by nobody) happens once per organization and day, however many servers run it.
  await db.schema
    .createIndex('reconciliations_nightly_idx')
    .unique()
    .on('reconciliations')
    .columns(['org_id', 'from_date'])
    .where(sql.ref('created_by'), 'is', null)
    .execute();
  await db.schema
    .createTable('reconciliation_lines')
    .addColumn('reconciliation_id', 'text', (c) =>
      c.notNull().references('reconciliations.id').onDelete('cascade'),
    )
    .addColumn('n', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('refund_id', 'text')
    .addColumn('stripe_id', 'text')
    .addColumn('amount', 'bigint')
    .addColumn('currency', 'text')
    .addColumn('expected_amount', 'bigint')
    .addColumn('expected_currency', 'text')
    .addColumn('detail', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('reconciliation_lines_pk', ['reconciliation_id', 'n'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reconciliation_lines').execute();
  await db.schema.dropTable('reconciliations').execute();
}
