import { z } from 'zod';
import { EventId, TicketTypeId } from './common.js';

/** A bare date compared as UTC midnight: close enough to refuse a range that ends before it starts. */
const instant = (v: string) => Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);

/**
 * Reports are files: CSV (the default) or JSON lines, one row per ticket (sales, attendance) or per
 * money movement (revenue), streamed as the database reads them. Every row carries its times in UTC
 * and in its event's time zone, and its money in major units (25.00) next to a currency column.
 */

export const REPORT_KINDS = ['sales', 'attendance', 'revenue'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

export const ReportFormat = z.enum(['csv', 'json']);
export type ReportFormat = z.output<typeof ReportFormat>;

/** Whether the date part names a real day (not 2026-02-30) and the time, if any, parses. */
function isCalendarDate(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d && !Number.isNaN(instant(value));
}

/** An ISO date (2026-03-01: midnight in the event's time zone, UTC for all events) or a date-time. */
const DateOrTime = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'must be an ISO date (2026-03-01) or date-time (2026-03-01T18:00:00+01:00)',
  )
  .refine(isCalendarDate, 'is not a date of the calendar')
  .meta({ example: '2026-03-01' });

const fields = {
  event: EventId.optional().describe("Only this event's rows (default: every event of the organization)"),
  from: DateOrTime.optional().describe(
    "Start, inclusive; a date is midnight in the event's time zone (UTC without `event`)",
  ),
  to: DateOrTime.optional().describe(
    "End, exclusive; a date is midnight in the event's time zone (UTC without `event`)",
  ),
  format: ReportFormat.default('csv').describe('csv (text/csv), or json: one JSON object per line'),
  excel: z
    .enum(['1', '0', 'true', 'false'])
    .transform((v) => v === '1' || v === 'true')
    .optional()
    .describe('1: start the CSV with a UTF-8 byte order mark, so Excel reads it as UTF-8'),
};

function ordered<T extends z.ZodObject>(schema: T) {
  return schema.superRefine((q: { from?: string; to?: string }, ctx) => {
    if (q.from && q.to && instant(q.from) > instant(q.to))
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after `to`', input: q.from });
  });
}

export const TicketReportStatus = z.enum(['valid', 'void']);

// Strict: a parameter a report does not take (a typo, `ticket_type` on revenue) is refused, never
// silently ignored by a file someone then trusts as filtered.
export const SalesReportQuery = ordered(
  z.strictObject({
    ...fields,
    status: TicketReportStatus.optional().describe('Only tickets in this status'),
    ticket_type: TicketTypeId.optional().describe('Only tickets of this type'),
  }),
);
export type SalesReportQuery = z.input<typeof SalesReportQuery>;

export const AttendanceReportQuery = SalesReportQuery;
export type AttendanceReportQuery = z.input<typeof AttendanceReportQuery>;

export const RevenueRowStatus = z.enum(['succeeded', 'pending', 'failed', 'issued', 'cancelled']);

export const RevenueReportQuery = ordered(
  z.strictObject({
    ...fields,
    status: RevenueRowStatus.optional().describe(
      'Only movements in this status: payments succeeded; refunds succeeded, pending or failed; invoices issued or cancelled (re-issued); credit notes issued',
    ),
  }),
);
export type RevenueReportQuery = z.input<typeof RevenueReportQuery>;

/** The columns of each report, in file order (the CSV header; the keys of each JSON line). */
export const REPORT_COLUMNS = {
  sales: [
    'ticket_id',
    'order_id',
    'event_id',
    'event_name',
    'ticket_type_id',
    'ticket_type',
    'buyer_name',
    'buyer_email',
    'holder_name',
    'holder_email',
    'transferred',
    'currency',
    'price',
    'tax_rate',
    'tax',
    'ticket_status',
    'void_reason',
    'order_status',
    'channel',
    'source',
    'medium',
    'campaign',
    'paid_at_utc',
    'paid_at_local',
    'timezone',
    'refunded',
    'order_refunded',
    'invoice_number',
  ],
  attendance: [
    'ticket_id',
    'order_id',
    'event_id',
    'event_name',
    'ticket_type_id',
    'ticket_type',
    'holder_name',
    'holder_email',
    'buyer_name',
    'buyer_email',
    'ticket_status',
    'void_reason',
    'admitted',
    'first_admitted_at_utc',
    'first_admitted_at_local',
    'timezone',
    'list',
    'gate',
    'device',
    're_entries',
    'declined',
    'declined_at_utc',
    'no_show',
  ],
  revenue: [
    'date_utc',
    'date_local',
    'timezone',
    'type',
    'status',
    'document_number',
    'related_document',
    'order_id',
    'refund_id',
    'event_id',
    'event_name',
    'buyer_name',
    'buyer_email',
    'method',
    'currency',
    'net',
    'tax',
    'gross',
  ],
} as const satisfies Record<ReportKind, readonly string[]>;

/** One line of a report in JSON: its columns, money as numbers of major units, empty cells null. */
export type ReportRow<K extends ReportKind> = Record<
  (typeof REPORT_COLUMNS)[K][number],
  string | number | boolean | null
>;

/** The answer's body: a file (CSV or JSON lines), streamed. */
export const ReportFile = z.instanceof(Uint8Array);
