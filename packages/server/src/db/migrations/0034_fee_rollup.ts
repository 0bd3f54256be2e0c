import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Stripe's fees in the analytics (issue 16): an hourly rollup like 0023's, kept by triggers when the fees
// job records a payment's or a refund's balance transaction (the fee comes a moment after the payment,
// so an update, never an insert, brings it). Per organization, hour (a payment's: when it was paid; a
// refund's: when it was made) and the order's currency — the fee in the settlement currency converted
// back at the payment's own exchange rate when the two differ, so it sits beside the gross it was taken
// from. `payments` counts the payments whose fee is in: the analytics tell a bucket whose fees are all
// known from one still waiting for some.

const PAID = "('paid', 'partially_refunded', 'refunded')";
const hour = (col: string) => `substr(${col}, 1, 13) || ':00:00.000Z'`;
/** The fee in the order's currency (Stripe's exchange_rate: settlement units per presentment unit). */
const feeIn = (t: string, o: string) => `case
    when ${t}.settlement_currency is null or lower(${t}.settlement_currency) = lower(${o}.currency)
      or ${t}.exchange_rate is null or ${t}.exchange_rate = 0 then ${t}.stripe_fee
    else cast(round(${t}.stripe_fee / ${t}.exchange_rate) as integer) end`;

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  await db.schema
    .createTable('fees_hourly')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('hour', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('payments', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('fees', 'bigint', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('fees_hourly_pk', ['org_id', 'hour', 'currency'])
    .execute();
  const upsert = `on conflict (org_id, hour, currency) do update set
      payments = fees_hourly.payments + excluded.payments, fees = fees_hourly.fees + excluded.fees;`;
  const payment = (o: string, sign: 1 | -1) => `
    insert into fees_hourly (org_id, hour, currency, payments, fees)
    select ${o}.org_id, ${hour(`${o}.paid_at`)}, ${o}.currency, ${sign}, ${sign} * (${feeIn(o, o)})
    where ${o}.stripe_fee is not null and ${o}.status in ${PAID} and ${o}.paid_at is not null ${upsert}`;
  const refund = (r: string, sign: 1 | -1) => `
    insert into fees_hourly (org_id, hour, currency, payments, fees)
    select ${r}.org_id, ${hour(`${r}.created_at`)}, o.currency, 0, ${sign} * (${feeIn(r, 'o')})
    from orders o where o.id = ${r}.order_id and ${r}.stripe_fee is not null ${upsert}`;

  // What is already there.
  await sql
    .raw(`insert into fees_hourly (org_id, hour, currency, payments, fees)
    select org_id, hour, currency, sum(payments), sum(fees) from (
      select o.org_id, ${hour('o.paid_at')} as hour, o.currency, 1 as payments, ${feeIn('o', 'o')} as fees
      from orders o where o.stripe_fee is not null and o.status in ${PAID} and o.paid_at is not null
      union all
      select r.org_id, ${hour('r.created_at')} as hour, o.currency, 0 as payments, ${feeIn('r', 'o')} as fees
      from refunds r join orders o on o.id = r.order_id where r.stripe_fee is not null
    ) f group by org_id, hour, currency`)
    .execute(db);

  const changed = sqlite
    ? 'old.stripe_fee is not new.stripe_fee'
    : 'old.stripe_fee is distinct from new.stripe_fee';
  if (sqlite) {
    await sql
      .raw(`create trigger fees_hourly_order after update of stripe_fee on orders for each row when ${changed}
        begin ${payment('old', -1)} ${payment('new', 1)} end`)
      .execute(db);
    await sql
      .raw(`create trigger fees_hourly_refund after update of stripe_fee on refunds for each row when ${changed}
        begin ${refund('old', -1)} ${refund('new', 1)} end`)
      .execute(db);
    return;
  }
  await sql
    .raw(`create function fees_hourly_order() returns trigger language plpgsql as $$
    begin ${payment('old', -1)} ${payment('new', 1)} return null; end $$`)
    .execute(db);
  await sql
    .raw(`create function fees_hourly_refund() returns trigger language plpgsql as $$
    begin ${refund('old', -1)} ${refund('new', 1)} return null; end $$`)
    .execute(db);
  await sql
    .raw(`create trigger fees_hourly_order after update of stripe_fee on orders for each row
      when (${changed}) execute function fees_hourly_order()`)
    .execute(db);
  await sql
    .raw(`create trigger fees_hourly_refund after update of stripe_fee on refunds for each row
      when (${changed}) execute function fees_hourly_refund()`)
    .execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  await sql.raw(`drop trigger if exists fees_hourly_order${sqlite ? '' : ' on orders'}`).execute(db);
  await sql.raw(`drop trigger if exists fees_hourly_refund${sqlite ? '' : ' on refunds'}`).execute(db);
  if (!sqlite) {
    await sql.raw('drop function if exists fees_hourly_order()').execute(db);
    await sql.raw('drop function if exists fees_hourly_refund()').execute(db);
  }
  await db.schema.dropTable('fees_hourly').execute();
}
