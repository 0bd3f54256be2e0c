import { z } from 'zod';
import { ID_PREFIXES, idOf, ListQuery, Timestamp } from './common.js';

export const PayoutId = z
  .string()
  .regex(/^po_\w{1,100}$/, 'must be a Stripe payout id (po_…)')
  .meta({ example: 'po_1QabcDEF' });

export const PayoutLine = z.object({
  balance_transaction: z.string().describe('txn_…'),
  type: z.string().describe('charge, payment, refund, adjustment, …'),
  order_id: z.string().nullable(),
  refund_id: z.string().nullable(),
  amount: z.number().int().describe('Minor units of the payout currency (negative: money out)'),
  fee: z.number().int(),
  net: z.number().int(),
  currency: z.string(),
});
export type PayoutLine = z.output<typeof PayoutLine>;

export const Payout = z
  .object({
    id: PayoutId,
    object: z.literal('payout'),
    status: z.string().describe('pending, in_transit, paid, failed or canceled, as Stripe says'),
    arrival_date: Timestamp.describe('When it reaches (reached) the bank'),
    currency: z.string(),
    amount: z.number().int().describe('The whole payout (it may hold other organizations’ money too)'),
    failure_code: z.string().nullable(),
    failure_message: z.string().nullable(),
    totals: z
      .object({
        gross: z.number().int(),
        fees: z.number().int(),
        net: z.number().int(),
        lines: z.number().int(),
      })
      .describe("This organization's part: its orders' and refunds' transactions in it"),
    lines_loaded: z.boolean().describe('Whether its transactions have been listed from Stripe yet'),
    lines: z.array(PayoutLine).optional().describe('Its transactions of this organization (one payout)'),
    created_at: Timestamp,
  })
  .meta({ id: 'Payout' });
export type Payout = z.output<typeof Payout>;

export const PayoutListQuery = ListQuery.extend({
  from: z.iso.date().optional().describe('Arriving on or after this day (UTC)'),
  to: z.iso.date().optional().describe('Arriving before this day (UTC)'),
});
export type PayoutListQuery = z.input<typeof PayoutListQuery>;

export const RECONCILIATION_KINDS = [
  'charge_without_order',
  'order_without_charge',
  'amount_mismatch',
  'currency_mismatch',
  'refund_not_recorded',
  'refund_not_in_stripe',
  'disputed',
] as const;

export const ReconciliationLine = z.object({
  kind: z.enum(RECONCILIATION_KINDS),
  order_id: z.string().nullable(),
  refund_id: z.string().nullable(),
  stripe_id: z.string().nullable().describe('The charge (ch_…), refund (re_…) or dispute at Stripe'),
  amount: z.number().int().nullable().describe("Stripe's amount, minor units"),
  currency: z.string().nullable(),
  expected_amount: z.number().int().nullable().describe('What tickets recorded'),
  expected_currency: z.string().nullable(),
  detail: z.string(),
});
export type ReconciliationLine = z.output<typeof ReconciliationLine>;

export const ReconciliationId = idOf(ID_PREFIXES.reconciliation);

export const Reconciliation = z
  .object({
    id: ReconciliationId,
    object: z.literal('reconciliation'),
    from: z.iso.date(),
    to: z.iso.date(),
    matched: z.number().int().describe('Payments and refunds found on both sides, alike'),
    mismatches: z.number().int(),
    lines: z.array(ReconciliationLine).describe('One per mismatch'),
    created_at: Timestamp,
  })
  .meta({ id: 'Reconciliation' });
export type Reconciliation = z.output<typeof Reconciliation>;

export const ReconciliationInput = z
  .strictObject({
    from: z.iso.date().describe('First day (UTC)'),
    to: z.iso.date().describe('Last day (UTC), included'),
  })
  .refine((v) => v.from <= v.to, { path: ['to'], message: 'must not be before from' });
export type ReconciliationInput = z.input<typeof ReconciliationInput>;
