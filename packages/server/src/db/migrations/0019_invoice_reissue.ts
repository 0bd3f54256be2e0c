import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Re-issuing an invoice: the old one is cancelled by a credit note (refund_id null, invoice_id the old
// invoice) and a new invoice is issued for the same order. `cancelled_by` is that credit note; an
// order has at most one invoice not cancelled, its current one (so the unique index moves to those).
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('invoices')
    .addColumn('cancelled_by', 'text', (c) => c.references('invoices.id'))
    .execute();
  await db.schema.dropIndex('invoices_order_key').execute();
  await db.schema
    .createIndex('invoices_order_key')
    .on('invoices')
    .column('order_id')
    .unique()
    .where(sql<boolean>`kind = 'invoice' and cancelled_by is null`)
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('invoices_order_key').execute();
  await db.schema
    .createIndex('invoices_order_key')
    .on('invoices')
    .column('order_id')
    .unique()
    .where(sql.ref('kind'), '=', 'invoice')
    .execute();
  await db.schema.alterTable('invoices').dropColumn('cancelled_by').execute();
}
