import { z } from 'zod';
import {
  EventId,
  ID_PREFIXES,
  idOf,
  ListQuery,
  Money,
  TicketTypeId,
  Timestamp,
  TimestampInput,
} from './common.js';

export const VoucherId = idOf(ID_PREFIXES.voucher);

/** What a buyer types: letters, digits, - and _; matched without regard to case. */
export const VoucherCode = z
  .string()
  .trim()
  .min(3)
  .max(40)
  .regex(/^[A-Za-z0-9_-]+$/, 'may hold letters, digits, - and _ only')
  .transform((c) => c.toUpperCase())
  .meta({ example: 'JAZZ-7K2M9Q' });

/**
 * What a code does to the price: a percentage off each ticket, an amount off each ticket or off the
 * order (spread over its tickets), or a fixed price per ticket; never below zero. None: it only unlocks
 * hidden ticket types (or reserves nothing but counts uses).
 */
export const VoucherDiscount = z
  .union([
    z.strictObject({
      percent: z
        .number()
        .gt(0)
        .max(100, 'cannot be more than 100 %')
        .multipleOf(0.01)
        .describe('Off each ticket (12.5 = 12.5 %)'),
    }),
    z.strictObject({
      amount: Money.describe(
        'Off each ticket (per: ticket) or off the order (per: order), in the event’s currency',
      ),
      per: z.enum(['ticket', 'order']).default('ticket'),
    }),
    z.strictObject({ price: Money.describe('Each ticket costs this (or its own price, if lower)') }),
  ])
  .meta({ id: 'VoucherDiscount' });
export type VoucherDiscount = z.output<typeof VoucherDiscount>;

const VoucherFields = {
  event: EventId.nullable().optional().describe('Only for this event (null: any event of the organization)'),
  ticket_types: z
    .array(TicketTypeId)
    .max(100)
    .nullable()
    .optional()
    .describe('Only for these ticket types (null: every type of the event)'),
  discount: VoucherDiscount.nullable().optional().describe('null: no discount (the code only unlocks)'),
  unlocks_hidden: z
    .boolean()
    .optional()
    .describe('Buyers with the code may buy the hidden ticket types it is valid for (default true)'),
  max_uses: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .nullable()
    .optional()
    .describe('Orders, in all (null: no limit)'),
  max_uses_per_email: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .nullable()
    .optional()
    .describe('Orders per buyer e-mail (null: no limit)'),
  valid_from: TimestampInput.nullable().optional(),
  valid_until: TimestampInput.nullable().optional(),
  active: z.boolean().optional().describe('false: refused at checkout, kept for the books'),
  comment: z
    .string()
    .trim()
    .max(500)
    .nullable()
    .optional()
    .describe('For the organizer; never shown to buyers'),
};

function windowOk(v: { valid_from?: string | null; valid_until?: string | null }, ctx: z.RefinementCtx) {
  if (v.valid_from && v.valid_until && Date.parse(v.valid_until) <= Date.parse(v.valid_from))
    ctx.addIssue({ code: 'custom', path: ['valid_until'], message: 'must be after valid_from' });
}

export const VoucherCreateInput = z
  .strictObject({
    code: VoucherCode.optional().describe('One code, as given'),
    count: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('Or this many generated codes (8 characters from an alphabet without 0/O, 1/I/L)'),
    prefix: z
      .string()
      .trim()
      .max(20)
      .regex(/^[A-Za-z0-9]*$/, 'may hold letters and digits only')
      .transform((p) => p.toUpperCase())
      .optional()
      .describe('Generated codes start with it and a dash: JAZZ-7K2M9Q4R'),
    reserve: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe(
        'Hold this many tickets for the holders of each code (of its one ticket type), counted like a hold: nobody else can buy them. Given back when the code is deactivated, deleted, expires or is used up',
      ),
    ...VoucherFields,
  })
  .superRefine((v, ctx) => {
    if (v.reserve !== undefined && (!v.event || v.ticket_types?.length !== 1))
      ctx.addIssue({
        code: 'custom',
        path: ['reserve'],
        message: 'needs an event and exactly one of its ticket types (ticket_types)',
      });
    if ((v.code === undefined) === (v.count === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['code'],
        message: 'give either a code or a count of codes to generate',
      });
    if (v.prefix !== undefined && v.count === undefined)
      ctx.addIssue({ code: 'custom', path: ['prefix'], message: 'is for generated codes (count)' });
    windowOk(v, ctx);
  })
  .meta({ id: 'VoucherCreateInput' });
export type VoucherCreateInput = z.input<typeof VoucherCreateInput>;

export const VoucherUpdateInput = z
  .strictObject(VoucherFields)
  .superRefine(windowOk)
  .meta({ id: 'VoucherUpdateInput' });
export type VoucherUpdateInput = z.input<typeof VoucherUpdateInput>;

export const Voucher = z
  .object({
    id: VoucherId,
    object: z.literal('voucher'),
    code: z.string(),
    event_id: EventId.nullable(),
    ticket_type_ids: z.array(TicketTypeId).nullable(),
    discount: z
      .union([
        z.object({ percent: z.number() }),
        z.object({ amount: Money, per: z.enum(['ticket', 'order']) }),
        z.object({ price: Money }),
      ])
      .nullable(),
    unlocks_hidden: z.boolean(),
    max_uses: z.number().int().nullable(),
    max_uses_per_email: z.number().int().nullable(),
    uses: z.number().int().describe('Orders that redeemed it (a refund gives a use back only when asked)'),
    reserved: z.number().int().describe('Tickets held for its holders when it was made'),
    reserved_left: z.number().int().describe('Of those, still held (not sold, not given back)'),
    valid_from: Timestamp.nullable(),
    valid_until: Timestamp.nullable(),
    active: z.boolean(),
    comment: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Voucher' });
export type Voucher = z.output<typeof Voucher>;

export const VoucherCreated = z
  .object({ object: z.literal('list'), data: z.array(Voucher) })
  .describe('The codes made (one, or `count`)');
export type VoucherCreated = z.output<typeof VoucherCreated>;

export const VoucherListQuery = ListQuery.extend({
  event: EventId.optional(),
  active: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  code: z.string().trim().max(40).optional().describe('Codes starting with this (any case)'),
});

export const VoucherRedemption = z
  .object({
    id: idOf(ID_PREFIXES.redemption),
    object: z.literal('voucher_redemption'),
    voucher_id: VoucherId,
    order_id: z.string(),
    email: z.string(),
    discount: Money.describe('What it took off the order'),
    status: z
      .enum(['active', 'released'])
      .describe('released: the use was given back (a refund, an expired hold)'),
    created_at: Timestamp,
    released_at: Timestamp.nullable(),
  })
  .meta({ id: 'VoucherRedemption' });
export type VoucherRedemption = z.output<typeof VoucherRedemption>;

/** What a checkout may learn of a code (nothing of other codes, nor how many uses are left). */
export const VoucherCheck = z
  .object({
    object: z.literal('voucher_check'),
    code: z.string(),
    valid: z.literal(true),
    discount: Voucher.shape.discount,
    ticket_types: z
      .array(
        z.object({
          id: TicketTypeId,
          name: z.string(),
          hidden: z.boolean().describe('Only buyable with the code'),
          price: Money,
          price_with_code: Money,
        }),
      )
      .describe('The ticket types it is valid for, with what each costs with it'),
    valid_until: Timestamp.nullable(),
  })
  .meta({ id: 'VoucherCheck' });
export type VoucherCheck = z.output<typeof VoucherCheck>;

export const VoucherCheckParams = z.object({ id: EventId, code: VoucherCode });
