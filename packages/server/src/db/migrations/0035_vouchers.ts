import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Discount codes (issue 17). A voucher's `uses` is its redemptions that stand, kept by a conditional
// write in the selling transaction (`uses < max_uses`), as the inventory's counters are: racing buyers
// redeem a code exactly as often as it may be. Each redemption is a row (one per order, unique), given
// back (`released`) when a hold expires or fails, or when the organizer refunds the order and says so.
// Orders keep the code and what it took off; their lines keep the price before it (`list_amount`),
// while `unit_amount` stays what was charged, so tax, refunds and reports need no change.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('vouchers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // Upper case: codes match without regard to case.
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.references('events.id').onDelete('cascade'))
    // JSON array of ticket type ids, or null: every type.
    .addColumn('ticket_type_ids', 'text')
    // percent (value in basis points), amount (per ticket or order), price (per ticket), or none.
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('value', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('per', 'text', (c) => c.notNull().defaultTo('ticket'))
    .addColumn('currency', 'text')
    .addColumn('unlocks_hidden', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('max_uses', 'integer')
    .addColumn('max_uses_per_email', 'integer')
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    // Tickets of its one ticket type held for its holders (counted in the type's and the event's
    // `held`, like an order's hold): reserved when made, `reserved_left` until sold, or given back.
    .addColumn('reserved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_left', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('valid_from', 'text')
    .addColumn('valid_until', 'text')
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('comment', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('vouchers_code_idx')
    .on('vouchers')
    .columns(['org_id', 'code'])
    .unique()
    .execute();
  await db.schema.createIndex('vouchers_org_idx').on('vouchers').columns(['org_id', 'id']).execute();
  // Reservations still standing, for the sweep that gives back those of expired codes.
  await db.schema
    .createIndex('vouchers_reserved_idx')
    .on('vouchers')
    .column('valid_until')
    .where(sql.ref('reserved_left'), '>', 0)
    .execute();
  await db.schema
    .createTable('voucher_redemptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('voucher_id', 'text', (c) => c.notNull().references('vouchers.id').onDelete('cascade'))
    .addColumn('order_id', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('discount', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    // Of the order's tickets, how many came out of the code's reservation.
    .addColumn('reserved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('released_at', 'text')
    .execute();
  await db.schema
    .createIndex('voucher_redemptions_voucher_idx')
    .on('voucher_redemptions')
    .columns(['voucher_id', 'email', 'status'])
    .execute();
  await db.schema.alterTable('orders').addColumn('voucher_id', 'text').execute();
  await db.schema.alterTable('orders').addColumn('voucher_code', 'text').execute();
  await db.schema.alterTable('orders').addColumn('discount_amount', 'integer').execute();
  await db.schema.alterTable('order_items').addColumn('list_amount', 'integer').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('order_items').dropColumn('list_amount').execute();
  for (const c of ['discount_amount', 'voucher_code', 'voucher_id'])
    await db.schema.alterTable('orders').dropColumn(c).execute();
  await db.schema.dropTable('voucher_redemptions').execute();
  await db.schema.dropTable('vouchers').execute();
}
