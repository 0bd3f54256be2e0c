import type { Event, EventCreateInput, EventStatus, EventUpdateInput, Venue } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import { type Output, printable } from '../output.js';
import { checkUploadFile, shellWord, uploadFile } from './media.js';

const STATUSES = ['draft', 'published', 'cancelled', 'completed'] as const;

/** The fields `events create` and `events update` share, as their flags give them. */
export interface EventFields {
  name?: string;
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
  o: EventFields,
  zone: string,
  currentVenue?: Venue | null,
): Promise<EventUpdateInput> {
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, zone, flag);
  const body: EventUpdateInput = {
    name: o.name,
    slug: o.slug,
    timezone: o.timezone,
    currency: o.currency,
    capacity: orNull(o.capacity),
    transferable: o.transfers,
    starts_at: when(o.starts, '--starts') ?? undefined,
    ends_at: when(o.ends, '--ends') ?? undefined,
    sales_start_at: when(o.salesStart, '--sales-start'),
    sales_end_at: when(o.salesEnd, '--sales-end'),
    inventory_slots: o.inventorySlots,
  };
  if (o.description !== undefined) body.description = o.description === '' ? null : o.description;
  const venueParts = { address: o.venueAddress, city: o.city, country: o.country };
  const hasParts = Object.values(venueParts).some((v) => v !== undefined);
  if (o.venue === NONE) {
    if (hasParts)
      throw new UsageError('--venue none removes the venue; leave out --venue-address, --city and --country');
    body.venue = null;
  } else if (o.venue !== undefined || hasParts) {
    const base = o.venue !== undefined ? { ...currentVenue, name: o.venue } : currentVenue;
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
    [
      'Cover',
      e.cover ? `${e.cover.id} ${e.cover.urls?.card ?? e.cover.video?.original ?? ''}`.trim() : undefined,
    ],
    ['Gallery', e.gallery?.length ? `${e.gallery.length} (tickets media list --event ${e.id})` : undefined],
    ['Description', e.description],
  ]);
}

/** What `tickets events create` was asked to do, once its flags are read. */
export interface EventCreateOptions extends EventFields {
  /** --allow-past: accept a start in the past. */
  allowPast: boolean;
  /** --cover: a file to upload as the event's cover once it is created. */
  cover?: string;
}

export interface EventListOptions {
  status?: EventStatus;
  /** Dates as typed: local time, or ISO-8601. */
  from?: string;
  to?: string;
  search?: string;
  limit: number;
  all: boolean;
}

export interface EventShowOptions {
  id: string;
}

export interface EventUpdateOptions extends EventFields {
  id: string;
}

export interface EventDeleteOptions {
  id: string;
  yes: boolean;
}

export interface EventPublishOptions {
  id: string;
}

export interface EventCancelOptions {
  id: string;
  refundAll: boolean;
  message?: string;
  yes: boolean;
}

export interface EventCompleteOptions {
  id: string;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The shared flags of create and update, as EventFields. */
function eventFields(flags: Record<string, unknown>): EventFields {
  return {
    name: flags.name as string | undefined,
    timezone: flags.timezone as string | undefined,
    starts: flags.starts as string | undefined,
    ends: flags.ends as string | undefined,
    currency: flags.currency as string | undefined,
    capacity: flags.capacity as number | typeof NONE | undefined,
    slug: flags.slug as string | undefined,
    description: flags.description as string | undefined,
    venue: flags.venue as string | undefined,
    venueAddress: flags.venueAddress as string | undefined,
    city: flags.city as string | undefined,
    country: flags.country as string | undefined,
    transfers: flags.transfers as boolean | undefined,
    salesStart: flags.salesStart as string | undefined,
    salesEnd: flags.salesEnd as string | undefined,
    inventorySlots: flags.inventorySlots as number | undefined,
  };
}

/** `tickets events`: the group and each of its commands. */
export function registerEvents(program: Command): void {
  const events = program.command('events').description('Create, publish and manage events');
  examples(events, 'tickets events list', 'tickets events show evt_…');
  newEventCreateCommand(events);
  newEventListCommand(events);
  newEventShowCommand(events);
  newEventUpdateCommand(events);
  newEventDeleteCommand(events);
  newEventPublishCommand(events);
  newEventCancelCommand(events);
  newEventCompleteCommand(events);
}

/** `tickets events create`: its flags become EventCreateOptions for `run` (eventCreateRun). */
export function newEventCreateCommand(
  events: Command,
  run: Run<EventCreateOptions> = eventCreateRun,
): Command {
  const command = eventOptions(events.command('create').description('Create an event, as a draft'), false)
    .option('--allow-past', 'accept a start in the past (importing past events)')
    .option('--cover <file>', "upload this image as the event's cover (its poster) once it is created")
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: EventCreateOptions = {
        ...eventFields(flags),
        allowPast: Boolean(flags.allowPast),
        cover: flags.cover as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets events create --name "Jazz Night" --timezone Europe/Berlin --currency EUR \\\n      --starts "2026-12-31 20:00" --ends "2027-01-01 02:00" --venue "Blue Note" --city Berlin --country DE',
    'tickets events create --name Expo --timezone Asia/Tokyo --currency JPY --starts 2027-05-01T10:00+09:00 \\\n      --ends "2027-05-01 18:00" --capacity 500 --no-transfers --json',
    'tickets events create --name "Jazz Night" --timezone Europe/Berlin --currency EUR \\\n      --starts "2026-12-31 20:00" --ends "2027-01-01 02:00" --cover poster.jpg',
  );
}

/** Creates a draft event; what its flags leave out is asked on a terminal. */
export async function eventCreateRun(f: Factory, o: EventCreateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  // A cover that cannot be read is said before an event exists without it.
  if (o.cover !== undefined) await checkUploadFile(f, o.cover, '--cover');
  const { checkTimeZone, localZone } = await import('../time.js');
  const name = await askFor(f, o.name, { flag: '--name', message: 'Event name' });
  const timezone = checkTimeZone(
    await askFor(f, o.timezone, { flag: '--timezone', message: 'Time zone', default: localZone() }),
  );
  const starts = await askFor(f, o.starts, { flag: '--starts', message: 'Starts (e.g. 2026-12-31 20:00)' });
  const ends = await askFor(f, o.ends, { flag: '--ends', message: 'Ends (e.g. 2027-01-01 02:00)' });
  const currency = await askFor(f, o.currency, { flag: '--currency', message: 'Currency (e.g. EUR)' });
  const body = await eventBody({ ...o, name, timezone, starts, ends, currency }, timezone);
  if (o.allowPast) (body as EventCreateInput).allow_past = true;
  let event = await out.spin('Creating the event…', client.events.create(body as EventCreateInput));
  if (o.cover !== undefined) {
    try {
      event = { ...event, cover: await uploadFile(f, client, o.cover, { event: event.id, role: 'cover' }) };
    } catch (err) {
      // The event exists: say so (its id on stdout, for a script), then why the cover did not make it.
      await out.result(event, (e) => showEvent(out, e));
      out.warn(
        `Created "${printable(event.name)}" (${event.id}), but its cover was not uploaded; try again with:  tickets media upload ${shellWord(o.cover)} --event ${event.id} --role cover`,
      );
      throw err;
    }
  }
  await out.result(event, async (e) => {
    await showEvent(out, e);
    out.info(`\nNext: add ticket types with  tickets types create ${e.id} --name … --price … --capacity …`);
  });
  return EXIT.ok;
}

/** `tickets events list`. */
export function newEventListCommand(events: Command, run: Run<EventListOptions> = eventListRun): Command {
  const command = limitOptions(events.command('list'), 30)
    .description('List events, soonest first')
    .addOption(new Option('--status <status>', 'only events in this status').choices(STATUSES))
    .option(
      '--from <date>',
      'only events starting at or after this (your local time, or ISO-8601)',
      parse.date,
    )
    .option('--to <date>', 'only events starting before this', parse.date)
    .option('--search <text>', 'search names, slugs, descriptions and venues')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: EventListOptions = {
        status: flags.status as EventStatus | undefined,
        from: flags.from as string | undefined,
        to: flags.to as string | undefined,
        search: flags.search as string | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets events list',
    'tickets events list --status published --from 2026-12-01 --to 2027-01-01',
    'tickets events list --search jazz --limit 100 --json',
  );
}

/** Events soonest first, up to --limit (saying so when more exist). */
export async function eventListRun(f: Factory, o: EventListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const { parseDateTime, formatDateTime, localZone } = await import('../time.js');
  const starts_after = o.from ? parseDateTime(o.from, localZone(), '--from') : undefined;
  const starts_before = o.to ? parseDateTime(o.to, localZone(), '--to') : undefined;
  const list = await listed(
    f.ctx,
    'events',
    (limit) => client.events.list({ status: o.status, starts_after, starts_before, q: o.search, limit }),
    o,
  );
  await out.result(list, () =>
    out.table(
      ['ID', 'NAME', 'STATUS', 'STARTS', 'TIME ZONE', 'VENUE'],
      list.map((e) => [
        e.id,
        e.name,
        statusLabel(out, e.status),
        formatDateTime(e.starts_at, e.timezone),
        e.timezone,
        venueLine(e.venue),
      ]),
    ),
  );
  return EXIT.ok;
}

/** `tickets events show <id>`. */
export function newEventShowCommand(events: Command, run: Run<EventShowOptions> = eventShowRun): Command {
  const command = events
    .command('show')
    .description('Show one event')
    .argument('<id>', 'the event (evt_…)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(
    command,
    'tickets events show evt_01jd6x3k7qf0v8c6w2x9yq4e5b',
    'tickets events show evt_01jd6x3k7qf0v8c6w2x9yq4e5b --json',
  );
}

export async function eventShowRun(f: Factory, o: EventShowOptions): Promise<number> {
  const client = await f.client();
  const event = await f.out.spin('Loading…', client.events.get(o.id));
  await f.out.result(event, (e) => showEvent(f.out, e));
  return EXIT.ok;
}

/** `tickets events update <id>`. */
export function newEventUpdateCommand(
  events: Command,
  run: Run<EventUpdateOptions> = eventUpdateRun,
): Command {
  const command = eventOptions(
    events
      .command('update')
      .description("Change an event; what you leave out keeps its value. Dates are in the event's time zone")
      .argument('<id>', 'the event (evt_…)'),
    true,
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), { id, ...eventFields(flags) });
  });
  return examples(
    command,
    'tickets events update evt_… --starts "2026-12-31 21:00" --ends "2027-01-01 03:00"',
    'tickets events update evt_… --capacity none --sales-end "2026-12-31 18:00" --json',
  );
}

/** Changes only what it is given; dates in the event's zone (or the new --timezone). */
export async function eventUpdateRun(f: Factory, o: EventUpdateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const needsCurrent =
    [o.starts, o.ends, o.salesStart, o.salesEnd].some((v) => v !== undefined && v !== NONE) ||
    [o.venueAddress, o.city, o.country].some((v) => v !== undefined);
  const current = needsCurrent ? await out.spin('Loading…', client.events.get(o.id)) : undefined;
  if (o.timezone) (await import('../time.js')).checkTimeZone(o.timezone);
  const zone = o.timezone ?? current?.timezone ?? 'UTC';
  const body = await eventBody(o, zone, current?.venue);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
  const event = await out.spin('Saving…', client.events.update(o.id, body));
  await out.result(event, (e) => showEvent(out, e));
  return EXIT.ok;
}

/** `tickets events delete <id>`. */
export function newEventDeleteCommand(
  events: Command,
  run: Run<EventDeleteOptions> = eventDeleteRun,
): Command {
  const command = events
    .command('delete')
    .description('Delete an event that has no orders (cancel it otherwise)')
    .argument('<id>', 'the event (evt_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets events delete evt_…', 'tickets events delete evt_… --yes');
}

/** Deletes an event, once confirmed (or with --yes). */
export async function eventDeleteRun(f: Factory, o: EventDeleteOptions): Promise<number> {
  const client = await f.client();
  const label = o.yes ? o.id : await describe(f, o.id);
  await confirmFor(f, o.yes, `Delete ${label}? This cannot be undone.`);
  await f.out.spin('Deleting…', client.events.delete(o.id));
  await f.out.result({ id: o.id, object: 'event', deleted: true }, () => f.out.success(`Deleted ${label}.`));
  return EXIT.ok;
}

/** `tickets events publish <id>`. */
export function newEventPublishCommand(
  events: Command,
  run: Run<EventPublishOptions> = eventPublishRun,
): Command {
  const command = events
    .command('publish')
    .description('Publish a draft: it goes on sale within its sales window')
    .argument('<id>', 'the event (evt_…)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets events publish evt_…');
}

export async function eventPublishRun(f: Factory, o: EventPublishOptions): Promise<number> {
  const client = await f.client();
  const event = await f.out.spin('Publishing…', client.events.publish(o.id));
  await f.out.result(event, (e) => f.out.success(`Published "${e.name}" (${e.id}).`));
  return EXIT.ok;
}

/** `tickets events cancel <id>`. */
export function newEventCancelCommand(
  events: Command,
  run: Run<EventCancelOptions> = eventCancelRun,
): Command {
  const command = events
    .command('cancel')
    .description(
      'Cancel an event: sales stop, its tickets are refused at the door, holders are told; --refund-all refunds every paid order',
    )
    .argument('<id>', 'the event (evt_…)')
    .option('--refund-all', 'refund every paid order in full, through its payment provider, and wait for it')
    .option('--message <text>', 'told to every ticket holder in the cancellation e-mail')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      async (id: string, flags: { yes?: boolean; refundAll?: boolean; message?: string }, cmd: Command) => {
        const options: EventCancelOptions = {
          id,
          refundAll: Boolean(flags.refundAll),
          message: flags.message,
          yes: Boolean(flags.yes),
        };
        io().exitCode = await run(factoryOf(Context.of(cmd)), options);
      },
    );
  return examples(
    command,
    'tickets events cancel evt_… --yes',
    'tickets events cancel evt_… --refund-all --message "The venue flooded; we are sorry." --yes',
  );
}

/**
 * Cancels an event, once confirmed, and follows its refunds to the end; answers 1 when the provider
 * refused any of them.
 */
export async function eventCancelRun(f: Factory, o: EventCancelOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const label = o.yes ? o.id : await describe(f, o.id);
  await confirmFor(
    f,
    o.yes,
    `Cancel ${label}? Sales stop and every ticket is void${o.refundAll ? '; every paid order is refunded' : ''}.`,
  );
  const event = await out.spin(
    'Cancelling…',
    client.events.cancel(o.id, {
      refund: o.refundAll ? 'all' : 'none',
      ...(o.message ? { message: o.message } : {}),
    }),
  );
  // The refunds run on the server as a job: follow it until it is done (Ctrl-C leaves it running).
  let state = await client.events.cancellation(o.id);
  const bar = out.progress('Refunding');
  while (state.status === 'refunding') {
    bar.update(state.orders_refunded + state.orders_failed, state.orders_total);
    await new Promise((r) => setTimeout(r, 500));
    state = await client.events.cancellation(o.id);
  }
  bar.end();
  // --json: the event, with its cancellation's outcome.
  await out.result({ ...event, cancellation: state }, ({ cancellation: c }) => {
    out.success(`Cancelled "${event.name}" (${event.id}).`);
    if (c.refund === 'all')
      out.info(
        `Refunded ${c.orders_refunded} of ${c.orders_total} paid orders${c.orders_failed ? `; ${c.orders_failed} refused by the provider (their orders are flagged)` : ''}.`,
      );
  });
  return state.orders_failed > 0 ? EXIT.failure : EXIT.ok;
}

/** `tickets events complete <id>`. */
export function newEventCompleteCommand(
  events: Command,
  run: Run<EventCompleteOptions> = eventCompleteRun,
): Command {
  const command = events
    .command('complete')
    .description('Mark a published event as completed')
    .argument('<id>', 'the event (evt_…)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets events complete evt_…');
}

export async function eventCompleteRun(f: Factory, o: EventCompleteOptions): Promise<number> {
  const client = await f.client();
  const event = await f.out.spin('Completing…', client.events.complete(o.id));
  await f.out.result(event, (e) => f.out.success(`Marked "${e.name}" (${e.id}) completed.`));
  return EXIT.ok;
}

/** Names the event in a confirmation question, when someone is there to read it. */
async function describe(f: Factory, id: string): Promise<string> {
  if (!f.prompter.interactive) return id;
  const client = await f.client();
  const e = await f.out.spin('Loading…', client.events.get(id));
  return `"${e.name}" (${e.id})`;
}
