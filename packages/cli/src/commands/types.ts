import type { Event, NotOnSaleReason, TicketType, TicketTypeUpdateInput } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import { formatMoney, toMinorUnits } from '../money.js';
import type { Output } from '../output.js';

/** The fields `types create` and `types update` share, as their flags give them. */
export interface TypeFields {
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
  o: TypeFields,
  event: Pick<Event, 'currency' | 'timezone'>,
): Promise<TicketTypeUpdateInput> {
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, event.timezone, flag);
  const body: TicketTypeUpdateInput = {
    name: o.name,
    price:
      o.price === undefined
        ? undefined
        : { amount: toMinorUnits(o.price, event.currency), currency: event.currency },
    capacity: o.capacity,
    min_per_order: o.min,
    max_per_order: orNull(o.max),
    hidden: o.hidden,
    sort_order: o.sort,
    sales_start_at: when(o.salesStart, '--sales-start'),
    sales_end_at: when(o.salesEnd, '--sales-end'),
    tax_rate: o.taxRate,
  };
  if (o.description !== undefined) body.description = o.description === '' ? null : o.description;
  for (const key of Object.keys(body) as (keyof TicketTypeUpdateInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

async function showType(out: Output, t: TicketType, zone: string): Promise<void> {
  const { formatDateTime } = await import('../time.js');
  out.details([
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

/** What `tickets types create` was asked to do, once its flags are read. */
export interface TypeCreateOptions extends TypeFields {
  event: string;
}

export interface TypeListOptions {
  event: string;
  /** --all: hidden types too. */
  all: boolean;
}

export interface TypeUpdateOptions extends TypeFields {
  id: string;
}

export interface TypeDeleteOptions {
  id: string;
  yes: boolean;
}

export interface AvailabilityOptions {
  event: string;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The shared flags of create and update, as TypeFields. */
function typeFields(flags: Record<string, unknown>): TypeFields {
  return {
    name: flags.name as string | undefined,
    price: flags.price as string | undefined,
    capacity: flags.capacity as number | undefined,
    description: flags.description as string | undefined,
    min: flags.min as number | undefined,
    max: flags.max as number | typeof NONE | undefined,
    hidden: flags.hidden as boolean | undefined,
    sort: flags.sort as number | undefined,
    salesStart: flags.salesStart as string | undefined,
    salesEnd: flags.salesEnd as string | undefined,
    taxRate: flags.taxRate as number | undefined,
  };
}

/** `tickets types` and `tickets availability`. */
export function registerTypes(program: Command): void {
  const types = program
    .command('types')
    .description("An event's ticket types: price, capacity, sales window");
  examples(
    types,
    'tickets types list evt_…',
    'tickets types create evt_… --name GA --price 25.00 --capacity 200',
  );
  newTypeCreateCommand(types);
  newTypeListCommand(types);
  newTypeUpdateCommand(types);
  newTypeDeleteCommand(types);
  newAvailabilityCommand(program);
}

/** `tickets types create <event>`: its flags become TypeCreateOptions for `run` (typeCreateRun). */
export function newTypeCreateCommand(types: Command, run: Run<TypeCreateOptions> = typeCreateRun): Command {
  const command = typeOptions(
    types
      .command('create')
      .description('Add a ticket type to an event')
      .argument('<event>', 'the event (evt_…)'),
    false,
  ).action(async (event: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), { event, ...typeFields(flags) });
  });
  return examples(
    command,
    'tickets types create evt_… --name "General admission" --price 25.00 --capacity 200',
    'tickets types create evt_… --name "Early bird" --price 19 --capacity 50 --max 4 --sales-end "2026-11-30 23:59"',
    'tickets types create evt_… --name Crew --price 0 --capacity 20 --hidden --json',
  );
}

/** Adds a ticket type; its name, price and capacity are asked on a terminal when not given. */
export async function typeCreateRun(f: Factory, o: TypeCreateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const name = await askFor(f, o.name, { flag: '--name', message: 'Ticket type name' });
  const price = await askFor(f, o.price, { flag: '--price', message: 'Price (e.g. 25.00)' });
  const capacity =
    o.capacity ??
    parse.int(0)(await askFor(f, undefined, { flag: '--capacity', message: 'How many can be sold' }));
  // The price's currency and the dates' zone are the event's.
  const event = await out.spin('Loading the event…', client.events.get(o.event));
  const body = await typeBody({ ...o, name, price, capacity }, event);
  const type = await out.spin(
    'Creating…',
    client.ticketTypes.create(o.event, body as Parameters<typeof client.ticketTypes.create>[1]),
  );
  await out.result(type, (t) => showType(out, t, event.timezone));
  return EXIT.ok;
}

/** `tickets types list <event>`. */
export function newTypeListCommand(types: Command, run: Run<TypeListOptions> = typeListRun): Command {
  const command = types
    .command('list')
    .description("List an event's ticket types in sort order")
    .argument('<event>', 'the event (evt_…)')
    .option('--all', 'include hidden types')
    .action(async (event: string, flags: { all?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event, all: Boolean(flags.all) });
    });
  return examples(command, 'tickets types list evt_…', 'tickets types list evt_… --all --json');
}

/** The event's ticket types in sort order; on a terminal, dates in the event's zone. */
export async function typeListRun(f: Factory, o: TypeListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const list = await out.spin('Loading…', client.ticketTypes.list(o.event, { includeHidden: o.all }));
  await out.result(list, async () => {
    const { formatDateTime } = await import('../time.js');
    const zone = out.tty && list.length ? (await client.events.get(o.event)).timezone : 'UTC';
    await out.table(
      ['ID', 'NAME', 'PRICE', 'CAPACITY', 'PER ORDER', 'SALES START', 'SALES END', 'HIDDEN'],
      list.map((t) => [
        t.id,
        t.name,
        formatMoney(t.price),
        t.capacity,
        `${t.min_per_order}–${t.max_per_order ?? 'any'}`,
        out.tty ? formatDateTime(t.sales_start_at, zone) : t.sales_start_at,
        out.tty ? formatDateTime(t.sales_end_at, zone) : t.sales_end_at,
        t.hidden,
      ]),
    );
  });
  return EXIT.ok;
}

/** `tickets types update <type-id>`. */
export function newTypeUpdateCommand(types: Command, run: Run<TypeUpdateOptions> = typeUpdateRun): Command {
  const command = typeOptions(
    types
      .command('update')
      .description('Change a ticket type; what you leave out keeps its value')
      .argument('<type-id>', 'the ticket type (tt_…)'),
    true,
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), { id, ...typeFields(flags) });
  });
  return examples(
    command,
    'tickets types update tt_… --price 30.00',
    'tickets types update tt_… --capacity 250 --max none --no-hidden',
  );
}

/** Changes only what it is given: a price in the event's currency, dates in its zone. */
export async function typeUpdateRun(f: Factory, o: TypeUpdateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const needsEvent =
    o.price !== undefined || [o.salesStart, o.salesEnd].some((v) => v !== undefined && v !== NONE);
  let event: Pick<Event, 'currency' | 'timezone'> = { currency: 'XXX', timezone: 'UTC' };
  if (needsEvent) {
    const current = await out.spin('Loading…', client.ticketTypes.get(o.id));
    event = await client.events.get(current.event_id);
  }
  const body = await typeBody(o, event);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
  const type = await out.spin('Saving…', client.ticketTypes.update(o.id, body));
  await out.result(type, async (t) =>
    showType(out, t, needsEvent ? event.timezone : (await client.events.get(t.event_id)).timezone),
  );
  return EXIT.ok;
}

/** `tickets types delete <type-id>`. */
export function newTypeDeleteCommand(types: Command, run: Run<TypeDeleteOptions> = typeDeleteRun): Command {
  const command = types
    .command('delete')
    .description('Delete a ticket type that has sold or held nothing')
    .argument('<type-id>', 'the ticket type (tt_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets types delete tt_… --yes');
}

/** Deletes a ticket type, once confirmed (or with --yes). */
export async function typeDeleteRun(f: Factory, o: TypeDeleteOptions): Promise<number> {
  const client = await f.client();
  await confirmFor(f, o.yes, `Delete ticket type ${o.id}?`);
  await f.out.spin('Deleting…', client.ticketTypes.delete(o.id));
  await f.out.result({ id: o.id, object: 'ticket_type', deleted: true }, () =>
    f.out.success(`Deleted ${o.id}.`),
  );
  return EXIT.ok;
}

/** `tickets availability <event>`. */
export function newAvailabilityCommand(
  program: Command,
  run: Run<AvailabilityOptions> = availabilityRun,
): Command {
  const command = program
    .command('availability')
    .description('What is left to sell: capacity, sold, held and available per ticket type')
    .argument('<event>', 'the event (evt_…)')
    .action(async (event: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event });
    });
  return examples(command, 'tickets availability evt_…', 'tickets availability evt_… --json');
}

/** What is left to sell, per ticket type; on a terminal, the event's totals too. */
export async function availabilityRun(f: Factory, o: AvailabilityOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const a = await out.spin('Loading…', client.ticketTypes.availability(o.event));
  await out.result(a, async () => {
    const { style } = out;
    await out.table(
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
    if (out.tty)
      out.line(
        `\nEvent: ${a.sold} sold, ${a.held} held, ${a.capacity === null ? 'no event-wide limit' : `${a.available} of ${a.capacity} available`}`,
      );
  });
  return EXIT.ok;
}
