import { z } from 'zod';
import {
  Currency,
  EventId,
  type FieldError,
  ListQuery,
  Money,
  TicketTypeId,
  Timestamp,
  TimestampInput,
  TimeZone,
} from './common.js';
import { TaxRate } from './invoices.js';
import { MediaAsset } from './media.js';

export const EventStatus = z.enum(['draft', 'published', 'cancelled', 'completed']);
export type EventStatus = z.output<typeof EventStatus>;

const COUNTRIES = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

export const Venue = z
  .object({
    name: z.string().trim().min(1).max(200),
    address: z.string().trim().max(500).nullish(),
    city: z.string().trim().max(200).nullish(),
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code')
      .transform((c) => c.toUpperCase())
      .refine((c) => COUNTRIES.of(c) !== undefined, 'is not an ISO 3166-1 country code')
      .nullish(),
  })
  .meta({ id: 'Venue' });
export type Venue = z.output<typeof Venue>;

export const Slug = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be lower-case letters, digits and single hyphens');

export const Event = z
  .object({
    id: EventId,
    object: z.literal('event'),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    venue: Venue.nullable(),
    timezone: z.string(),
    starts_at: Timestamp,
    ends_at: Timestamp,
    status: EventStatus,
    currency: z.string(),
    capacity: z.number().int().nullable().describe('Event-wide limit across all ticket types; null: none'),
    transferable: z.boolean().describe('Whether holders may transfer their tickets'),
    sales_start_at: Timestamp.nullable(),
    sales_end_at: Timestamp.nullable().describe('When null, sales run until the event ends'),
    max_per_buyer: z
      .number()
      .int()
      .nullable()
      .describe('Most tickets one buyer e-mail may hold; null: no limit'),
    hold_minutes: z.number().int().describe('How long an unpaid online order holds its tickets'),
    inventory_slots: z
      .number()
      .int()
      .describe('Counter rows the inventory is spread over (1: one; more lets many servers sell it at once)'),
    cover: MediaAsset.nullable().describe("The event's poster, with its preset URLs and srcset"),
    gallery: z.array(MediaAsset).describe('Its gallery images and videos, in order'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Event' });
export type Event = z.output<typeof Event>;

const eventFields = {
  name: z.string().trim().min(1).max(200),
  slug: Slug.optional().describe('Unique within the organization; derived from the name when omitted'),
  description: z.string().max(20_000).nullish(),
  venue: Venue.nullish(),
  timezone: TimeZone,
  starts_at: TimestampInput,
  ends_at: TimestampInput,
  currency: Currency,
  capacity: z.number().int().min(0).max(10_000_000).nullish(),
  transferable: z.boolean().optional(),
  sales_start_at: TimestampInput.nullish(),
  sales_end_at: TimestampInput.nullish(),
  max_per_buyer: z.number().int().min(1).max(10_000).nullish(),
  hold_minutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .nullish()
    .describe('Default 15'),
  inventory_slots: z
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe(
      "Spread each ticket type's and the event's counters over this many rows, so sales of one hot event do not queue on one row (Postgres, several server processes). Default 1",
    ),
};

interface Timing {
  starts_at?: string | null;
  ends_at?: string | null;
  sales_start_at?: string | null;
  sales_end_at?: string | null;
}

/** Cross-field rules on an event's dates; shared by create (here) and update (after merging, in the server). */
export function eventTimingErrors(e: Timing): FieldError[] {
  const t = (s: string | null | undefined) => (s ? Date.parse(s) : undefined);
  const [starts, ends, salesStart, salesEnd] = [
    t(e.starts_at),
    t(e.ends_at),
    t(e.sales_start_at),
    t(e.sales_end_at),
  ];
  const errors: FieldError[] = [];
  if (starts !== undefined && ends !== undefined && ends <= starts)
    errors.push({ path: 'ends_at', message: 'must be after starts_at', code: 'invalid_range' });
  if (salesStart !== undefined && salesEnd !== undefined && salesEnd <= salesStart)
    errors.push({ path: 'sales_end_at', message: 'must be after sales_start_at', code: 'invalid_range' });
  if (salesEnd !== undefined && ends !== undefined && salesEnd > ends)
    errors.push({ path: 'sales_end_at', message: 'must not be after ends_at', code: 'invalid_range' });
  if (salesStart !== undefined && ends !== undefined && salesStart >= ends)
    errors.push({ path: 'sales_start_at', message: 'must be before ends_at', code: 'invalid_range' });
  return errors;
}

function refineTiming(value: Timing, ctx: z.RefinementCtx) {
  for (const e of eventTimingErrors(value))
    ctx.addIssue({ code: 'custom', path: [e.path], message: e.message });
}

export const EventCreateInput = z
  .strictObject({
    ...eventFields,
    allow_past: z
      .boolean()
      .optional()
      .describe('Accept a start in the past (importing past events); otherwise such an event is refused'),
  })
  .superRefine(refineTiming);
export type EventCreateInput = z.input<typeof EventCreateInput>;

export const EventCancelInput = z.strictObject({
  refund: z
    .enum(['all', 'none'])
    .default('none')
    .describe('all: refund every paid order in full through its payment provider, as a background job'),
  message: z
    .string()
    .trim()
    .min(1)
    .max(2000)
    .optional()
    .describe('Told to every ticket holder in the cancellation e-mail'),
});
export type EventCancelInput = z.input<typeof EventCancelInput>;

export const EventCancellation = z
  .object({
    object: z.literal('event_cancellation'),
    event_id: EventId,
    refund: z.enum(['all', 'none']),
    message: z.string().nullable(),
    status: z
      .enum(['refunding', 'done'])
      .describe('refunding: the refund job is still going through the orders'),
    orders_total: z.number().int().describe('Paid orders to refund (0 with refund: none)'),
    orders_refunded: z.number().int(),
    orders_failed: z.number().int().describe('Refunds refused by the provider: flagged on their orders'),
    created_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'EventCancellation' });
export type EventCancellation = z.output<typeof EventCancellation>;

/** PUT merges: fields left out keep their value; null clears a nullable field. */
export const EventUpdateInput = z
  .strictObject({
    ...eventFields,
    name: eventFields.name.optional(),
    timezone: eventFields.timezone.optional(),
    starts_at: eventFields.starts_at.optional(),
    ends_at: eventFields.ends_at.optional(),
    currency: eventFields.currency.optional(),
  })
  .superRefine(refineTiming);
export type EventUpdateInput = z.input<typeof EventUpdateInput>;

export const EventListQuery = ListQuery.extend({
  status: EventStatus.optional(),
  starts_after: TimestampInput.optional().describe('Only events starting at or after this time'),
  starts_before: TimestampInput.optional().describe('Only events starting before this time'),
  q: z.string().trim().min(1).max(200).optional().describe('Text search in name, slug, description, venue'),
});
export type EventListQuery = z.input<typeof EventListQuery>;

export const TicketType = z
  .object({
    id: TicketTypeId,
    object: z.literal('ticket_type'),
    event_id: EventId,
    name: z.string(),
    description: z.string().nullable(),
    price: Money,
    capacity: z.number().int(),
    sales_start_at: Timestamp.nullable(),
    sales_end_at: Timestamp.nullable(),
    min_per_order: z.number().int(),
    max_per_order: z.number().int().nullable(),
    hidden: z.boolean().describe('Hidden types are not offered publicly (e.g. comp or staff tickets)'),
    sort_order: z.number().int(),
    tax_rate: z.number().int().describe('Basis points (1900 = 19 %), included in the price'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'TicketType' });
export type TicketType = z.output<typeof TicketType>;

const ticketTypeFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).nullish(),
  price: Money.describe("Must be in the event's currency; 0 for free tickets"),
  capacity: z.number().int().min(0).max(10_000_000),
  sales_start_at: TimestampInput.nullish(),
  sales_end_at: TimestampInput.nullish(),
  min_per_order: z.number().int().min(1).max(1000).optional(),
  max_per_order: z.number().int().min(1).max(1000).nullish(),
  hidden: z.boolean().optional(),
  sort_order: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  tax_rate: TaxRate.optional().describe(
    'Basis points, 0 to 10000 (1900 = 19 %), included in the price; default 0. Orders keep the rate they were sold at',
  ),
};

function refineTicketType(
  v: { min_per_order?: number; max_per_order?: number | null } & Timing,
  ctx: z.RefinementCtx,
) {
  refineTiming({ sales_start_at: v.sales_start_at, sales_end_at: v.sales_end_at }, ctx);
  if (v.min_per_order != null && v.max_per_order != null && v.max_per_order < v.min_per_order)
    ctx.addIssue({ code: 'custom', path: ['max_per_order'], message: 'must not be less than min_per_order' });
}

export const TicketTypeCreateInput = z.strictObject(ticketTypeFields).superRefine(refineTicketType);
export type TicketTypeCreateInput = z.input<typeof TicketTypeCreateInput>;

export const TicketTypeUpdateInput = z
  .strictObject({
    ...ticketTypeFields,
    name: ticketTypeFields.name.optional(),
    price: ticketTypeFields.price.optional(),
    capacity: ticketTypeFields.capacity.optional(),
  })
  .superRefine(refineTicketType);
export type TicketTypeUpdateInput = z.input<typeof TicketTypeUpdateInput>;

export const TicketTypeListQuery = z.object({
  event: EventId,
  include_hidden: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});
export type TicketTypeListQuery = z.input<typeof TicketTypeListQuery>;

export const NotOnSaleReason = z.enum([
  'event_not_published',
  'event_cancelled',
  'event_completed',
  'event_ended',
  'sales_not_started',
  'sales_ended',
  'sold_out',
]);
export type NotOnSaleReason = z.output<typeof NotOnSaleReason>;

export const TicketTypeAvailability = z.object({
  ticket_type_id: TicketTypeId,
  name: z.string(),
  price: Money,
  capacity: z.number().int(),
  sold: z.number().int(),
  held: z.number().int().describe('In pending orders whose hold has not expired'),
  available: z
    .number()
    .int()
    .describe("What can be bought now: the lesser of the type's and the event's room"),
  on_sale: z.boolean(),
  reason: NotOnSaleReason.nullable().describe('Why not on sale, when on_sale is false'),
});
export type TicketTypeAvailability = z.output<typeof TicketTypeAvailability>;

export const Availability = z
  .object({
    object: z.literal('availability'),
    event_id: EventId,
    capacity: z.number().int().nullable(),
    sold: z.number().int(),
    held: z.number().int(),
    available: z.number().int().nullable().describe('Event-wide room; null when the event sets no capacity'),
    ticket_types: z.array(TicketTypeAvailability),
  })
  .meta({ id: 'Availability' });
export type Availability = z.output<typeof Availability>;

export const AvailabilityQuery = z.object({ event: EventId });
export type AvailabilityQuery = z.input<typeof AvailabilityQuery>;
