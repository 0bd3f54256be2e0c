import type { Event, NotOnSaleReason, TicketType, TicketTypeUpdateInput } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, NONE, orNull, parse } from '../help.js';
import { formatMoney, toMinorUnits } from '../money.js';
import { ask, confirmAction } from '../prompt.js';

interface TypeFlags {
  name?: string;
  price?: string;
  capacity?: number;
  description?: string;
  min?: number;
  max?: number | typeof NONE;
  hidden?: boolean;
  sort?: number;
  /** A date, or `none` on update. */
  salesStart?: string;
  salesEnd?: string;
  /** Basis points. */
  taxRate?: number;
}

function typeOptions(command: Command, update: boolean): Command {
  const clear = update ? ' ("none" clears it)' : '';
  return command
    .option('--name <name>', 'ticket type name, e.g. "General admission"')
    .option('--price <price>', "price in the event's currency, e.g. 25.00 (0 for free)", parse.price)
    .option('--capacity <n>', 'how many can be sold', parse.int(0))
    .option('--description <text>', `description${update ? ' ("" clears it)' : ''}`)
    .option('--min <n>', 'fewest per order (default 1)', parse.int(1))
    .option('--max <n>', `most per order${clear}`, update ? parse.intOrNone(1) : parse.int(1))
    .option('--hidden', 'not offered publicly (comps, staff tickets)')
    .option('--no-hidden', 'offered publicly (the default)')
    .option('--sort <n>', 'position among the types, lowest first', parse.int(-1_000_000))
    .option(
      '--tax-rate <percent>',
      `tax included in the price, in percent, e.g. 19 or 7.5 (default: the organization's, see tickets billing set --default-tax-rate)`,
      parse.taxRate,
    )
    .option(
      '--sales-start <date>',
      `when its sales open, in the event's time zone (default: the event's)${clear}`,
      update ? parse.dateOrNone : parse.date,
    )
    .option(
      '--sales-end <date>',
      `when its sales close (default: the event's)${clear}`,
      update ? parse.dateOrNone : parse.date,
    );
}

/** Turns flags into an API body: prices in the event's currency, dates in its time zone. */
async function typeBody(
  f: TypeFlags,
  event: Pick<Event, 'currency' | 'timezone'>,
): Promise<TicketTypeUpdateInput> {
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, event.timezone, flag);
  const body: TicketTypeUpdateInput = {
    name: f.name,
    price:
      f.price === undefined
        ? undefined
        : { amount: toMinorUnits(f.price, event.currency), currency: event.currency },
    capacity: f.capacity,
    min_per_order: f.min,
    max_per_order: orNull(f.max),
    hidden: f.hidden,
    sort_order: f.sort,
    sales_start_at: when(f.salesStart, '--sales-start'),
    sales_end_at: when(f.salesEnd, '--sales-end'),
    tax_rate: f.taxRate,
  };
  if (f.description !== undefined) body.description = f.description === '' ? null : f.description;
  for (const key of Object.keys(body) as (keyof TicketTypeUpdateInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

async function showType(ctx: Context, t: TicketType, zone: string): Promise<void> {
  const { formatDateTime } = await import('../time.js');
  ctx.out.details([
    ['ID', t.id],
    ['Event', t.event_id],
    ['Name', t.name],
    ['Price', formatMoney(t.price)],
    ['Tax', `${t.tax_rate / 100}% included`],
    ['Capacity', t.capacity],
    ['Per order', `${t.min_per_order}–${t.max_per_order ?? 'any'}`],
    ['Hidden', t.hidden],
    ['Sort order', t.sort_order],
    ['Sales start', formatDateTime(t.sales_start_at, zone, true)],
    ['Sales end', formatDateTime(t.sales_end_at, zone, true)],
    ['Description', t.description],
  ]);
}

const REASONS: Record<NotOnSaleReason, string> = {
  event_not_published: 'event not published',
  event_cancelled: 'event cancelled',
  event_completed: 'event completed',
  event_ended: 'event ended',
  sales_not_started: 'sales not started',
  sales_ended: 'sales ended',
  sold_out: 'sold out',
};

export function registerTypes(program: Command): void {
  const types = program
    .command('types')
    .description("An event's ticket types: price, capacity, sales window");
  examples(
    types,
    'tickets types list evt_…',
    'tickets types create evt_… --name GA --price 25.00 --capacity 200',
  );

  examples(
    typeOptions(
      types
        .command('create')
        .description('Add a ticket type to an event')
        .argument('<event>', 'the event (evt_…)'),
      false,
    ).action(async (eventId: string, f: TypeFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const name = await ask(f.name, { flag: '--name', message: 'Ticket type name' });
      const price = await ask(f.price, { flag: '--price', message: 'Price (e.g. 25.00)' });
      const capacity =
        f.capacity ??
        parse.int(0)(await ask(undefined, { flag: '--capacity', message: 'How many can be sold' }));
      // The price's currency and the dates' zone are the event's.
      const event = await ctx.out.spin('Loading the event…', client.events.get(eventId));
      const body = await typeBody({ ...f, name, price, capacity }, event);
      const type = await ctx.out.spin(
        'Creating…',
        client.ticketTypes.create(eventId, body as Parameters<typeof client.ticketTypes.create>[1]),
      );
      await ctx.out.result(type, (t) => showType(ctx, t, event.timezone));
    }),
    'tickets types create evt_… --name "General admission" --price 25.00 --capacity 200',
    'tickets types create evt_… --name "Early bird" --price 19 --capacity 50 --max 4 --sales-end "2026-11-30 23:59"',
    'tickets types create evt_… --name Crew --price 0 --capacity 20 --hidden --json',
  );

  examples(
    types
      .command('list')
      .description("List an event's ticket types in sort order")
      .argument('<event>', 'the event (evt_…)')
      .option('--all', 'include hidden types')
      .action(async (eventId: string, o: { all?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const list = await ctx.out.spin(
          'Loading…',
          client.ticketTypes.list(eventId, { includeHidden: o.all }),
        );
        await ctx.out.result(list, async () => {
          const { formatDateTime } = await import('../time.js');
          const zone = ctx.out.tty && list.length ? (await client.events.get(eventId)).timezone : 'UTC';
          await ctx.out.table(
            ['ID', 'NAME', 'PRICE', 'CAPACITY', 'PER ORDER', 'SALES START', 'SALES END', 'HIDDEN'],
            list.map((t) => [
              t.id,
              t.name,
              formatMoney(t.price),
              t.capacity,
              `${t.min_per_order}–${t.max_per_order ?? 'any'}`,
              ctx.out.tty ? formatDateTime(t.sales_start_at, zone) : t.sales_start_at,
              ctx.out.tty ? formatDateTime(t.sales_end_at, zone) : t.sales_end_at,
              t.hidden,
            ]),
          );
        });
      }),
    'tickets types list evt_…',
    'tickets types list evt_… --all --json',
  );

  examples(
    typeOptions(
      types
        .command('update')
        .description('Change a ticket type; what you leave out keeps its value')
        .argument('<type-id>', 'the ticket type (tt_…)'),
      true,
    ).action(async (id: string, f: TypeFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const needsEvent =
        f.price !== undefined || [f.salesStart, f.salesEnd].some((v) => v !== undefined && v !== NONE);
      let event: Pick<Event, 'currency' | 'timezone'> = { currency: 'XXX', timezone: 'UTC' };
      if (needsEvent) {
        const current = await ctx.out.spin('Loading…', client.ticketTypes.get(id));
        event = await client.events.get(current.event_id);
      }
      const body = await typeBody(f, event);
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
      const type = await ctx.out.spin('Saving…', client.ticketTypes.update(id, body));
      await ctx.out.result(type, async (t) =>
        showType(ctx, t, needsEvent ? event.timezone : (await client.events.get(t.event_id)).timezone),
      );
    }),
    'tickets types update tt_… --price 30.00',
    'tickets types update tt_… --capacity 250 --max none --no-hidden',
  );

  examples(
    types
      .command('delete')
      .description('Delete a ticket type that has sold or held nothing')
      .argument('<type-id>', 'the ticket type (tt_…)')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        await confirmAction(o.yes, `Delete ticket type ${id}?`);
        await ctx.out.spin('Deleting…', client.ticketTypes.delete(id));
        await ctx.out.result({ id, object: 'ticket_type', deleted: true }, () =>
          ctx.out.success(`Deleted ${id}.`),
        );
      }),
    'tickets types delete tt_… --yes',
  );

  examples(
    program
      .command('availability')
      .description('What is left to sell: capacity, sold, held and available per ticket type')
      .argument('<event>', 'the event (evt_…)')
      .action(async (eventId: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const a = await ctx.out.spin('Loading…', client.ticketTypes.availability(eventId));
        await ctx.out.result(a, async () => {
          const { style } = ctx.out;
          await ctx.out.table(
            ['TYPE', 'PRICE', 'CAPACITY', 'SOLD', 'HELD', 'AVAILABLE', 'ON SALE'],
            a.ticket_types.map((t) => [
              t.name,
              formatMoney(t.price),
              t.capacity,
              t.sold,
              t.held,
              t.available,
              t.on_sale ? style.green('yes') : style.dim(`no: ${t.reason ? REASONS[t.reason] : 'unknown'}`),
            ]),
          );
          if (ctx.out.tty)
            ctx.out.line(
              `\nEvent: ${a.sold} sold, ${a.held} held, ${a.capacity === null ? 'no event-wide limit' : `${a.available} of ${a.capacity} available`}`,
            );
        });
      }),
    'tickets availability evt_…',
    'tickets availability evt_… --json',
  );
}
