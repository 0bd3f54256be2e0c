import { REPORT_COLUMNS } from '@tickets/sdk';
import { type Expression, type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { Database } from '../../db/schema.js';
import { Amount, type Cell, localTime } from './cells.js';
import type { Report, ReportScope } from './report.js';

const text = (value: string) => sql<string>`${sql.lit(value)}`;
const noText = sql<string | null>`cast(null as text)`;
const minus = (e: Expression<number | null>) => sql<number | null>`0 - ${e}`;

/**
 * The net part of an order's lines, each rounded half up as its invoice line is (netOf in
 * invoices/documents.ts): floor((gross × 20000 + d) / 2d) with d = 10000 + rate, in integers.
 */
const orderNet = sql<
  number | null
>`(select sum((cast(oi.unit_amount as bigint) * oi.quantity * 20000 + 10000 + oi.tax_rate) / (2 * (10000 + oi.tax_rate))) from order_items oi where oi.order_id = o.id)`;

/**
 * One row per money movement, oldest first: payments (money in, when an order was paid), refunds
 * (money out; their status says whether it has gone), and the documents an accountant books —
 * invoices and credit notes with their numbers. Money in is positive, money out and credit negative.
 * Stripe's fees are rows of their own (type `fee`), in the settlement currency, once read.
 */
export function revenueReport(k: Kysely<Database>, scope: ReportScope): Report {
  // biome-ignore lint/suspicious/noExplicitAny: each branch of the union has its own tables
  const within = <Q extends SelectQueryBuilder<any, any, any>>(q: Q, date: string): Q =>
    q
      .where('o.org_id', '=', scope.orgId)
      .$if(scope.event !== undefined, (b) => b.where('o.event_id', '=', scope.event!))
      .$if(scope.from !== undefined, (b) => b.where(date, '>=', scope.from!))
      .$if(scope.to !== undefined, (b) => b.where(date, '<', scope.to!)) as Q;

  const payments = within(
    k
      .selectFrom('orders as o')
      .innerJoin('events as e', 'e.id', 'o.event_id')
      .select([
        'o.paid_at as date_utc',
        sql<number>`1`.as('rank'),
        'o.id as seq',
        text('payment').as('type'),
        text('succeeded').as('status'),
        'o.invoice_number as document_number',
        noText.as('related_document'),
        'o.id as order_id',
        noText.as('refund_id'),
        'o.event_id',
        'e.name as event_name',
        'e.timezone',
        'o.buyer_name',
        'o.buyer_email',
        'o.payment_method as method',
        'o.currency',
        orderNet.as('net'),
        sql<number | null>`o.total_amount - ${orderNet}`.as('tax'),
        sql.ref<number | null>('o.total_amount').as('gross'),
      ])
      .where('o.paid_at', 'is not', null)
      .where('o.total_amount', '>', 0),
    'o.paid_at',
  );

  const refunds = within(
    k
      .selectFrom('refunds as r')
      .innerJoin('orders as o', 'o.id', 'r.order_id')
      .innerJoin('events as e', 'e.id', 'o.event_id')
      .leftJoin('invoices as cn', 'cn.refund_id', 'r.id')
      .select([
        'r.created_at as date_utc',
        sql<number>`3`.as('rank'),
        'r.id as seq',
        text('refund').as('type'),
        'r.status',
        'cn.number as document_number',
        'o.invoice_number as related_document',
        'o.id as order_id',
        'r.id as refund_id',
        'o.event_id',
        'e.name as event_name',
        'e.timezone',
        'o.buyer_name',
        'o.buyer_email',
        'r.provider as method',
        'r.currency',
        minus(sql.ref('cn.net_amount')).as('net'),
        minus(sql.ref('cn.tax_amount')).as('tax'),
        minus(sql.ref('r.amount')).as('gross'),
      ]),
    'r.created_at',
  );

  const documents = (kind: 'invoice' | 'credit_note') =>
    within(
      k
        .selectFrom('invoices as i')
        .innerJoin('orders as o', 'o.id', 'i.order_id')
        .innerJoin('events as e', 'e.id', 'o.event_id')
        // An invoice's: the credit note that cancelled it; a credit note's: the invoice it corrects.
        .leftJoin('invoices as other', (j) =>
          kind === 'invoice'
            ? j.onRef('other.id', '=', 'i.cancelled_by')
            : j.onRef('other.id', '=', 'i.invoice_id'),
        )
        .select([
          'i.issued_at as date_utc',
          sql<number>`${sql.lit(kind === 'invoice' ? 2 : 4)}`.as('rank'),
          'i.id as seq',
          text(kind).as('type'),
          (kind === 'invoice'
            ? sql<string>`case when i.cancelled_by is null then 'issued' else 'cancelled' end`
            : text('issued')
          ).as('status'),
          'i.number as document_number',
          'other.number as related_document',
          'o.id as order_id',
          'i.refund_id',
          'o.event_id',
          'e.name as event_name',
          'e.timezone',
          'o.buyer_name',
          'o.buyer_email',
          'o.payment_method as method',
          'i.currency',
          (kind === 'invoice' ? sql.ref<number>('i.net_amount') : minus(sql.ref('i.net_amount'))).as('net'),
          (kind === 'invoice' ? sql.ref<number>('i.tax_amount') : minus(sql.ref('i.tax_amount'))).as('tax'),
          (kind === 'invoice' ? sql.ref<number>('i.gross_amount') : minus(sql.ref('i.gross_amount'))).as(
            'gross',
          ),
        ])
        .where('i.kind', '=', kind),
      'i.issued_at',
    );

  // Stripe's fee of each payment (once read: payments/fees.ts), money out in the settlement currency,
  // dated with the payment. A refund's fee is shown when it is not zero: Stripe reports the part of the
  // payment's fee it gives back with a refund as a negative fee, which (0 − fee) makes money in here,
  // so it takes that much off the fees' total; a positive one (a fee kept on a refund) is money out.
  // (A union matches columns by position: these are in the order of the payments' above.)
  const feeColumns = (table: 'o' | 'r', rank: number) =>
    [
      sql.ref<string>(`${table === 'o' ? 'o.paid_at' : 'r.created_at'}`).as('date_utc'),
      sql<number>`${sql.lit(rank)}`.as('rank'),
      sql<string>`${sql.ref(`${table}.id`)} || ':fee'`.as('seq'),
      text('fee').as('type'),
      text('succeeded').as('status'),
      noText.as('document_number'),
      sql.ref<string | null>(`${table}.balance_transaction_id`).as('related_document'),
      'o.id as order_id',
      (table === 'r' ? sql.ref<string | null>('r.id') : noText).as('refund_id'),
      'o.event_id',
      'e.name as event_name',
      'e.timezone',
      'o.buyer_name',
      'o.buyer_email',
      sql<'stripe'>`'stripe'`.as('method'),
      sql<string>`upper(${sql.ref(`${table}.settlement_currency`)})`.as('currency'),
      minus(sql.ref(`${table}.stripe_fee`)).as('net'),
      sql<number | null>`cast(null as integer)`.as('tax'),
      minus(sql.ref(`${table}.stripe_fee`)).as('gross'),
    ] as const;
  const paymentFees = within(
    k
      .selectFrom('orders as o')
      .innerJoin('events as e', 'e.id', 'o.event_id')
      .select(feeColumns('o', 1))
      .where('o.stripe_fee', 'is not', null),
    'o.paid_at',
  );
  const refundFees = within(
    k
      .selectFrom('refunds as r')
      .innerJoin('orders as o', 'o.id', 'r.order_id')
      .innerJoin('events as e', 'e.id', 'o.event_id')
      .select(feeColumns('r', 3))
      .where('r.stripe_fee', '<>', 0),
    'r.created_at',
  );

  const movements = payments
    .unionAll(paymentFees)
    .unionAll(documents('invoice'))
    .unionAll(refunds)
    .unionAll(refundFees)
    .unionAll(documents('credit_note'));
  const query = k
    .selectFrom(movements.as('m'))
    .selectAll('m')
    .$if(scope.status !== undefined, (q) => q.where('m.status', '=', scope.status!))
    .orderBy('m.date_utc')
    .orderBy('m.rank')
    .orderBy('m.seq');
  type Row = Awaited<ReturnType<typeof query.executeTakeFirstOrThrow>>;

  const money = (amount: number | null, currency: string) =>
    amount === null ? null : new Amount(Number(amount), currency);
  return {
    columns: REPORT_COLUMNS.revenue,
    query: query.compile(),
    toCells: (r: Row): Cell[] => [
      r.date_utc,
      localTime(r.date_utc, r.timezone),
      r.timezone,
      r.type,
      r.status,
      r.document_number,
      r.related_document,
      r.order_id,
      r.refund_id,
      r.event_id,
      r.event_name,
      r.buyer_name,
      r.buyer_email,
      r.method,
      r.currency,
      money(r.net, r.currency),
      money(r.tax, r.currency),
      money(r.gross, r.currency),
    ],
  };
}
