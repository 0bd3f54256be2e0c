import { pipeline, type Readable } from 'node:stream';
import type { ReportFormat, ReportKind } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import { notFound } from '../../http/errors.js';
import { nowIso } from '../../time.js';
import { attendanceReport } from './attendance.js';
import { boundToUtc, csvWriter, jsonLinesWriter, rowMapper } from './cells.js';
import type { RowCursors } from './cursor.js';
import type { Report, ReportScope } from './report.js';
import { revenueReport } from './revenue.js';
import { salesReport } from './sales.js';

const REPORTS = { sales: salesReport, attendance: attendanceReport, revenue: revenueReport };

/** A report's filters as the contract parsed them. */
export interface ReportQuery {
  event?: string;
  ticket_type?: string;
  status?: string;
  from?: string;
  to?: string;
  format: ReportFormat;
  excel?: boolean;
}

export interface ReportFile {
  filename: string;
  contentType: string;
  body: Readable;
}

/** Reports as files, streamed from a database cursor through csv-stringify (or as JSON lines). */
export class Reports {
  constructor(
    private readonly db: Db,
    private readonly cursors: RowCursors,
  ) {}

  async open(kind: ReportKind, orgId: string, q: ReportQuery): Promise<ReportFile> {
    const scope = await this.scope(orgId, q);
    const report: Report = REPORTS[kind](this.db.kysely, scope);
    const rows = await this.cursors.open(report.query);
    const writer =
      q.format === 'json'
        ? jsonLinesWriter(report.columns)
        : csvWriter(report.columns, { bom: q.excel === true });
    // Any of the three failing or closed early (the client went away) destroys the others, and with
    // the first the database cursor.
    const body = pipeline(rows, rowMapper(report.toCells), writer, () => {});
    const day = scope.now.slice(0, 10);
    return {
      filename: `${kind}-${q.event ?? orgId}-${day}.${q.format === 'json' ? 'jsonl' : 'csv'}`,
      contentType: q.format === 'json' ? 'application/x-ndjson' : 'text/csv; charset=utf-8',
      body,
    };
  }

  /** The filters checked against the organization (another's event or type: 404), dates made instants. */
  private async scope(orgId: string, q: ReportQuery): Promise<ReportScope> {
    let timezone = 'UTC';
    if (q.event) {
      const event = await this.db.kysely
        .selectFrom('events')
        .select('timezone')
        .where('id', '=', q.event)
        .where('org_id', '=', orgId)
        .executeTakeFirst();
      if (!event) throw notFound('event');
      timezone = event.timezone;
    }
    if (q.ticket_type) {
      const type = await this.db.kysely
        .selectFrom('ticket_types')
        .select('id')
        .where('id', '=', q.ticket_type)
        .where('org_id', '=', orgId)
        .$if(q.event !== undefined, (b) => b.where('event_id', '=', q.event!))
        .executeTakeFirst();
      if (!type) throw notFound('ticket type');
    }
    return {
      orgId,
      event: q.event,
      ticketType: q.ticket_type,
      status: q.status,
      from: q.from === undefined ? undefined : boundToUtc(q.from, timezone),
      to: q.to === undefined ? undefined : boundToUtc(q.to, timezone),
      now: nowIso(),
    };
  }
}
