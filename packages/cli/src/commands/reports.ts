import { existsSync } from 'node:fs';
import {
  REPORT_KINDS,
  type ReportFormat,
  type ReportKind,
  type ReportParams,
  ReportRowCounter,
  type RevenueReportParams,
  type SalesReportParams,
} from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, type Factory, factoryOf } from '../factory.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';
import { resolveType } from './tickets.js';

/** What `tickets reports <kind>` was asked to do, once its flags are read. */
export interface ReportOptions {
  kind: ReportKind;
  event?: string;
  from?: string;
  to?: string;
  status?: string;
  /** A ticket type id, or its name (with --event). */
  type?: string;
  /** A file, or `-` for stdout; asked for on a terminal when missing. */
  out?: string;
  format: ReportFormat;
  excel: boolean;
  force: boolean;
}

const ABOUT: Record<ReportKind, string> = {
  sales:
    'One row per ticket sold: order, buyer, holder, type, price, tax, status, channel, source, paid at, refunded',
  attendance: 'One row per ticket: first admission (time, list, gate, device), re-entries, declined, no-show',
  revenue:
    'One row per money movement: payments, refunds, invoices and credit notes, with net, tax and gross',
};

const STATUSES: Record<ReportKind, string[]> = {
  sales: ['valid', 'void'],
  attendance: ['valid', 'void'],
  revenue: ['succeeded', 'pending', 'failed', 'issued', 'cancelled'],
};

/** `tickets reports sales|attendance|revenue`: a report streamed to a file (or stdout). */
export function newReportsCommand(
  program: Command,
  run: (f: Factory, o: ReportOptions) => Promise<number> = reportRun,
): Command {
  const reports = program
    .command('reports')
    .description('Reports as files (CSV or JSON lines): sales, attendance, revenue');
  examples(
    reports,
    'tickets reports sales --event evt_… --out sales.csv',
    'tickets reports revenue --from 2026-01-01 --to 2027-01-01 --out revenue-2026.csv --excel',
  );
  for (const kind of REPORT_KINDS) {
    const command = reports
      .command(kind)
      .description(ABOUT[kind])
      .option(
        '--event <event>',
        "only this event's rows (evt_…); default: every event",
        parse.id('evt', 'an event'),
      )
      .option('--from <date>', "from this date or time, inclusive (2026-03-01: midnight in the event's zone)")
      .option('--to <date>', 'up to this date or time, exclusive')
      .addOption(new Option('--status <status>', 'only rows in this status').choices(STATUSES[kind]));
    if (kind !== 'revenue')
      command.option('--type <type>', 'only this ticket type (tt_…, or its name with --event)');
    command
      .option('--out <file>', 'where to write it; - writes to stdout')
      .addOption(
        new Option('--format <format>', 'csv, or json: one JSON object per line')
          .choices(['csv', 'json'])
          .default('csv'),
      )
      .option('--excel', 'start the CSV with a byte order mark, so Excel reads it as UTF-8')
      .option('--force', 'replace the file if it exists')
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        io().exitCode = await run(factoryOf(Context.of(cmd)), {
          kind,
          event: flags.event as string | undefined,
          from: flags.from as string | undefined,
          to: flags.to as string | undefined,
          status: flags.status as string | undefined,
          type: flags.type as string | undefined,
          out: flags.out as string | undefined,
          format: flags.format as ReportFormat,
          excel: Boolean(flags.excel),
          force: Boolean(flags.force),
        });
      });
    examples(
      command,
      `tickets reports ${kind} --event evt_… --out ${kind}.csv`,
      `tickets reports ${kind} --from 2026-03-01 --to 2026-04-01 --format json --out - | jq .`,
      `tickets reports ${kind} --out ${kind}.csv --force --excel`,
    );
  }
  return reports;
}

/** Streams a report to its file (or stdout), with a spinner counting the rows on a terminal. */
export async function reportRun(f: Factory, o: ReportOptions): Promise<number> {
  const out = await askFor(f, o.out, {
    flag: '--out',
    message: 'Write the report to which file? (- for the screen)',
    default: `${o.kind}.${o.format === 'json' ? 'jsonl' : 'csv'}`,
  });
  const toStdout = out === '-';
  if (toStdout && io().stdout.isTTY)
    throw new UsageError(
      'refusing to write a report to the terminal; pipe it (--out - | …) or give a file with --out',
    );
  if (!toStdout && !o.force && existsSync(out))
    throw new UsageError(`${out} exists; use --force to replace it`);

  const client = await f.client();
  const params: ReportParams = {
    event: o.event,
    from: o.from,
    to: o.to,
    status: o.status as ReportParams['status'],
    format: o.format,
    ...(o.excel ? { excel: true } : {}),
  };
  if (o.type) {
    if (o.kind === 'revenue') throw new UsageError('--type: the revenue report is not by ticket type');
    if (!o.type.startsWith('tt_') && !o.event)
      throw new UsageError(
        '--type: give the ticket type by its id (tt_…), or by its name together with --event',
      );
    const type = o.type.startsWith('tt_')
      ? o.type
      : (await resolveType(client, o.event!, o.type, f.prompter)).id;
    Object.assign(params, { ticket_type: type });
  }

  const spinner = await rowSpinner(`Writing the ${o.kind} report…`);
  try {
    const done = toStdout
      ? await toStream(
          await (o.kind === 'revenue'
            ? client.reports.revenue(params as RevenueReportParams)
            : client.reports[o.kind](params as SalesReportParams)),
          o.format,
          spinner.update,
        )
      : await client.reports.download(o.kind, params, out, {
          overwrite: o.force,
          onProgress: spinner.update,
        });
    spinner.stop();
    if (toStdout) return EXIT.ok;
    await f.out.result({ file: out, rows: done.rows, bytes: done.bytes }, () =>
      f.out.success(`Wrote ${plural(done.rows, 'row')} (${kilobytes(done.bytes)}) to ${out}.`),
    );
    return EXIT.ok;
  } catch (err) {
    spinner.stop();
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${out} exists; use --force to replace it`);
    throw err;
  }
}

/** Copies a report to stdout at the pace stdout takes it, counting rows. */
async function toStream(
  body: ReadableStream<Uint8Array>,
  format: ReportFormat,
  progress: (p: { rows: number; bytes: number }) => void,
): Promise<{ rows: number; bytes: number }> {
  const stdout = io().stdout;
  const counter = new ReportRowCounter(format);
  let bytes = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    counter.add(chunk);
    bytes += chunk.byteLength;
    if (!stdout.write(chunk)) await new Promise((resolve) => stdout.once('drain', resolve));
    progress({ rows: counter.rows, bytes });
  }
  return { rows: counter.rows, bytes };
}

/** An ora spinner on stderr saying how many rows are written, only when stderr is a terminal. */
async function rowSpinner(text: string): Promise<{ update(p: { rows: number }): void; stop(): void }> {
  const stderr = io().stderr;
  // A terminal that reports no width (e.g. under `script`) sends ora into a redraw loop.
  if (!stderr.isTTY || !stderr.columns) return { update: () => {}, stop: () => {} };
  const { default: ora } = await import('ora');
  const spinner = ora({ text, stream: stderr as NodeJS.WriteStream }).start();
  return {
    update: ({ rows }) => {
      spinner.text = `${text} ${plural(rows, 'row')}`;
    },
    stop: () => spinner.stop(),
  };
}

const plural = (n: number, word: string) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
const kilobytes = (bytes: number) =>
  bytes < 1024 * 1024
    ? `${Math.max(1, Math.round(bytes / 1024))} kB`
    : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
