import type { Event, EventCreateInput, EventStatus, EventUpdateInput, Venue } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, limitOptions, listed, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';
import { ask, canPrompt, confirmAction } from '../prompt.js';

const STATUSES = ['draft', 'published', 'cancelled', 'completed'] as const;

interface EventFlags {
  name?: string;
  allowPast?: boolean;
  timezone?: string;
  starts?: string;
  ends?: string;
  currency?: string;
  capacity?: number | typeof NONE;
  slug?: string;
  description?: string;
  venue?: string;
  venueAddress?: string;
  city?: string;
  country?: string;
  transfers?: boolean;
  /** A date, or `none` on update. */
  salesStart?: string;
  salesEnd?: string;
  inventorySlots?: number;
}

/** The flags `events create` and `events update` share; on update `none` clears a value. */
function eventOptions(command: Command, update: boolean): Command {
  const clear = update ? ' ("none" clears it)' : '';
  return command
    .option('--name <name>', 'event name')
    .option('--timezone <zone>', 'IANA time zone the dates are in, e.g. Europe/Berlin')
    .option(
      '--starts <date>',
      'start, e.g. "2026-12-31 20:00" (in the event\'s time zone) or ISO-8601',
      parse.date,
    )
    .option('--ends <date>', 'end, same formats as --starts', parse.date)
    .option('--currency <code>', 'ISO 4217 currency of its prices, e.g. EUR')
    .option(
      '--capacity <n>',
      `limit across all ticket types (default: none)${clear}`,
      update ? parse.intOrNone(0) : parse.int(0),
    )
    .option('--slug <slug>', 'short name for URLs (default: from the name)')
    .option('--description <text>', `description${update ? ' ("" clears it)' : ''}`)
    .option('--venue <name>', `venue name${clear}`)
    .option('--venue-address <address>', 'venue street address')
    .option('--city <city>', 'venue city')
    .option('--country <code>', 'venue country, ISO 3166 two-letter code, e.g. DE')
    .option('--transfers', 'let ticket holders transfer their tickets (the default)')
    .option('--no-transfers', 'do not let ticket holders transfer their tickets')
    .option(
      '--sales-start <date>',
      `when sales open (default: on publishing)${clear}`,
      update ? parse.dateOrNone : parse.date,
    )
    .option(
      '--sales-end <date>',
      `when sales close (default: when the event ends)${clear}`,
      update ? parse.dateOrNone : parse.date,
    )
    .option(
      '--inventory-slots <n>',
      'spread its counters over n rows (1-64, default 1) so several servers sell a hot event at once',
      parse.int(1),
    );
}

/** Turns flags into an API body, reading dates as wall-clock time in `zone`. */
async function eventBody(
  f: EventFlags,
  zone: string,
  currentVenue?: Venue | null,
): Promise<EventUpdateInput> {
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, zone, flag);
  const body: EventUpdateInput = {
    name: f.name,
    slug: f.slug,
    timezone: f.timezone,
    currency: f.currency,
    capacity: orNull(f.capacity),
    transferable: f.transfers,
    starts_at: when(f.starts, '--starts') ?? undefined,
    ends_at: when(f.ends, '--ends') ?? undefined,
    sales_start_at: when(f.salesStart, '--sales-start'),
    sales_end_at: when(f.salesEnd, '--sales-end'),
    inventory_slots: f.inventorySlots,
  };
  if (f.description !== undefined) body.description = f.description === '' ? null : f.description;
  const venueParts = { address: f.venueAddress, city: f.city, country: f.country };
  const hasParts = Object.values(venueParts).some((v) => v !== undefined);
  if (f.venue === NONE) {
    if (hasParts)
      throw new UsageError('--venue none removes the venue; leave out --venue-address, --city and --country');
    body.venue = null;
  } else if (f.venue !== undefined || hasParts) {
    const base = f.venue !== undefined ? { ...currentVenue, name: f.venue } : currentVenue;
    if (!base) throw new UsageError("--venue-address, --city and --country need --venue (the venue's name)");
    body.venue = {
      ...base,
      ...Object.fromEntries(Object.entries(venueParts).filter(([, v]) => v !== undefined)),
    };
  }
  for (const key of Object.keys(body) as (keyof EventUpdateInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

function statusLabel(out: Output, status: EventStatus): string {
  const colour = {
    draft: out.style.yellow,
    published: out.style.green,
    cancelled: out.style.red,
    completed: out.style.dim,
  };
  return colour[status](status);
}

const venueLine = (v: Venue | null) =>
  v ? [v.name, v.address, v.city, v.country].filter(Boolean).join(', ') : '';

/** The key/value view of one event, its times in its own zone. */
export async function showEvent(out: Output, e: Event): Promise<void> {
  const { formatDateTime } = await import('../time.js');
  const at = (iso: string | null) => formatDateTime(iso, e.timezone, true);
  const sales = `${e.sales_start_at ? at(e.sales_start_at) : 'on publishing'} until ${e.sales_end_at ? at(e.sales_end_at) : 'the event ends'}`;
  out.details([
    ['ID', e.id],
    ['Name', e.name],
    ['Status', statusLabel(out, e.status)],
    ['Slug', e.slug],
    ['Starts', at(e.starts_at)],
    ['Ends', at(e.ends_at)],
    ['Time zone', e.timezone],
    ['Venue', venueLine(e.venue)],
    ['Currency', e.currency],
    ['Capacity', e.capacity ?? 'no event-wide limit'],
    ...(e.inventory_slots > 1 ? [['Inventory slots', e.inventory_slots] as [string, number]] : []),
    ['Transfers', e.transferable ? 'allowed' : 'not allowed'],
    ['Sales', sales],
    ['Description', e.description],
  ]);
}

export function registerEvents(program: Command): void {
  const events = program.command('events').description('Create, publish and manage events');
  examples(events, 'tickets events list', 'tickets events show evt_…');

  examples(
    eventOptions(events.command('create').description('Create an event, as a draft'), false)
      .option('--allow-past', 'accept a start in the past (importing past events)')
      .action(async (f: EventFlags, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const { checkTimeZone, localZone } = await import('../time.js');
        const name = await ask(f.name, { flag: '--name', message: 'Event name' });
        const timezone = checkTimeZone(
          await ask(f.timezone, { flag: '--timezone', message: 'Time zone', default: localZone() }),
        );
        const starts = await ask(f.starts, { flag: '--starts', message: 'Starts (e.g. 2026-12-31 20:00)' });
        const ends = await ask(f.ends, { flag: '--ends', message: 'Ends (e.g. 2027-01-01 02:00)' });
        const currency = await ask(f.currency, { flag: '--currency', message: 'Currency (e.g. EUR)' });
        const body = await eventBody({ ...f, name, timezone, starts, ends, currency }, timezone);
        if (f.allowPast) (body as EventCreateInput).allow_past = true;
        const event = await ctx.out.spin(
          'Creating the event…',
          client.events.create(body as EventCreateInput),
        );
        await ctx.out.result(event, async (e) => {
          await showEvent(ctx.out, e);
          ctx.out.info(
            `\nNext: add ticket types with  tickets types create ${e.id} --name … --price … --capacity …`,
          );
        });
      }),
    'tickets events create --name "Jazz Night" --timezone Europe/Berlin --currency EUR \\\n      --starts "2026-12-31 20:00" --ends "2027-01-01 02:00" --venue "Blue Note" --city Berlin --country DE',
    'tickets events create --name Expo --timezone Asia/Tokyo --currency JPY --starts 2027-05-01T10:00+09:00 \\\n      --ends "2027-05-01 18:00" --capacity 500 --no-transfers --json',
  );

  examples(
    limitOptions(events.command('list'), 30)
      .description('List events, soonest first')
      .addOption(new Option('--status <status>', 'only events in this status').choices(STATUSES))
      .option(
        '--from <date>',
        'only events starting at or after this (your local time, or ISO-8601)',
        parse.date,
      )
      .option('--to <date>', 'only events starting before this', parse.date)
      .option('--search <text>', 'search names, slugs, descriptions and venues')
      .action(
        async (
          o: {
            status?: EventStatus;
            from?: string;
            to?: string;
            search?: string;
            limit: number;
            all?: boolean;
          },
          cmd: Command,
        ) => {
          const ctx = Context.of(cmd);
          const client = await ctx.client();
          const { parseDateTime, formatDateTime, localZone } = await import('../time.js');
          const starts_after = o.from ? parseDateTime(o.from, localZone(), '--from') : undefined;
          const starts_before = o.to ? parseDateTime(o.to, localZone(), '--to') : undefined;
          const list = await listed(
            ctx,
            'events',
            (limit) =>
              client.events.list({ status: o.status, starts_after, starts_before, q: o.search, limit }),
            o,
          );
          await ctx.out.result(list, () =>
            ctx.out.table(
              ['ID', 'NAME', 'STATUS', 'STARTS', 'TIME ZONE', 'VENUE'],
              list.map((e) => [
                e.id,
                e.name,
                statusLabel(ctx.out, e.status),
                formatDateTime(e.starts_at, e.timezone),
                e.timezone,
                venueLine(e.venue),
              ]),
            ),
          );
        },
      ),
    'tickets events list',
    'tickets events list --status published --from 2026-12-01 --to 2027-01-01',
    'tickets events list --search jazz --limit 100 --json',
  );

  examples(
    events
      .command('show')
      .description('Show one event')
      .argument('<id>', 'the event (evt_…)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const event = await ctx.out.spin('Loading…', client.events.get(id));
        await ctx.out.result(event, (e) => showEvent(ctx.out, e));
      }),
    'tickets events show evt_01jd6x3k7qf0v8c6w2x9yq4e5b',
    'tickets events show evt_01jd6x3k7qf0v8c6w2x9yq4e5b --json',
  );

  examples(
    eventOptions(
      events
        .command('update')
        .description(
          "Change an event; what you leave out keeps its value. Dates are in the event's time zone",
        )
        .argument('<id>', 'the event (evt_…)'),
      true,
    ).action(async (id: string, f: EventFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const needsCurrent =
        [f.starts, f.ends, f.salesStart, f.salesEnd].some((v) => v !== undefined && v !== NONE) ||
        [f.venueAddress, f.city, f.country].some((v) => v !== undefined);
      const current = needsCurrent ? await ctx.out.spin('Loading…', client.events.get(id)) : undefined;
      if (f.timezone) (await import('../time.js')).checkTimeZone(f.timezone);
      const zone = f.timezone ?? current?.timezone ?? 'UTC';
      const body = await eventBody(f, zone, current?.venue);
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
      const event = await ctx.out.spin('Saving…', client.events.update(id, body));
      await ctx.out.result(event, (e) => showEvent(ctx.out, e));
    }),
    'tickets events update evt_… --starts "2026-12-31 21:00" --ends "2027-01-01 03:00"',
    'tickets events update evt_… --capacity none --sales-end "2026-12-31 18:00" --json',
  );

  examples(
    events
      .command('delete')
      .description('Delete an event that has no orders (cancel it otherwise)')
      .argument('<id>', 'the event (evt_…)')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const label = o.yes ? id : await describe(ctx, id);
        await confirmAction(o.yes, `Delete ${label}? This cannot be undone.`);
        await ctx.out.spin('Deleting…', client.events.delete(id));
        await ctx.out.result({ id, object: 'event', deleted: true }, () =>
          ctx.out.success(`Deleted ${label}.`),
        );
      }),
    'tickets events delete evt_…',
    'tickets events delete evt_… --yes',
  );

  examples(
    events
      .command('publish')
      .description('Publish a draft: it goes on sale within its sales window')
      .argument('<id>', 'the event (evt_…)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const event = await ctx.out.spin('Publishing…', client.events.publish(id));
        await ctx.out.result(event, (e) => ctx.out.success(`Published "${e.name}" (${e.id}).`));
      }),
    'tickets events publish evt_…',
  );

  examples(
    events
      .command('cancel')
      .description(
        'Cancel an event: sales stop, its tickets are refused at the door, holders are told; --refund-all refunds every paid order',
      )
      .argument('<id>', 'the event (evt_…)')
      .option(
        '--refund-all',
        'refund every paid order in full, through its payment provider, and wait for it',
      )
      .option('--message <text>', 'told to every ticket holder in the cancellation e-mail')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(
        async (id: string, o: { yes?: boolean; refundAll?: boolean; message?: string }, cmd: Command) => {
          const ctx = Context.of(cmd);
          const client = await ctx.client();
          const label = o.yes ? id : await describe(ctx, id);
          await confirmAction(
            o.yes,
            `Cancel ${label}? Sales stop and every ticket is void${o.refundAll ? '; every paid order is refunded' : ''}.`,
          );
          const event = await ctx.out.spin(
            'Cancelling…',
            client.events.cancel(id, {
              refund: o.refundAll ? 'all' : 'none',
              ...(o.message ? { message: o.message } : {}),
            }),
          );
          // The refunds run on the server as a job: follow it until it is done (Ctrl-C leaves it running).
          let state = await client.events.cancellation(id);
          const bar = ctx.out.progress('Refunding');
          while (state.status === 'refunding') {
            bar.update(state.orders_refunded + state.orders_failed, state.orders_total);
            await new Promise((r) => setTimeout(r, 500));
            state = await client.events.cancellation(id);
          }
          bar.end();
          // --json: the event, with its cancellation's outcome.
          await ctx.out.result({ ...event, cancellation: state }, ({ cancellation: c }) => {
            ctx.out.success(`Cancelled "${event.name}" (${event.id}).`);
            if (c.refund === 'all')
              ctx.out.info(
                `Refunded ${c.orders_refunded} of ${c.orders_total} paid orders${c.orders_failed ? `; ${c.orders_failed} refused by the provider (their orders are flagged)` : ''}.`,
              );
          });
          if (state.orders_failed > 0) io().exitCode = 1;
        },
      ),
    'tickets events cancel evt_… --yes',
    'tickets events cancel evt_… --refund-all --message "The venue flooded; we are sorry." --yes',
  );

  examples(
    events
      .command('complete')
      .description('Mark a published event as completed')
      .argument('<id>', 'the event (evt_…)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const event = await ctx.out.spin('Completing…', client.events.complete(id));
        await ctx.out.result(event, (e) => ctx.out.success(`Marked "${e.name}" (${e.id}) completed.`));
      }),
    'tickets events complete evt_…',
  );
}

/** Names the event in a confirmation question, when someone is there to read it. */
async function describe(ctx: Context, id: string): Promise<string> {
  if (!canPrompt()) return id;
  const client = await ctx.client();
  const e = await ctx.out.spin('Loading…', client.events.get(id));
  return `"${e.name}" (${e.id})`;
}
