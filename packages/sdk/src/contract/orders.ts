import { z } from 'zod';
import { Email, EventId, idOf, ListQuery, Money, TicketTypeId, Timestamp } from './common.js';
import { PurchaseAnalytics } from './integrations.js';
import { VoucherCode } from './vouchers.js';

export const OrderId = idOf('ord');
export const TicketId = idOf('tkt');

export const OrderStatus = z.enum([
  'pending',
  'paid',
  'partially_refunded',
  'refunded',
  'expired',
  'cancelled',
  'failed',
]);
export type OrderStatus = z.output<typeof OrderStatus>;

/** `free` is set by the server for orders totalling zero; `manual` is box-office cash or card terminal. */
export const PaymentMethod = z.enum(['free', 'manual', 'stripe']);
export type PaymentMethod = z.output<typeof PaymentMethod>;

export const Phone = z
  .string()
  .regex(/^\+[1-9]\d{6,14}$/, 'must be in E.164 form, e.g. +491701234567')
  .meta({ example: '+491701234567' });

export const Holder = z.object({ name: z.string().trim().min(1).max(200), email: Email.optional() });

const utm = z.string().trim().min(1).max(200);

/** UTM parameters and the referring page of a purchase. */
export const Attribution = z
  .strictObject({
    source: utm.optional().meta({ example: 'newsletter' }),
    medium: utm.optional().meta({ example: 'email' }),
    campaign: utm.optional().meta({ example: 'spring-season' }),
    referrer: z.url().max(2000).optional(),
  })
  .meta({ id: 'Attribution' });
export type Attribution = z.input<typeof Attribution>;

export const PurchaseInput = z.strictObject({
  event: EventId,
  items: z
    .array(
      z.strictObject({
        ticket_type: TicketTypeId,
        quantity: z.number().int().min(1).max(100),
        holders: z
          .array(Holder)
          .max(100)
          .optional()
          .describe('One per ticket, in order; tickets without one are held by the buyer'),
      }),
    )
    .min(1)
    .max(20),
  buyer: z.strictObject({
    name: z.string().trim().min(1).max(200),
    email: Email,
    phone: Phone.optional().describe('For ticket delivery by WhatsApp'),
    marketing_opt_in: z
      .boolean()
      .optional()
      .describe("The buyer agrees to the organizer's marketing e-mail (contact lists with opted_in_only)"),
  }),
  payment_method: z
    .enum(['manual', 'stripe'])
    .optional()
    .describe('Required unless the order is free. manual: paid at the box office, at once.'),
  checkout: z
    .strictObject({ success_url: z.url(), cancel_url: z.url() })
    .optional()
    .describe('With stripe: a hosted Checkout page (see payment.checkout_url) instead of a PaymentIntent'),
  attribution: Attribution.optional().describe(
    "Where the buyer came from, as the storefront's URL said (utm_source, utm_medium, utm_campaign) and the referring page: the `source` of analytics and reports",
  ),
  voucher: VoucherCode.optional().describe(
    'A discount code: its discount on the tickets it is valid for, and its hidden ticket types',
  ),
  analytics: PurchaseAnalytics.optional().describe(
    "The buyer's Google Analytics session in the browser, so the server's purchase joins it (without one, a pseudonymous id derived from the order is used)",
  ),
  analytics_consent: z
    .boolean()
    .optional()
    .describe('false: the buyer declined analytics; nothing about this order is sent to Google Analytics'),
});
export type PurchaseInput = z.input<typeof PurchaseInput>;

export const TicketStatus = z.enum(['valid', 'void']);
export const VoidReason = z.enum(['refunded', 'cancelled']);

export const Ticket = z
  .object({
    id: TicketId,
    object: z.literal('ticket'),
    event_id: EventId,
    order_id: OrderId,
    ticket_type_id: TicketTypeId,
    ticket_type_name: z.string(),
    holder: z.object({ name: z.string(), email: z.string().nullable() }),
    status: TicketStatus,
    void_reason: VoidReason.nullable(),
    code: z.string().describe('The signed code the QR image carries; verify with verifyTicketCode'),
    code_version: z.number().int().describe('Raised by a transfer; older codes are refused'),
    declined_at: Timestamp.nullable().describe(
      "When the holder said they can't come (a WhatsApp reply button)",
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Ticket' });
export type Ticket = z.output<typeof Ticket>;

/** A QR image's width in pixels: the largest sharp rendering that fits (each module a whole number of pixels). */
export const QrQuery = z.object({
  size: z.coerce
    .number()
    .int()
    .min(128)
    // Capped: a PNG's cost grows with its area, and 1024 pixels is sharp on any screen or print.
    .max(1024)
    .optional()
    .describe('Width and height in pixels, 128 to 1024 (default 512: easy to scan from a phone screen)'),
});
export type QrQuery = z.input<typeof QrQuery>;

/** The bytes of an image, for routes that declare `produces`. */
export const ImageBytes = z.instanceof(Uint8Array);

export const OrderItem = z.object({
  ticket_type_id: TicketTypeId,
  name: z.string(),
  quantity: z.number().int(),
  unit_price: Money.describe('What each ticket cost (after a code’s discount)'),
  original_unit_price: Money.nullable().describe('Its price before a code’s discount (null: no discount)'),
  total: Money,
  tax_rate: z.number().int().describe('Basis points (1900 = 19 %), included in the price; as sold'),
});

/** Stripe's balance transaction of a payment or refund: what it kept and what it pays out. */
export const StripeBalance = z
  .object({
    balance_transaction: z.string().describe('txn_…'),
    fee: z.number().int().describe("Stripe's fee, in the settlement currency's minor units"),
    net: z.number().int().describe('What reaches the bank account (negative for a refund)'),
    currency: z.string().describe('The settlement currency'),
    exchange_rate: z.number().nullable().describe('From the charge currency; null when the same'),
  })
  .meta({ id: 'StripeBalance' });
export type StripeBalance = z.output<typeof StripeBalance>;

export const Order = z
  .object({
    id: OrderId,
    object: z.literal('order'),
    event_id: EventId,
    status: OrderStatus,
    buyer: z.object({ name: z.string(), email: z.string(), phone: z.string().nullable() }),
    payment_method: PaymentMethod,
    items: z.array(OrderItem),
    total: Money,
    refunded: Money,
    hold_expires_at: Timestamp.nullable().describe('Pending orders hold their tickets until then'),
    paid_at: Timestamp.nullable(),
    flagged: z.boolean(),
    flag_reason: z.string().nullable(),
    payment: z
      .object({
        provider: z.literal('stripe'),
        payment_intent_id: z.string().nullable(),
        client_secret: z.string().nullable().describe('For Stripe.js to confirm the payment in the browser'),
        checkout_url: z.string().nullable().describe('The hosted Checkout page, when one was asked for'),
      })
      .nullable(),
    invoice_number: z
      .string()
      .nullable()
      .describe(
        'Given when the order is paid (e.g. INV-2026-000123); the PDF is at /api/orders/:id/invoice.pdf',
      ),
    attribution: z
      .object({
        source: z.string().nullable(),
        medium: z.string().nullable(),
        campaign: z.string().nullable(),
        referrer: z.string().nullable(),
      })
      .nullable()
      .describe('Where the purchase came from, as it said (null: it said nothing)'),
    voucher: z
      .object({ id: z.string(), code: z.string(), discount: Money })
      .nullable()
      .describe('The discount code used, and what it took off'),
    tickets: z.array(Ticket).describe('Issued when the order is paid'),
    stripe: StripeBalance.nullable().describe(
      "Stripe's side, once its balance transaction is read (a moment after it succeeded): the fee and the net paid out",
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Order' });
export type Order = z.output<typeof Order>;

export const OrderListQuery = ListQuery.extend({
  event: EventId.optional(),
  status: OrderStatus.optional(),
  email: z.string().trim().toLowerCase().max(254).optional().describe("The buyer's e-mail, exactly"),
  q: z.string().trim().min(1).max(200).optional().describe("Text search in the buyer's name and e-mail"),
});
export type OrderListQuery = z.input<typeof OrderListQuery>;

export const TicketListQuery = ListQuery.extend({
  status: TicketStatus.optional(),
  q: z.string().trim().min(1).max(200).optional().describe('Holder name or e-mail, buyer, or order id'),
});
export type TicketListQuery = z.input<typeof TicketListQuery>;

export const Attendee = z
  .object({
    object: z.literal('attendee'),
    ticket_id: TicketId,
    order_id: OrderId,
    name: z.string(),
    email: z.string().nullable(),
    ticket_type_id: TicketTypeId,
    ticket_type_name: z.string(),
    buyer_name: z.string(),
    buyer_email: z.string(),
    status: TicketStatus,
    declined_at: Timestamp.nullable().describe(
      "When the holder said they can't come (a WhatsApp reply button)",
    ),
  })
  .meta({ id: 'Attendee' });
export type Attendee = z.output<typeof Attendee>;

export const EventPublicKey = z
  .object({
    object: z.literal('event_public_key'),
    event_id: EventId,
    algorithm: z.literal('Ed25519'),
    public_key: z.string().describe('base64url of the raw 32-byte key, for verifyTicketCode'),
    pem: z.string().describe('The same key as SPKI PEM'),
  })
  .meta({ id: 'EventPublicKey' });
export type EventPublicKey = z.output<typeof EventPublicKey>;

export const RefundId = idOf('ref');

export const RefundInput = z.strictObject({
  amount: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Minor units; defaults to what is left to refund (of the order, or of the ticket’s price)'),
  reason: z.string().trim().min(1).max(500).optional(),
  return_inventory: z
    .boolean()
    .default(true)
    .describe('Put the voided tickets back on sale (false: keep them out, e.g. a seat that is no more)'),
  release_voucher: z
    .boolean()
    .default(false)
    .describe('Give the order’s discount code its use back (only when the whole order is refunded)'),
});
export type RefundInput = z.input<typeof RefundInput>;

export const Refund = z
  .object({
    id: RefundId,
    object: z.literal('refund'),
    order_id: OrderId,
    ticket_id: TicketId.nullable(),
    amount: Money,
    reason: z.string().nullable(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    provider: z.enum(['manual', 'stripe']),
    returned_inventory: z.boolean(),
    voided_tickets: z.array(TicketId).describe('Tickets this refund voided; their codes are refused'),
    order_status: OrderStatus.describe(
      'The order’s status after this refund (when a refund is read later: the order’s status now)',
    ),
    credit_note_number: z
      .string()
      .nullable()
      .describe('The credit note this refund issued (e.g. INV-CN-2026-000004), when the order was invoiced'),
    stripe: StripeBalance.nullable().describe(
      "Stripe's side, once its balance transaction is read (a moment after it succeeded): the fee and the net paid out",
    ),
    created_at: Timestamp,
  })
  .meta({ id: 'Refund' });
export type Refund = z.output<typeof Refund>;

export const RefundStatus = z.enum(['pending', 'succeeded', 'failed']);
export type RefundStatus = z.output<typeof RefundStatus>;

export const RefundListQuery = ListQuery.extend({
  event: EventId.optional().describe("Refunds of this event's orders"),
  order: OrderId.optional(),
  status: RefundStatus.optional(),
});
export type RefundListQuery = z.input<typeof RefundListQuery>;

export const TransferInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: Email,
});
export type TransferInput = z.input<typeof TransferInput>;
