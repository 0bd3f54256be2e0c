import type { AutoPaginator, Tickets } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from './context.js';
import { checkDateTime } from './date-input.js';
import { type Factory, factoryOf } from './factory.js';
import { checkPrice } from './money.js';
import type { Cell } from './output.js';

/** Every command's help ends with examples, like gh's. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** What an option of `update` takes to clear a value. (Commander cannot carry a null from a parser.) */
export const NONE = 'none';

/** `none` as null, for the API. */
export const orNull = <T>(value: T | typeof NONE | undefined): T | null | undefined =>
  value === NONE ? null : value;

/** Option parsers: a malformed value is a usage error (exit 2) before anything is sent. */
export const parse = {
  int:
    (min = 0) =>
    (value: string): number => {
      if (!/^-?\d+$/.test(value) || Number(value) < min)
        throw new InvalidArgumentError(
          `Expected a whole number${min > 0 ? ` of at least ${min}` : min === 0 ? ' (0 or more)' : ''}.`,
        );
      return Number(value);
    },
  /** A whole number, or `none` to clear the value. */
  intOrNone:
    (min = 0) =>
    (value: string): number | typeof NONE =>
      value === NONE ? NONE : parse.int(min)(value),
  price: (value: string): string => {
    try {
      return checkPrice(value);
    } catch {
      throw new InvalidArgumentError('Expected a price such as 25.00 or 25.');
    }
  },
  date: (value: string): string => {
    try {
      return checkDateTime(value, '');
    } catch {
      throw new InvalidArgumentError(
        'Expected a date such as "2026-12-31 20:00" or 2026-12-31T20:00:00+01:00.',
      );
    }
  },
  /** A tax rate in percent ("19", "7.5", "19%") as basis points (1900, 750). */
  taxRate: (value: string): number => {
    const m = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*%?\s*$/.exec(value);
    const bp = m ? Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0')) : Number.NaN;
    if (!(bp >= 0 && bp <= 10_000))
      throw new InvalidArgumentError('Expected a rate in percent from 0 to 100, e.g. 19 or 7.5.');
    return bp;
  },
  /** An id of one kind (`ord_…`), refused before anything is sent when it is plainly another. */
  id:
    (prefix: string, what: string) =>
    (value: string): string => {
      if (!new RegExp(`^${prefix}_\\w+$`).test(value))
        throw new InvalidArgumentError(`Expected ${what} id (${prefix}_…), got "${value}".`);
      return value;
    },
  /** A date, or `none` to clear it. */
  dateOrNone: (value: string): string => (value === NONE ? NONE : parse.date(value)),
};

/**
 * A plain `<noun> list` command: every page up to `--limit`, a table on a terminal, the items as
 * JSON with `--json`. Lists with filters build their own.
 */
export function listCommand<T>(
  parent: Command,
  spec: {
    description: string;
    fetch: (client: Tickets) => AutoPaginator<T>;
    head: string[];
    row: (item: T) => Cell[];
    /** Said on stderr after the list (warnings about what it shows). */
    after?: (f: Factory, list: T[]) => Promise<void>;
  },
): Command {
  return limitOptions(parent.command('list').description(spec.description), 1000).action(
    async (o: { limit: number; all?: boolean }, cmd: Command) => {
      const f = factoryOf(Context.of(cmd));
      const client = await f.client();
      const list = await listed(f.ctx, 'rows', () => spec.fetch(client), o);
      await f.out.result(list, () => f.out.table(spec.head, list.map(spec.row)));
      await spec.after?.(f, list);
    },
  );
}

/** `--limit` and `--all` of a list command: at most n rows (default `n`), or every one. */
export function limitOptions(command: Command, n: number): Command {
  return command
    .option('--limit <n>', `at most this many (default ${n})`, parse.int(1), n)
    .option('--all', 'every one, page by page');
}

/**
 * Up to `limit` rows (every row with `all`), and then, on stderr, whether more exist: a list is never
 * cut short without saying so, on a terminal or in --json (stdout stays the rows).
 */
export async function listed<T>(
  ctx: Context,
  what: string,
  page: (size: number) => AutoPaginator<T>,
  o: { limit: number; all?: boolean },
): Promise<T[]> {
  const rows: T[] = [];
  let more = false;
  // One row past the limit tells whether more exist, without another request for a full page.
  const size = o.all ? 100 : Math.min(o.limit + 1, 100);
  const load = async () => {
    for await (const row of page(size)) {
      if (!o.all && rows.length === o.limit) {
        more = true;
        break;
      }
      rows.push(row);
    }
  };
  await ctx.out.spin(`Loading ${what}…`, load());
  if (more)
    ctx.out.info(
      ctx.out.errStyle.dim(`Showing the first ${rows.length} ${what}; more exist: use --limit N or --all.`),
    );
  return rows;
}
