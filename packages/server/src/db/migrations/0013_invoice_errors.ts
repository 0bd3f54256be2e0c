import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Why a paid order's invoice could not be issued (its last attempt's error), until it is: the failure is
// kept and listed (GET /api/invoices/failed, `tickets invoices failed`) instead of swallowed, while the
// sweeper retries it. Partial index: only the few failed orders are in it.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('invoice_error', 'text').execute();
  await db.schema
    .createIndex('orders_invoice_error_idx')
    .on('orders')
    .columns(['org_id', 'id'])
    .where(sql.ref('invoice_error'), 'is not', null)
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('orders_invoice_error_idx').execute();
  await db.schema.alterTable('orders').dropColumn('invoice_error').execute();
}
