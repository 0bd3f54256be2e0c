import type { AnalyticsParams, EventAnalytics, GroupBy, Interval, SalesPoint } from '@tickets/sdk';
import asciichart from 'asciichart';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, parse } from '../help.js';
import { io } from '../io.js';
import { formatMoney } from '../money.js';
import type { Output } from '../output.js';

const INTERVALS = ['hour', 'day', 'week', 'month'] as const satisfies readonly Interval[];
const GROUPS = ['event', 'ticket_type', 'channel', 'source'] as const satisfies readonly GroupBy[];
const SORTS = ['name', '-name', 'starts_at', '-starts_at', 'sold', '-sold', 'net', '-net'] as const;

/** The flags every analytics command shares, as the API's parameters. */
export interface RangeOptions {
  from?: string;
  to?: string;
  interval?: Interval;
  timezone?: string;
  event?: string[];
  currency?: string;
}

function rangeOptions(command: Command, eventFilter = true): Command {
  command
    .option('--from <date>', 'start, a date (local midnight) or date-time (default: 30 days ago)')
    .option('--to <date>', 'end, exclusive (default: now)')
    .addOption(
      new Option('--interval <interval>', 'bucket size (default: one giving ~100 buckets)').choices(
        INTERVALS,
      ),
    )
    .option('--timezone <zone>', "IANA time zone of the buckets (default: the event's)")
    .option('--currency <code>', 'only money in this currency');
  if (eventFilter)
    command.option(
      '--event <event>',
      'only this event (evt_…); repeat for several',
      (v: string, prev: string[] = []) => [...prev, parse.id('evt', 'an event')(v)],
    );
  return command;
}

const params = (o: RangeOptions): AnalyticsParams => ({
  from: o.from,
  to: o.to,
  interval: o.interval,
  timezone: o.timezone,
  event: o.event,
  currency: o.currency,
});

const percent = (r: number | null) => (r === null ? '–' : `${Math.round(r * 1000) / 10}%`);
const moneyList = (sums: { currency: string; amount: number }[]) =>
  sums.length ? sums.map((m) => formatMoney(m)).join(' + ') : '0';

/** A line chart of a series, drawn for a terminal (as wide as it has points, at most 100). */
function chart(values: number[], height = 8): string {
  if (values.length === 0) return '';
  const step = Math.ceil(values.length / 100);
  const shown = step > 1 ? values.filter((_, i) => i % step === 0) : values;
  const max = Math.max(...shown);
  // asciichart needs a range: a flat line of zeros is drawn one row high.
  return asciichart.plot(shown, {
    height: max === 0 ? 1 : Math.min(height, Math.max(2, max)),
    format: (x: number) => String(Math.round(x)).padStart(7),
  });
}

function axis(points: { label: string }[]): string {
  if (points.length === 0) return '';
  const first = points[0]!.label;
  const last = points.at(-1)!.label;
  return `${' '.repeat(9)}${first}${points.length > 1 ? ` … ${last}` : ''}`;
}

async function dashboard(out: Output, name: string, a: EventAnalytics): Promise<void> {
  const money = (amount: number) => formatMoney({ amount, currency: a.money.currency });
  const inv = a.inventory;
  out.line(
    out.style.bold(
      `${name} — ${a.from.slice(0, 10)} to ${a.to.slice(0, 10)} (${a.timezone}, by ${a.interval})`,
    ),
  );
  out.line();
  out.details([
    [
      'Sold',
      `${inv.sold}${inv.capacity === null ? '' : ` of ${inv.capacity} (${percent(inv.sell_through)})`}, ${inv.held} held`,
    ],
    ['Gross', money(a.money.gross)],
    [
      'Refunded',
      `${money(a.money.refunded)} (${a.refunds.count} refunds, ${percent(a.refunds.rate)} of orders)`,
    ],
    ['Net', money(a.money.net)],
    [
      'Stripe fees',
      a.money.fees === null ? 'pending (read a moment after each payment)' : money(a.money.fees),
    ],
    ['Tax', a.money.tax.map((t) => `${money(t.tax)} at ${t.rate / 100}%`).join(', ') || null],
    [
      'Orders',
      a.orders.count
        ? `${a.orders.count} (${a.orders.average_tickets?.toFixed(1)} tickets, ${money(Math.round(a.orders.average_value ?? 0))} on average)`
        : '0',
    ],
    [
      'Check-in',
      `${a.checkins.admitted} of ${a.checkins.valid_tickets} admitted (${percent(a.checkins.checkin_rate)}), ${a.checkins.inside} inside${a.checkins.no_shows === null ? '' : `, ${a.checkins.no_shows} no-shows`}`,
    ],
    [
      'Checkouts',
      a.holds.paid + a.holds.expired
        ? `${a.holds.paid} paid, ${a.holds.expired} abandoned (${percent(a.holds.conversion)} converted)`
        : null,
    ],
  ]);
  out.line();
  out.line(out.style.bold(`Tickets sold per ${a.interval}`));
  out.line(chart(a.sales.map((p) => p.tickets)));
  out.line(axis(a.sales));
  out.line();
  out.line(
    out.style.bold(`Arrivals per 15 minutes (doors ${a.checkins.arrivals[4]?.label.slice(11, 16) ?? ''})`),
  );
  out.line(
    chart(
      a.checkins.arrivals.map((p) => p.admitted),
      6,
    ),
  );
  out.line(axis(a.checkins.arrivals));
  out.line();
  await out.table(
    ['TYPE', 'SOLD', 'HELD', 'CAPACITY', 'AVAILABLE', 'SELL-THROUGH'],
    inv.ticket_types.map((t) => [
      t.name,
      t.sold,
      t.held,
      t.capacity ?? '∞',
      t.available ?? '∞',
      percent(t.sell_through),
    ]),
  );
  if (a.by_source.length > 1 || a.by_source[0]?.key !== 'direct') {
    out.line();
    await out.table(
      ['SOURCE', 'ORDERS', 'TICKETS', 'GROSS'],
      a.by_source.map((b) => [b.name, b.orders, b.tickets, moneyList(b.gross)]),
    );
  }
}

export interface EventAnalyticsOptions extends RangeOptions {
  event: string[];
}

/** `tickets analytics evt_…`: the dashboard on a terminal, its figures as lines when piped, or --json. */
export async function eventAnalyticsRun(f: Factory, o: EventAnalyticsOptions): Promise<number> {
  const client = await f.client();
  const id = o.event[0]!;
  const { event: _, ...range } = params(o);
  const [a, event] = await f.out.spin(
    'Loading…',
    Promise.all([client.analytics.event(id, range), client.events.get(id)]),
  );
  await f.out.result(a, async () => {
    if (f.out.tty) return dashboard(f.out, event.name, a);
    // Piped: one figure per line, tab-separated, for scripts.
    const rows: [string, string | number | null][] = [
      ['sold', a.inventory.sold],
      ['capacity', a.inventory.capacity],
      ['sell_through', a.inventory.sell_through],
      ['gross', a.money.gross],
      ['refunded', a.money.refunded],
      ['net', a.money.net],
      ['currency', a.money.currency],
      ['orders', a.orders.count],
      ['admitted', a.checkins.admitted],
      ['checkin_rate', a.checkins.checkin_rate],
    ];
    await f.out.table(['FIGURE', 'VALUE'], rows);
  });
  return EXIT.ok;
}

export interface SalesOptions extends RangeOptions {
  groupBy?: GroupBy;
}

function salesRows(points: SalesPoint[], key: string | null) {
  return points.map((p) => [
    p.label,
    ...(key === null ? [] : [key]),
    p.tickets,
    p.orders,
    moneyList(p.gross),
  ]);
}

/** `tickets analytics sales`: tickets over time (a chart on a terminal), grouped if asked. */
export async function salesRun(f: Factory, o: SalesOptions): Promise<number> {
  const client = await f.client();
  const sales = await f.out.spin('Loading…', client.analytics.sales({ ...params(o), group_by: o.groupBy }));
  await f.out.result(sales, async () => {
    const grouped = sales.group_by !== null;
    if (f.out.tty) {
      f.out.line(
        f.out.style.bold(
          `${sales.totals.tickets} tickets, ${sales.totals.orders} orders, ${moneyList(sales.totals.gross)} — ${sales.from.slice(0, 10)} to ${sales.to.slice(0, 10)} (${sales.timezone}, by ${sales.interval})`,
        ),
      );
      const total = sales.series[0]?.points.map((_, i) =>
        sales.series.reduce((s, x) => s + (x.points[i]?.tickets ?? 0), 0),
      );
      f.out.line(chart(total ?? []));
      f.out.line(axis(sales.series[0]?.points ?? []));
      f.out.line();
    }
    await f.out.table(
      [
        'BUCKET',
        ...(grouped ? [(sales.group_by as string).toUpperCase().replace('_', ' ')] : []),
        'TICKETS',
        'ORDERS',
        'GROSS',
      ],
      sales.series.flatMap((x) =>
        salesRows(
          // On a terminal, the buckets with sales; piped, every bucket (a script may chart them).
          f.out.tty ? x.points.filter((p) => p.orders > 0) : x.points,
          grouped ? (x.name ?? x.key ?? '') : null,
        ),
      ),
    );
  });
  return EXIT.ok;
}

export interface EventsListOptions extends RangeOptions {
  sort?: (typeof SORTS)[number];
  limit: number;
  all: boolean;
}

export async function eventsListRun(f: Factory, o: EventsListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'events',
    (limit) => client.analytics.events({ ...params(o), sort: o.sort, limit }),
    o,
  );
  await f.out.result(list, () =>
    f.out.table(
      ['EVENT', 'NAME', 'STATUS', 'SOLD', 'CAPACITY', 'SELL-THROUGH', 'GROSS', 'NET', 'CHECK-IN'],
      list.map((e) => [
        e.event_id,
        e.name,
        e.status,
        e.sold,
        e.capacity ?? '∞',
        percent(e.sell_through),
        formatMoney({ amount: e.gross, currency: e.currency }),
        formatMoney({ amount: e.net, currency: e.currency }),
        percent(e.checkin_rate),
      ]),
    ),
  );
  return EXIT.ok;
}

export async function usersRun(f: Factory, o: RangeOptions): Promise<number> {
  const client = await f.client();
  const u = await f.out.spin('Loading…', client.analytics.users(params(o)));
  await f.out.result(u, async () => {
    f.out.details([
      ['Buyers', u.buyers],
      ['New', u.new_buyers],
      ['Returning', u.returning_buyers],
      ['Repeat rate', percent(u.repeat_rate)],
      ['Tickets per buyer', u.tickets_per_buyer === null ? null : u.tickets_per_buyer.toFixed(2)],
      ['Marketing opt-in', percent(u.marketing_opt_in_rate)],
      [
        'By country',
        u.by_country
          .slice(0, 8)
          .map((c) => `${c.country ?? 'unknown'} ${c.buyers}`)
          .join(', ') || null,
      ],
    ]);
    if (u.top_buyers.length) {
      f.out.line();
      await f.out.table(
        ['BUYER', 'NAME', 'ORDERS', 'TICKETS', 'SPENT'],
        u.top_buyers.map((b) => [b.email, b.name, b.orders, b.tickets, moneyList(b.spent)]),
      );
    }
  });
  return EXIT.ok;
}

export async function revenueRun(f: Factory, o: RangeOptions): Promise<number> {
  const client = await f.client();
  const r = await f.out.spin('Loading…', client.analytics.revenue(params(o)));
  await f.out.result(r, async () => {
    if (f.out.tty) {
      for (const t of r.totals)
        f.out.line(
          `${f.out.style.bold(t.currency)}  paid ${formatMoney({ amount: t.gross, currency: t.currency })}, refunded ${formatMoney({ amount: t.refunds, currency: t.currency })}, Stripe fees ${t.fees === null ? 'pending' : formatMoney({ amount: t.fees, currency: t.currency })}, net ${f.out.style.bold(formatMoney({ amount: t.net, currency: t.currency }))}`,
        );
      f.out.line();
    }
    await f.out.table(
      ['BUCKET', 'CURRENCY', 'PAID', 'REFUNDED', 'STRIPE FEES', 'NET'],
      (f.out.tty ? r.series.filter((p) => p.gross || p.refunds) : r.series).map((p) => [
        p.label,
        p.currency,
        formatMoney({ amount: p.gross, currency: p.currency }),
        formatMoney({ amount: p.refunds, currency: p.currency }),
        // Not recorded yet: Stripe's fee is read a moment after the payment.
        p.fees === null ? 'pending' : formatMoney({ amount: p.fees, currency: p.currency }),
        formatMoney({ amount: p.net, currency: p.currency }),
      ]),
    );
  });
  return EXIT.ok;
}

export function registerAnalytics(program: Command): void {
  const analytics = program
    .command('analytics')
    .description("The organizer's numbers: an event's dashboard, sales, events, buyers, revenue");
  // `tickets analytics evt_…` is `tickets analytics event evt_…`: the default subcommand, so that the
  // range flags belong to each subcommand (on the parent they would swallow those of `sales` and others).
  rangeOptions(
    analytics
      .command('event', { isDefault: true })
      .description("An event's dashboard: figures, sales and arrivals charts, ticket types")
      .argument('<event>', 'the event (evt_…)', parse.id('evt', 'an event')),
    false,
  ).action(async (event: string, flags: RangeOptions, cmd: Command) => {
    io().exitCode = await eventAnalyticsRun(factoryOf(Context.of(cmd)), { ...flags, event: [event] });
  });
  examples(
    analytics.commands.find((c) => c.name() === 'event')!,
    'tickets analytics evt_…',
    'tickets analytics event evt_… --from 2026-03-01 --interval day --json',
  );
  examples(
    analytics,
    'tickets analytics evt_…',
    'tickets analytics evt_… --from 2026-03-01 --interval day --json',
    'tickets analytics sales --group-by event',
    'tickets analytics events --sort -net',
    'tickets analytics revenue --interval month --from 2026-01-01',
  );
  const sub = (name: string, description: string) =>
    rangeOptions(analytics.command(name).description(description));
  const run =
    <O>(fn: (f: Factory, o: O) => Promise<number>, shape: (flags: Record<string, unknown>) => O) =>
    async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await fn(factoryOf(Context.of(cmd)), shape(flags));
    };

  examples(
    sub('sales', 'Tickets, orders and money over time across events').addOption(
      new Option('--group-by <dimension>', 'split by event, ticket type, channel or source').choices(GROUPS),
    ),
    'tickets analytics sales --from 2026-03-01 --to 2026-04-01 --interval day',
    'tickets analytics sales --group-by source --json',
  ).action(run(salesRun, (flags) => flags as SalesOptions));

  examples(
    limitOptions(
      sub('events', 'One row per event: sold, sell-through, gross, net, check-in rate'),
      30,
    ).addOption(
      new Option('--sort <field>', 'name, starts_at, sold or net; "-" first for descending').choices(SORTS),
    ),
    'tickets analytics events --sort -net',
  ).action(
    run(eventsListRun, (flags) => ({
      ...(flags as Omit<EventsListOptions, 'all'>),
      all: Boolean(flags.all),
    })),
  );

  examples(
    sub('users', 'Buyers: new and returning, repeat rate, opt-ins, top buyers'),
    'tickets analytics users',
  ).action(run(usersRun, (flags) => flags as RangeOptions));
  examples(
    sub('revenue', 'Paid, refunded and net per bucket and currency'),
    'tickets analytics revenue --interval month',
  ).action(run(revenueRun, (flags) => flags as RangeOptions));
}
