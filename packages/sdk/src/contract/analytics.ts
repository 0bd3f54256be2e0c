import { z } from 'zod';
import { Currency, EventId, TicketTypeId, Timestamp, TimeZone } from './common.js';

/**
 * The organizer's numbers. Every money figure is per currency (never summed across currencies), in
 * minor units. Time series are buckets from `from` to `to` in the chosen time zone: a day starts at
 * local midnight (a day of a DST change has 23 or 25 hours), a week on Monday; empty buckets are
 * present with zeros.
 */

export const Interval = z.enum(['hour', 'day', 'week', 'month']);
export type Interval = z.output<typeof Interval>;

/** An ISO date (2026-03-01, local midnight in the report's time zone) or date-time with an offset. */
const DateOrTime = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'must be an ISO date (2026-03-01) or date-time (2026-03-01T18:00:00+01:00)',
  )
  .meta({ example: '2026-03-01' });

/** One value or a repeated parameter (`event=evt_a&event=evt_b`), as a list. */
const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.union([item, z.array(item).max(100)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const AnalyticsQuery = z.object({
  from: DateOrTime.optional().describe('Start (inclusive); a date is local midnight in `timezone`'),
  to: DateOrTime.optional().describe('End (exclusive); a date is local midnight in `timezone`'),
  interval: Interval.optional().describe('Bucket size; by default one that gives at most ~100 buckets'),
  timezone: TimeZone.optional().describe(
    "Default: the event's (org-wide: the time zone of its latest event)",
  ),
  event: oneOrMany(EventId).optional().describe('Only these events (repeat the parameter)'),
  currency: Currency.optional().describe('Only money in this currency'),
});
export type AnalyticsQuery = z.input<typeof AnalyticsQuery>;

export const GroupBy = z.enum(['event', 'ticket_type', 'channel', 'source']);
export type GroupBy = z.output<typeof GroupBy>;

export const SalesAnalyticsQuery = AnalyticsQuery.extend({
  group_by: GroupBy.optional().describe('Split each bucket by event, ticket type, channel or source'),
});
export type SalesAnalyticsQuery = z.input<typeof SalesAnalyticsQuery>;

export const EventSort = z.enum(['name', '-name', 'starts_at', '-starts_at', 'sold', '-sold', 'net', '-net']);

export const EventsAnalyticsQuery = AnalyticsQuery.extend({
  sort: EventSort.optional().describe('A field, `-` first for descending (default -starts_at)'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(500).optional().describe('The next_cursor of the previous page'),
});
export type EventsAnalyticsQuery = z.input<typeof EventsAnalyticsQuery>;

/** Where a sale was made: at the box office (manual), online (Stripe), or free. */
export const SalesChannel = z.enum(['box_office', 'online', 'free']);
export type SalesChannel = z.output<typeof SalesChannel>;

const Count = z.number().int();
/** A share from 0 to 1 (null when it has no denominator, e.g. no capacity). */
const Rate = z.number().min(0).nullable();

/** A sum of money in one currency: unlike Money, not bounded by what one order may cost. */
export const Sum = z.object({ currency: z.string(), amount: Count }).meta({ id: 'Sum' });

const Bucket = {
  start: Timestamp.describe('Where the bucket starts (UTC)'),
  label: z
    .string()
    .describe('Its start in the time zone: 2026-03-29 (day, week, month) or 2026-03-29T03:00+02:00 (hour)'),
};

export const SalesPoint = z.object({
  ...Bucket,
  tickets: Count,
  orders: Count,
  cumulative_tickets: Count,
  gross: z.array(Sum).describe('Per currency'),
  cumulative_gross: z.array(Sum),
});
export type SalesPoint = z.output<typeof SalesPoint>;

export const TaxLine = z.object({
  currency: z.string(),
  rate: Count.describe('Basis points (1900 = 19 %)'),
  gross: Count,
  net: Count,
  tax: Count,
});

export const Breakdown = z.object({
  key: z.string().describe('The ticket type id, channel, source (direct: none given) or event id'),
  name: z.string(),
  orders: Count,
  tickets: Count,
  gross: z.array(Sum),
});
export type Breakdown = z.output<typeof Breakdown>;

const Window = {
  timezone: z.string(),
  interval: Interval,
  from: Timestamp,
  to: Timestamp,
};

export const EventAnalytics = z
  .object({
    object: z.literal('event_analytics'),
    event_id: EventId,
    ...Window,
    inventory: z.object({
      capacity: Count.nullable(),
      sold: Count,
      held: Count,
      available: Count.nullable(),
      sell_through: Rate.describe('sold / capacity'),
      ticket_types: z.array(
        z.object({
          id: TicketTypeId,
          name: z.string(),
          capacity: Count.nullable(),
          sold: Count,
          held: Count,
          available: Count.nullable(),
          sell_through: Rate,
        }),
      ),
    }),
    money: z.object({
      currency: z.string(),
      gross: Count.describe('Paid in the range, refunds not deducted'),
      refunded: Count.describe('Refunded of those orders'),
      net: Count,
      tax: z.array(TaxLine).describe('Per rate, on the gross (computed on the totals per rate)'),
      fees: Count.nullable().describe(
        "Stripe's fees on these payments, in the event's currency; null: a payment's fee is not recorded yet",
      ),
    }),
    sales: z.array(SalesPoint),
    by_ticket_type: z.array(Breakdown),
    by_channel: z.array(Breakdown),
    by_source: z.array(Breakdown),
    orders: z.object({
      count: Count,
      average_tickets: z.number().nullable(),
      average_value: z.number().nullable().describe('Minor units'),
    }),
    checkins: z.object({
      valid_tickets: Count,
      admitted: Count.describe('Valid tickets admitted at least once'),
      inside: Count.describe('Admitted and not scanned out'),
      checkin_rate: Rate.describe('admitted / valid tickets'),
      no_shows: Count.nullable().describe(
        'Valid tickets never admitted, once the event has ended (null before)',
      ),
      doors: Timestamp.describe("The main list's opening, or the event's start"),
      arrivals: z
        .array(z.object({ ...Bucket, admitted: Count }))
        .describe('First admissions per 15 minutes, from an hour before the doors to three hours after'),
    }),
    refunds: z.object({
      count: Count,
      amount: Count,
      orders_refunded: Count.describe('Paid orders with any refund'),
      rate: Rate.describe('orders_refunded / paid orders'),
    }),
    holds: z.object({
      paid: Count.describe('Online orders whose hold was paid'),
      expired: Count.describe('Holds that ended unpaid: abandoned checkouts'),
      pending: Count,
      conversion: Rate.describe('paid / (paid + expired)'),
    }),
  })
  .meta({ id: 'EventAnalytics' });
export type EventAnalytics = z.output<typeof EventAnalytics>;

export const SalesAnalytics = z
  .object({
    object: z.literal('sales_analytics'),
    ...Window,
    group_by: GroupBy.nullable(),
    totals: SalesPoint.omit({ start: true, label: true, cumulative_tickets: true, cumulative_gross: true }),
    series: z.array(
      z.object({
        key: z.string().nullable().describe('The group (null without group_by)'),
        name: z.string().nullable(),
        points: z.array(SalesPoint),
      }),
    ),
  })
  .meta({ id: 'SalesAnalytics' });
export type SalesAnalytics = z.output<typeof SalesAnalytics>;

export const EventRow = z
  .object({
    object: z.literal('event_summary'),
    event_id: EventId,
    name: z.string(),
    status: z.string(),
    starts_at: Timestamp,
    currency: z.string(),
    capacity: Count.nullable(),
    sold: Count,
    sell_through: Rate,
    gross: Count.describe('In the range'),
    net: Count,
    checkin_rate: Rate,
  })
  .meta({ id: 'EventSummary' });
export type EventRow = z.output<typeof EventRow>;

export const UsersAnalytics = z
  .object({
    object: z.literal('users_analytics'),
    ...Window,
    buyers: Count.describe('Distinct buyer e-mail addresses with a paid order in the range'),
    new_buyers: Count.describe('Of those, first paid order with this organization in the range'),
    returning_buyers: Count,
    repeat_rate: Rate.describe('Buyers with more than one paid order in the range / buyers'),
    tickets_per_buyer: z.number().nullable(),
    marketing_opt_in_rate: Rate.describe('Buyers who agreed to marketing e-mail / buyers'),
    top_buyers: z
      .array(
        z.object({ email: z.string(), name: z.string(), orders: Count, tickets: Count, spent: z.array(Sum) }),
      )
      .describe('By spend (the first currency), at most 10'),
    by_country: z
      .array(z.object({ country: z.string().nullable(), buyers: Count }))
      .describe(
        'Buyers by the country of the phone number they gave (ISO 3166 code; null: no phone, or none recognised), most first',
      ),
  })
  .meta({ id: 'UsersAnalytics' });
export type UsersAnalytics = z.output<typeof UsersAnalytics>;

export const RevenuePoint = z.object({
  ...Bucket,
  currency: z.string(),
  gross: Count.describe('Paid'),
  refunds: Count.describe('Refunded (refunds that succeeded, by when they were made)'),
  fees: Count.nullable().describe(
    "Stripe's fees, in this currency (a payment's when it was paid, a refund's when it was made; converted at the payment's exchange rate when it settled in another); null: a payment's fee is not recorded yet",
  ),
  net: Count.describe('Gross − refunds − the fees known'),
});

export const RevenueAnalytics = z
  .object({
    object: z.literal('revenue_analytics'),
    ...Window,
    totals: z.array(RevenuePoint.omit({ start: true, label: true })),
    series: z.array(RevenuePoint),
    tax: z.array(TaxLine),
    by_method: z.array(z.object({ method: z.string(), currency: z.string(), orders: Count, gross: Count })),
  })
  .meta({ id: 'RevenueAnalytics' });
export type RevenueAnalytics = z.output<typeof RevenueAnalytics>;
