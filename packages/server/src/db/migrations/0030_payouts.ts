import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Stripe payouts (issue 16): each payout Stripe reports (payout.paid / payout.failed / payout.updated)
// and, once listed from Stripe, the balance transactions it paid out — each linked to the order or the
// refund it came from (so to its organization: one Stripe account may serve several organizations).
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('payouts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('arrival_date', 'text', (c) => c.notNull())
    .addColumn('failure_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // When its balance transactions were listed and linked (null: still to do, by a job).
    .addColumn('lines_loaded_at', 'text')
    .execute();
  await db.schema
    .createTable('payout_lines')
    .addColumn('payout_id', 'text', (c) => c.notNull().references('payouts.id').onDelete('cascade'))
    .addColumn('balance_transaction_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('source', 'text')
    .addColumn('org_id', 'text')
    .addColumn('order_id', 'text')
    .addColumn('refund_id', 'text')
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('fee', 'bigint', (c) => c.notNull())
    .addColumn('net', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('payout_lines_pk', ['payout_id', 'balance_transaction_id'])
    .execute();
  await db.schema
    .createIndex('payout_lines_org_idx')
    .on('payout_lines')
    .columns(['org_id', 'payout_id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('payout_lines').execute();
  await db.schema.dropTable('payouts').execute();
}
