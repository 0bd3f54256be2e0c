import { Transform } from 'node:stream';
import { type Stringifier, stringify } from 'csv-stringify';

/** Money in a report: minor units shown in major units with the currency's digits (2500 EUR → 25.00). */
export class Amount {
  constructor(
    readonly minor: number,
    readonly currency: string,
  ) {}

  /** Exact decimal text, never through floating point: 2500 → "25.00", -5 → "-0.05", JPY 1500 → "1500". */
  toString(): string {
    const digits = currencyDigits(this.currency);
    const sign = this.minor < 0 ? '-' : '';
    const abs = String(Math.abs(this.minor));
    if (digits === 0) return `${sign}${abs}`;
    const padded = abs.padStart(digits + 1, '0');
    return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
  }

  toJSON(): number {
    return Number(this.toString());
  }
}

/** What a report's cell may hold; strings are text (names, ids, times), numbers and amounts are data. */
export type Cell = string | number | boolean | Amount | null;

const DIGITS = new Map<string, number>();
/** Decimal places of the currency's minor unit, as Intl knows them (EUR 2, JPY 0, KWD 3). */
export function currencyDigits(currency: string): number {
  let digits = DIGITS.get(currency);
  if (digits === undefined) {
    digits =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2;
    DIGITS.set(currency, digits);
  }
  return digits;
}

const WALL_CLOCK = new Map<string, Intl.DateTimeFormat>();
function wallClock(timeZone: string): Intl.DateTimeFormat {
  let format = WALL_CLOCK.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    WALL_CLOCK.set(timeZone, format);
  }
  return format;
}

/** The zone's wall clock at an instant, as if that were UTC (so wall − instant is the offset). */
function wallMs(utcMs: number, timeZone: string): number {
  const p: Record<string, number> = {};
  for (const part of wallClock(timeZone).formatToParts(utcMs))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * An instant in the zone's local time, ISO-8601 with its offset (2026-03-29T03:30:00+02:00): the
 * offset keeps the hour a DST change repeats unambiguous.
 */
export function localTime(iso: string | null, timeZone: string): string | null {
  if (!iso) return null;
  const at = Date.parse(iso);
  const utcSecond = Math.floor(at / 1000) * 1000;
  const wall = wallMs(utcSecond, timeZone);
  const offset = Math.round((wall - utcSecond) / 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${new Date(wall).toISOString().slice(0, 19)}${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/**
 * A wall-clock time in a zone as a UTC instant (ms). In a DST gap it moves forward by the gap; in an
 * hour that repeats it takes the first.
 */
export function zonedToUtc(wall: number, timeZone: string): number {
  const first = wall - (wallMs(wall, timeZone) - wall);
  const offset = wallMs(first, timeZone) - first;
  return wall - offset;
}

/**
 * A report's bound (`from`, `to`) as stored timestamps compare: a date is midnight in `timeZone`, a
 * date-time without an offset is wall-clock time there, one with an offset is that instant.
 */
export function boundToUtc(value: string, timeZone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?$/.exec(value);
  if (!m) return new Date(value).toISOString();
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0'] = m;
  const wall = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number(frac.slice(0, 3).padEnd(3, '0')),
  );
  return new Date(zonedToUtc(wall, timeZone)).toISOString();
}

/**
 * OWASP's rule against formula injection: a text cell a spreadsheet would run as a formula (it starts
 * with =, +, -, @, a tab or a carriage return) is prefixed with a single quote. Numbers and amounts
 * are data and are written as they are (a refund's -25.00 stays a number).
 */
export function neutralised(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** Rows (arrays of cells, in column order) to CSV text with a header, through csv-stringify. */
export function csvWriter(columns: readonly string[], options: { bom: boolean }): Stringifier {
  return stringify({
    header: true,
    columns: [...columns],
    bom: options.bom,
    cast: {
      string: neutralised,
      boolean: (v) => (v ? 'true' : 'false'),
      object: (v) => String(v),
    },
  });
}

/** Rows to JSON lines: one object per line, keyed by column; amounts as numbers in major units. */
export function jsonLinesWriter(columns: readonly string[]): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(cells: Cell[], _encoding, done) {
      const row: Record<string, Cell> = {};
      for (const [i, name] of columns.entries()) row[name] = cells[i] ?? null;
      done(null, `${JSON.stringify(row)}\n`);
    },
  });
}

/** Maps each database row to the report's cells, one object in, one array out. */
export function rowMapper<R>(toCells: (row: R) => Cell[]): Transform {
  return new Transform({
    objectMode: true,
    transform(row: R, _encoding, done) {
      try {
        done(null, toCells(row));
      } catch (err) {
        done(err as Error);
      }
    },
  });
}
