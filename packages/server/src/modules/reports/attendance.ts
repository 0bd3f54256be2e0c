import { REPORT_COLUMNS } from '@tickets/sdk';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.js';
import { type Cell, localTime } from './cells.js';
import type { Report, ReportScope } from './report.js';

/**
 * One row per ticket: its first admission (on whichever list came first), how many times it came back
 * in, whether its holder declined, and whether it was a no-show (the event is over, the ticket valid
 * and never admitted). `from`/`to` choose events by when they start.
 */
export function attendanceReport(k: Kysely<Database>, scope: ReportScope): Report {
  // The first admission of each ticket over all its lists.
  const first = k
    .selectFrom('ticket_presence as tp')
    .innerJoin('checkin_lists as cl', 'cl.id', 'tp.list_id')
    .select([
      'tp.ticket_id',
      'tp.first_entry_at',
      'tp.first_gate',
      'tp.first_device',
      'cl.name as list_name',
      sql<number>`row_number() over (partition by tp.ticket_id order by tp.first_entry_at, tp.list_id)`.as(
        'n',
      ),
    ])
    .where('cl.org_id', '=', scope.orgId)
    .$if(scope.event !== undefined, (q) => q.where('cl.event_id', '=', scope.event!));
  // Admissions beyond the first on each list: people who went out and came back in.
  const returns = k
    .selectFrom('checkins')
    .select(['ticket_id', sql<number>`count(*) - count(distinct list_id)`.as('re_entries')])
    .where('org_id', '=', scope.orgId)
    .where('result', '=', 'admitted')
    .$if(scope.event !== undefined, (q) => q.where('event_id', '=', scope.event!))
    .groupBy('ticket_id');

  const query = k
    .selectFrom('tickets as t')
    .innerJoin('orders as o', 'o.id', 't.order_id')
    .innerJoin('events as e', 'e.id', 't.event_id')
    .innerJoin('order_items as oi', (j) =>
      j.onRef('oi.order_id', '=', 't.order_id').onRef('oi.ticket_type_id', '=', 't.ticket_type_id'),
    )
    .leftJoin(first.as('p'), (j) => j.onRef('p.ticket_id', '=', 't.id').on('p.n', '=', 1))
    .leftJoin(returns.as('r'), 'r.ticket_id', 't.id')
    .select([
      't.id',
      't.order_id',
      't.event_id',
      'e.name as event_name',
      'e.timezone',
      'e.ends_at',
      't.ticket_type_id',
      'oi.name as ticket_type',
      't.holder_name',
      't.holder_email',
      'o.buyer_name',
      'o.buyer_email',
      't.status',
      't.void_reason',
      't.declined_at',
      'p.first_entry_at',
      'p.first_gate',
      'p.first_device',
      'p.list_name',
      'r.re_entries',
    ])
    .where('t.org_id', '=', scope.orgId)
    .$if(scope.event !== undefined, (q) => q.where('t.event_id', '=', scope.event!))
    .$if(scope.ticketType !== undefined, (q) => q.where('t.ticket_type_id', '=', scope.ticketType!))
    .$if(scope.status !== undefined, (q) => q.where('t.status', '=', scope.status as 'valid' | 'void'))
    .$if(scope.from !== undefined, (q) => q.where('e.starts_at', '>=', scope.from!))
    .$if(scope.to !== undefined, (q) => q.where('e.starts_at', '<', scope.to!))
    .orderBy('t.id');
  type Row = Awaited<ReturnType<typeof query.executeTakeFirstOrThrow>>;

  return {
    columns: REPORT_COLUMNS.attendance,
    query: query.compile(),
    toCells: (r: Row): Cell[] => {
      const admitted = r.first_entry_at !== null;
      return [
        r.id,
        r.order_id,
        r.event_id,
        r.event_name,
        r.ticket_type_id,
        r.ticket_type,
        r.holder_name,
        r.holder_email,
        r.buyer_name,
        r.buyer_email,
        r.status,
        r.void_reason,
        admitted,
        r.first_entry_at,
        localTime(r.first_entry_at, r.timezone),
        r.timezone,
        r.list_name,
        r.first_gate,
        r.first_device,
        Number(r.re_entries ?? 0),
        r.declined_at !== null,
        r.declined_at,
        !admitted && r.status === 'valid' && r.ends_at <= scope.now,
      ];
    },
  };
}
