import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Stripe's side of each payment and refund (issue 16): its balance transaction, the fee it kept, the
// net it pays out, in the settlement currency at the exchange rate it used. Read after the fact by a
// job (the balance transaction exists once the charge has succeeded); null until then, and for
// box-office and free orders, which have none.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['orders', 'refunds']) {
    await db.schema.alterTable(table).addColumn('balance_transaction_id', 'text').execute();
    await db.schema.alterTable(table).addColumn('stripe_fee', 'integer').execute();
    await db.schema.alterTable(table).addColumn('stripe_net', 'integer').execute();
    await db.schema.alterTable(table).addColumn('settlement_currency', 'text').execute();
    await db.schema.alterTable(table).addColumn('exchange_rate', 'double precision').execute();
  }
  // What the job still has to read: small (a moment's Stripe payments), however many orders there are.
  await db.schema
    .createIndex('orders_fee_pending_idx')
    .on('orders')
    .column('paid_at')
    .where(sql.ref('balance_transaction_id'), 'is', null)
    .where(sql.ref('payment_intent_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('refunds_fee_pending_idx')
    .on('refunds')
    .column('created_at')
    .where(sql.ref('balance_transaction_id'), 'is', null)
    .where(sql.ref('provider'), '=', 'stripe')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('refunds_fee_pending_idx').execute();
  await db.schema.dropIndex('orders_fee_pending_idx').execute();
  for (const table of ['orders', 'refunds'])
    for (const column of [
      'exchange_rate',
      'settlement_currency',
      'stripe_net',
      'stripe_fee',
      'balance_transaction_id',
    ])
      await db.schema.alterTable(table).dropColumn(column).execute();
}
