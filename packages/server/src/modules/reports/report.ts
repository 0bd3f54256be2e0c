import type { CompiledQuery } from 'kysely';
import type { Cell } from './cells.js';

/** What a report covers, once its filters are checked and its dates are instants (stored form). */
export interface ReportScope {
  orgId: string;
  event?: string;
  ticketType?: string;
  status?: string;
  /** Inclusive. */
  from?: string;
  /** Exclusive. */
  to?: string;
  /** When the report is made: whose events have ended (no-shows). */
  now: string;
}

/** A report: its columns, the one query that reads its rows, and how a row becomes its cells. */
export interface Report {
  columns: readonly string[];
  query: CompiledQuery;
  // biome-ignore lint/suspicious/noExplicitAny: each report maps the rows of its own query
  toCells(row: any): Cell[];
}
