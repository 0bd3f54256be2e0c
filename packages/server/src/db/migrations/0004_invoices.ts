import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  // What the seller block of an invoice says. All optional: an organization without them still gets
  // invoices, in its display name.
  for (const column of [
    'legal_name',
    'address_line1',
    'address_line2',
    'city',
    'postcode',
    'country',
    'vat_id',
  ])
    await db.schema.alterTable('organizations').addColumn(column, 'text').execute();
  await db.schema
    .alterTable('organizations')
    .addColumn('invoice_prefix', 'text', (c) => c.notNull().defaultTo('INV'))
    .execute();

  // Basis points (1900 = 19 %); prices include it. Order items keep the rate they were sold at.
  await db.schema
    .alterTable('ticket_types')
    .addColumn('tax_rate', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('order_items')
    .addColumn('tax_rate', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  // The last number handed out per organization, series and year. Taken by an increment in the
  // transaction that issues the document, so a rollback gives the number back: no gaps.
  await db.schema
    .createTable('invoice_sequences')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('series', 'text', (c) => c.notNull())
    .addColumn('year', 'integer', (c) => c.notNull())
    .addColumn('last_number', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('invoice_sequences_pk', ['org_id', 'series', 'year'])
    .execute();

  await db.schema
    .createTable('invoices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('number', 'text', (c) => c.notNull())
    .addColumn('year', 'integer', (c) => c.notNull())
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id'))
    .addColumn('refund_id', 'text', (c) => c.references('refunds.id'))
    .addColumn('invoice_id', 'text', (c) => c.references('invoices.id'))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('net_amount', 'integer', (c) => c.notNull())
    .addColumn('tax_amount', 'integer', (c) => c.notNull())
    .addColumn('gross_amount', 'integer', (c) => c.notNull())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('invoices_number_key', ['org_id', 'number'])
    .addUniqueConstraint('invoices_sequence_key', ['org_id', 'kind', 'year', 'sequence'])
    .execute();
  // One invoice per order, one credit note per refund.
  await db.schema
    .createIndex('invoices_order_key')
    .on('invoices')
    .column('order_id')
    .unique()
    .where(sql.ref('kind'), '=', 'invoice')
    .execute();
  await db.schema.createIndex('invoices_refund_key').on('invoices').column('refund_id').unique().execute();
  await db.schema.createIndex('invoices_order_idx').on('invoices').columns(['order_id', 'kind']).execute();

  // A copy of the order's invoice number, written with it, so an order reads it without a join.
  await db.schema.alterTable('orders').addColumn('invoice_number', 'text').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').dropColumn('invoice_number').execute();
  await db.schema.dropTable('invoices').execute();
  await db.schema.dropTable('invoice_sequences').execute();
  await db.schema.alterTable('order_items').dropColumn('tax_rate').execute();
  await db.schema.alterTable('ticket_types').dropColumn('tax_rate').execute();
  for (const column of [
    'invoice_prefix',
    'vat_id',
    'country',
    'postcode',
    'city',
    'address_line2',
    'address_line1',
    'legal_name',
  ])
    await db.schema.alterTable('organizations').dropColumn(column).execute();
}
