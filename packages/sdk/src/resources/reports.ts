import type { ResponseMeta, Tickets } from '../client.js';
import type {
  AttendanceReportQuery,
  ReportFormat,
  ReportKind,
  RevenueReportQuery,
  SalesReportQuery,
} from '../contract/reports.js';
import { routes } from '../contract/routes.js';

type Params<Q> = Omit<Q, 'excel'> & {
  /** Start the CSV with a UTF-8 byte order mark, so Excel reads it as UTF-8. */
  excel?: boolean;
};
export type SalesReportParams = Params<SalesReportQuery>;
export type AttendanceReportParams = Params<AttendanceReportQuery>;
export type RevenueReportParams = Params<RevenueReportQuery>;
export type ReportParams = SalesReportParams | AttendanceReportParams | RevenueReportParams;

/** A report's bytes as they arrive, with the response's metadata (its headers name the file). */
export type ReportStream = ReadableStream<Uint8Array> & { readonly lastResponse: ResponseMeta };

export interface ReportProgress {
  rows: number;
  bytes: number;
}

export interface ReportDownloadOptions {
  /** Replace the file if it exists (by default an existing file is an error, EEXIST, and is left alone). */
  overwrite?: boolean;
  /** Called as each chunk is written. */
  onProgress?: (progress: ReportProgress) => void;
}

export interface ReportDownload extends ReportProgress {
  file: string;
}

/**
 * Counts a report's rows as its bytes go by: its lines, less a CSV file's header, not counting the
 * line breaks inside a quoted CSV field (a name written on two lines is one row).
 */
export class ReportRowCounter {
  private lines = 0;
  private quoted = false;

  constructor(private readonly format: ReportFormat = 'csv') {}

  add(chunk: Uint8Array): void {
    const csv = this.format === 'csv';
    for (const byte of chunk) {
      // In CSV a quote inside a field is doubled, so toggling at each one tracks where fields are quoted.
      if (byte === 0x22 && csv) this.quoted = !this.quoted;
      else if (byte === 0x0a && !this.quoted) this.lines++;
    }
  }

  get rows(): number {
    return this.format === 'csv' ? Math.max(0, this.lines - 1) : this.lines;
  }
}

const query = ({ excel, ...rest }: ReportParams) => ({
  ...rest,
  ...(excel === undefined ? {} : { excel: excel ? '1' : '0' }),
});

type NodeFs = typeof import('node:fs');

/** node:fs without importing it, so a browser bundle of the SDK never reaches for it. */
function nodeFs(): NodeFs {
  const fs = (
    globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
  ).process?.getBuiltinModule?.('fs') as NodeFs | undefined;
  if (!fs)
    throw new Error(
      'reports.download() writes a file, which needs Node.js (20.16 or later); elsewhere read the stream of reports.sales() and the others',
    );
  return fs;
}

/**
 * Reports as files: CSV (or JSON lines with `format: 'json'`), streamed as the server reads them from
 * its database, so a report may be larger than memory. The columns are listed in REPORT_COLUMNS.
 */
export class ReportsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * One row per ticket sold: order, buyer, holder, type, price and tax, status, channel, source, paid at, refunded.
   * @example const csv = await new Response(await tickets.reports.sales({ event: event.id })).text()
   */
  sales(params: SalesReportParams = {}): Promise<ReportStream> {
    return this.open('sales', params);
  }

  /**
   * One row per ticket: first admission (time, list, gate, device), re-entries, declined, no-show.
   * @example for await (const chunk of await tickets.reports.attendance({ event: event.id })) process.stdout.write(chunk)
   */
  attendance(params: AttendanceReportParams = {}): Promise<ReportStream> {
    return this.open('attendance', params);
  }

  /**
   * One row per money movement: payments, refunds, invoices and credit notes, with net, tax and gross.
   * @example const stream = await tickets.reports.revenue({ from: '2026-01-01', to: '2027-01-01', format: 'json' })
   */
  revenue(params: RevenueReportParams = {}): Promise<ReportStream> {
    return this.open('revenue', params);
  }

  /**
   * Writes a report to a file (Node.js only) and says how many rows and bytes it holds. The file
   * appears whole when the report is complete (written beside it first), or not at all.
   * @example const { rows } = await tickets.reports.download('sales', { event: event.id }, 'sales.csv')
   */
  async download(
    kind: ReportKind,
    params: ReportParams,
    file: string,
    options: ReportDownloadOptions = {},
  ): Promise<ReportDownload> {
    const fs = nodeFs();
    const stream = await this.open(kind, params);
    const counter = new ReportRowCounter(params.format ?? 'csv');
    const part = `${file}.${crypto.randomUUID().slice(0, 8)}.part`;
    const reader = stream.getReader();
    let bytes = 0;
    try {
      // The file holds buyers' names and addresses: this account's alone.
      const handle = await fs.promises.open(part, 'wx', 0o600);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await handle.write(value);
          bytes += value.byteLength;
          counter.add(value);
          options.onProgress?.({ rows: counter.rows, bytes });
        }
      } finally {
        await handle.close();
      }
      if (options.overwrite) await fs.promises.rename(part, file);
      else await placeNew(fs, part, file);
    } catch (err) {
      await reader.cancel().catch(() => {});
      await fs.promises.rm(part, { force: true });
      throw err;
    }
    return { file, rows: counter.rows, bytes };
  }

  private async open(kind: ReportKind, params: ReportParams): Promise<ReportStream> {
    const { body, lastResponse } = await this.client.requestStream(routes.reports[kind], {
      query: query(params),
    });
    return Object.defineProperty(body, 'lastResponse', {
      value: lastResponse,
      enumerable: false,
    }) as ReportStream;
  }
}

/** Moves `part` to `file` unless `file` exists (EEXIST), without a moment where both could be lost. */
async function placeNew(fs: NodeFs, part: string, file: string): Promise<void> {
  try {
    // A hard link fails if the name is taken, where a rename would replace it.
    await fs.promises.link(part, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw err;
    // A file system without hard links: copy, still refusing to replace.
    await fs.promises.copyFile(part, file, fs.constants.COPYFILE_EXCL);
  }
  await fs.promises.rm(part, { force: true });
}
