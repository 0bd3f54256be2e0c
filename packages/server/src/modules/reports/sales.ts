import { REPORT_COLUMNS } from '@tickets/sdk';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { netOf } from '../invoices/documents.js';
import { Amount, type Cell, localTime } from './cells.js';
import type { Report, ReportScope } from './report.js';

/** Where a sale was made, by how it was paid. */
export const CHANNEL = { manual: 'box_office', stripe: 'online', free: 'free' } as const;

/** One row per ticket sold (paid orders issue tickets), in ticket id order. */
export function salesReport(k: Kysely<Database>, scope: ReportScope): Report {
  const query = k
    .selectFrom('tickets as t')
    .innerJoin('orders as o', 'o.id', 't.order_id')
    .innerJoin('events as e', 'e.id', 't.event_id')
    .innerJoin('order_items as oi', (j) =>
      j.onRef('oi.order_id', '=', 't.order_id').onRef('oi.ticket_type_id', '=', 't.ticket_type_id'),
    )
    .select([
      't.id',
      't.order_id',
      't.event_id',
      'e.name as event_name',
      'e.timezone',
      't.ticket_type_id',
      'oi.name as ticket_type',
      'o.buyer_name',
      'o.buyer_email',
      't.holder_name',
      't.holder_email',
      't.code_version',
      'o.currency',
      'oi.unit_amount',
      'oi.tax_rate',
      't.status',
      't.void_reason',
      'o.status as order_status',
      'o.payment_method',
      'o.utm_source',
      'o.utm_medium',
      'o.utm_campaign',
      'o.paid_at',
      'o.refunded_amount',
      'o.invoice_number',
    ])
    .where('t.org_id', '=', scope.orgId)
    .$if(scope.event !== undefined, (q) => q.where('t.event_id', '=', scope.event!))
    .$if(scope.ticketType !== undefined, (q) => q.where('t.ticket_type_id', '=', scope.ticketType!))
    .$if(scope.status !== undefined, (q) => q.where('t.status', '=', scope.status as 'valid' | 'void'))
    .$if(scope.from !== undefined, (q) => q.where('o.paid_at', '>=', scope.from!))
    .$if(scope.to !== undefined, (q) => q.where('o.paid_at', '<', scope.to!))
    .orderBy('t.id');
  type Row = Awaited<ReturnType<typeof query.executeTakeFirstOrThrow>>;

  return {
    columns: REPORT_COLUMNS.sales,
    query: query.compile(),
    toCells: (r: Row): Cell[] => {
      const price = r.unit_amount;
      return [
        r.id,
        r.order_id,
        r.event_id,
        r.event_name,
        r.ticket_type_id,
        r.ticket_type,
        r.buyer_name,
        r.buyer_email,
        r.holder_name,
        r.holder_email,
        r.code_version > 1,
        r.currency,
        new Amount(price, r.currency),
        r.tax_rate / 100,
        new Amount(price - netOf(price, r.tax_rate), r.currency),
        r.status,
        r.void_reason,
        r.order_status,
        CHANNEL[r.payment_method],
        r.utm_source,
        r.utm_medium,
        r.utm_campaign,
        r.paid_at,
        localTime(r.paid_at, r.timezone),
        r.timezone,
        r.void_reason === 'refunded',
        new Amount(r.refunded_amount, r.currency),
        r.invoice_number,
      ];
    },
  };
}
