import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// The Stripe jobs (issue 16) without head-of-line blocking, and their lookups indexed.
//
// - The fees job (payments/fees.ts) took the oldest payments and refunds still without a balance
//   transaction; fifty that Stripe kept failing (a charge with no balance transaction) starved every newer
//   one. Each now counts its tries and waits before the next (`fee_attempts`, `fee_next_try_at`: null is
//   due now), and is given up after 21 tries (about three days). The pending-fee partial indexes of 0029
//   are replaced by ones that also leave out what was given up, so they stay small however many pile up.
// - The payouts job (payments/payouts.ts) likewise (`lines_attempts`, `lines_next_try_at`), and it skips
//   manual payouts, whose transactions Stripe will not list by payout (`automatic`; 1 for the payouts
//   already here: they were all tried until now).
// - Linking a payout's transactions looks orders and refunds up by balance transaction, and refunds by
//   Stripe's refund id: none of these had an index (orders.payment_intent_id has had one since 0005).
//
// 21 is the fees and payouts jobs' GIVE_UP (payments/fees.ts), written out: the partial indexes' predicate
// must be the literal the queries use, or the planners will not pick them.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['orders', 'refunds']) {
    await db.schema
      .alterTable(table)
      .addColumn('fee_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable(table).addColumn('fee_next_try_at', 'text').execute();
  }
  await db.schema
    .alterTable('payouts')
    .addColumn('lines_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('payouts').addColumn('lines_next_try_at', 'text').execute();
  await db.schema
    .alterTable('payouts')
    .addColumn('automatic', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();

  await db.schema.dropIndex('orders_fee_pending_idx').execute();
  await db.schema.dropIndex('refunds_fee_pending_idx').execute();
  // Oldest first, the next try beside it: the job's filter on it is read from the index.
  await db.schema
    .createIndex('orders_fee_due_idx')
    .on('orders')
    .columns(['paid_at', 'fee_next_try_at'])
    .where(sql.ref('balance_transaction_id'), 'is', null)
    .where(sql.ref('payment_intent_id'), 'is not', null)
    .where(sql.ref('fee_attempts'), '<', sql.lit(21))
    .execute();
  await db.schema
    .createIndex('refunds_fee_due_idx')
    .on('refunds')
    .columns(['created_at', 'fee_next_try_at'])
    .where(sql.ref('balance_transaction_id'), 'is', null)
    .where(sql.ref('provider'), '=', sql.lit('stripe'))
    .where(sql.ref('fee_attempts'), '<', sql.lit(21))
    .execute();
  await db.schema
    .createIndex('payouts_lines_due_idx')
    .on('payouts')
    .column('arrival_date')
    .where(sql.ref('lines_loaded_at'), 'is', null)
    .execute();

  // Partial: most orders (box office, free) and refunds (manual) never have these. Left out, they do not
  // weigh on the index, and the index does not tempt a planner to find the fees job's `is null` rows
  // through it (the pending-fee indexes above are for that); a lookup by value (= or in) implies not null.
  for (const [table, column, index] of [
    ['orders', 'balance_transaction_id', 'orders_balance_txn_idx'],
    ['refunds', 'balance_transaction_id', 'refunds_balance_txn_idx'],
    ['refunds', 'provider_ref', 'refunds_provider_ref_idx'],
  ] as const)
    await db.schema
      .createIndex(index)
      .on(table)
      .column(column)
      .where(sql.ref(column), 'is not', null)
      .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  for (const index of [
    'refunds_provider_ref_idx',
    'refunds_balance_txn_idx',
    'orders_balance_txn_idx',
    'payouts_lines_due_idx',
    'refunds_fee_due_idx',
    'orders_fee_due_idx',
  ])
    await db.schema.dropIndex(index).execute();
  // 0029's, as it made them.
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
  for (const column of ['automatic', 'lines_next_try_at', 'lines_attempts'])
    await db.schema.alterTable('payouts').dropColumn(column).execute();
  for (const table of ['refunds', 'orders'])
    for (const column of ['fee_next_try_at', 'fee_attempts'])
      await db.schema.alterTable(table).dropColumn(column).execute();
}
