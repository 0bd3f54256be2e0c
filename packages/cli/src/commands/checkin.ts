import type { CheckinList, CheckinListUpdateInput, Tickets } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';
import { listIdArg } from '../verdicts.js';
import { registerOfflineCheckin } from './checkin-offline.js';
import { newValidateCommand } from './validate.js';

/** The fields `checkin lists create` and `update` share, as their flags give them. */
export interface ListFields {
  name?: string;
  /** Ticket type ids, or `none` on update (every type). */
  types?: string[] | typeof NONE;
  from?: string;
  until?: string;
  reentry?: boolean;
}

/** `--types tt_a,tt_b`; on update `none` admits every type again. */
const typesArg =
  (update: boolean) =>
  (value: string): string[] | typeof NONE => {
    if (update && value === NONE) return NONE;
    const ids = value
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean);
    if (ids.length === 0 || ids.some((id) => !/^tt_\w+$/.test(id)))
      throw new InvalidArgumentError('Expected ticket type ids separated by commas, e.g. tt_…,tt_….');
    return ids;
  };

/** Dates in the event's time zone; a door key may not read events, so it falls back to the local zone. */
async function zoneOf(client: Tickets, eventId: string): Promise<string> {
  const { localZone } = await import('../time.js');
  try {
    return (await client.events.get(eventId)).timezone;
  } catch {
    return localZone();
  }
}

function listOptions(command: Command, update: boolean): Command {
  const clear = update ? ' ("none" clears it)' : '';
  return command
    .option('--name <name>', 'what the door staff call it, e.g. "VIP door"')
    .option(
      '--types <ids>',
      `ticket types it admits, comma-separated tt_… ids (default: all)${update ? ' ("none": all)' : ''}`,
      typesArg(update),
    )
    .option(
      '--from <date>',
      `admission opens, in the event's time zone${clear}`,
      update ? parse.dateOrNone : parse.date,
    )
    .option(
      '--until <date>',
      `admission closes, in the event's time zone${clear}`,
      update ? parse.dateOrNone : parse.date,
    )
    .option('--reentry', 'a ticket scanned out (--exit) may come in again')
    .option('--no-reentry', 'each ticket comes in once (the default)');
}

async function listBody(client: Tickets, eventId: string, o: ListFields): Promise<CheckinListUpdateInput> {
  const needsZone = [o.from, o.until].some((d) => d !== undefined && d !== NONE);
  const zone = needsZone ? (await client.events.get(eventId)).timezone : 'UTC';
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, zone, flag);
  const body: CheckinListUpdateInput = {
    name: o.name,
    ticket_type_ids: orNull(o.types),
    starts_at: when(o.from, '--from'),
    ends_at: when(o.until, '--until'),
    allow_reentry: o.reentry,
  };
  for (const key of Object.keys(body) as (keyof CheckinListUpdateInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

async function showList(out: Output, client: Tickets, l: CheckinList): Promise<void> {
  const { formatDateTime } = await import('../time.js');
  const zone = l.starts_at || l.ends_at ? await zoneOf(client, l.event_id) : 'UTC';
  out.details([
    ['ID', l.id],
    ['Event', l.event_id],
    ['Name', l.name],
    ['Types', l.ticket_type_ids?.join(', ') ?? 'all'],
    ['From', formatDateTime(l.starts_at, zone, true)],
    ['Until', formatDateTime(l.ends_at, zone, true)],
    ['Re-entry', l.allow_reentry],
    ['Default', l.is_default],
  ]);
}

export interface CheckinListsListOptions {
  event: string;
}

export interface CheckinListShowOptions {
  id: string;
}

/** What `tickets checkin lists create` was asked to do, once its flags are read. */
export interface CheckinListCreateOptions extends ListFields {
  event: string;
}

export interface CheckinListUpdateOptions extends ListFields {
  id: string;
}

export interface CheckinListDeleteOptions {
  id: string;
  yes: boolean;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The shared flags of create and update, as ListFields. */
function listFields(flags: Record<string, unknown>): ListFields {
  return {
    name: flags.name as string | undefined,
    types: flags.types as string[] | typeof NONE | undefined,
    from: flags.from as string | undefined,
    until: flags.until as string | undefined,
    reentry: flags.reentry as boolean | undefined,
  };
}

/** `tickets validate`, and `tickets checkin` with its offline commands and check-in lists. */
export function registerCheckin(program: Command): void {
  newValidateCommand(program);

  const checkin = program
    .command('checkin')
    .description('The door: check-in lists (gates) and who they admit');
  examples(checkin, 'tickets checkin lists list evt_…', 'tickets validate "$CODE" --gate North');
  registerOfflineCheckin(checkin);
  const lists = checkin
    .command('lists')
    .description('Check-in lists: which ticket types come in where, when, and whether re-entry is allowed');
  examples(lists, 'tickets checkin lists list evt_…', 'tickets checkin lists create evt_… --name "VIP door"');
  newCheckinListsListCommand(lists);
  newCheckinListShowCommand(lists);
  newCheckinListCreateCommand(lists);
  newCheckinListUpdateCommand(lists);
  newCheckinListDeleteCommand(lists);
}

/** `tickets checkin lists list <event>`. */
export function newCheckinListsListCommand(
  lists: Command,
  run: Run<CheckinListsListOptions> = checkinListsListRun,
): Command {
  const command = lists
    .command('list')
    .description("List an event's check-in lists, the default one included")
    .argument('<event>', 'the event (evt_…)')
    .action(async (event: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event });
    });
  return examples(command, 'tickets checkin lists list evt_…', 'tickets checkin lists list evt_… --json');
}

/** The event's check-in lists; on a terminal, their times in the event's zone. */
export async function checkinListsListRun(f: Factory, o: CheckinListsListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const all = await out.spin('Loading…', client.checkin.lists(o.event));
  await out.result(all, async () => {
    const { formatDateTime } = await import('../time.js');
    const timed = out.tty && all.some((l) => l.starts_at || l.ends_at);
    const zone = timed ? await zoneOf(client, o.event) : 'UTC';
    const when = (iso: string | null) => (out.tty ? formatDateTime(iso, zone) : iso);
    await out.table(
      ['ID', 'NAME', 'TYPES', 'FROM', 'UNTIL', 'RE-ENTRY', 'DEFAULT'],
      all.map((l) => [
        l.id,
        l.name,
        l.ticket_type_ids?.join(',') ?? 'all',
        when(l.starts_at),
        when(l.ends_at),
        l.allow_reentry,
        l.is_default,
      ]),
    );
  });
  return EXIT.ok;
}

/** `tickets checkin lists show <list>`. */
export function newCheckinListShowCommand(
  lists: Command,
  run: Run<CheckinListShowOptions> = checkinListShowRun,
): Command {
  const command = lists
    .command('show')
    .description('Show one check-in list')
    .argument('<list>', 'the check-in list (cl_…)', listIdArg)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets checkin lists show cl_…');
}

export async function checkinListShowRun(f: Factory, o: CheckinListShowOptions): Promise<number> {
  const client = await f.client();
  const list = await f.out.spin('Loading…', client.checkin.getList(o.id));
  await f.out.result(list, (l) => showList(f.out, client, l));
  return EXIT.ok;
}

/** `tickets checkin lists create <event>`: its flags become CheckinListCreateOptions for `run`. */
export function newCheckinListCreateCommand(
  lists: Command,
  run: Run<CheckinListCreateOptions> = checkinListCreateRun,
): Command {
  const command = listOptions(
    lists
      .command('create')
      .description('Add a check-in list (a gate) to an event')
      .argument('<event>', 'the event (evt_…)'),
    false,
  ).action(async (event: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), { event, ...listFields(flags) });
  });
  return examples(
    command,
    'tickets checkin lists create evt_… --name "VIP door" --types tt_…',
    'tickets checkin lists create evt_… --name "Early entry" --from "2026-12-31 18:00" --until "2026-12-31 20:00"',
    'tickets checkin lists create evt_… --name "Smoking area" --reentry --json',
  );
}

/** Adds a check-in list; its name is asked on a terminal when not given. */
export async function checkinListCreateRun(f: Factory, o: CheckinListCreateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const name = await askFor(f, o.name, { flag: '--name', message: 'List name' });
  const body = await listBody(client, o.event, { ...o, name });
  const list = await out.spin('Creating…', client.checkin.createList(o.event, { ...body, name }));
  await out.result(list, async (l) => {
    out.success(`Created check-in list "${l.name}" (${l.id}).`);
    await showList(out, client, l);
  });
  return EXIT.ok;
}

/** `tickets checkin lists update <list>`. */
export function newCheckinListUpdateCommand(
  lists: Command,
  run: Run<CheckinListUpdateOptions> = checkinListUpdateRun,
): Command {
  const command = listOptions(
    lists
      .command('update')
      .description('Change a check-in list; what you leave out keeps its value')
      .argument('<list>', 'the check-in list (cl_…)', listIdArg),
    true,
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), { id, ...listFields(flags) });
  });
  return examples(
    command,
    'tickets checkin lists update cl_… --until "2026-12-31 23:00"',
    'tickets checkin lists update cl_… --types none --no-reentry',
  );
}

/** Changes only what it is given; dates in the event's zone. */
export async function checkinListUpdateRun(f: Factory, o: CheckinListUpdateOptions): Promise<number> {
  const client = await f.client();
  const needsEvent = [o.from, o.until].some((d) => d !== undefined && d !== NONE);
  const eventId = needsEvent ? (await client.checkin.getList(o.id)).event_id : '';
  const body = await listBody(client, eventId, o);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
  const list = await f.out.spin('Saving…', client.checkin.updateList(o.id, body));
  await f.out.result(list, (l) => showList(f.out, client, l));
  return EXIT.ok;
}

/** `tickets checkin lists delete <list>`. */
export function newCheckinListDeleteCommand(
  lists: Command,
  run: Run<CheckinListDeleteOptions> = checkinListDeleteRun,
): Command {
  const command = lists
    .command('delete')
    .description('Delete a check-in list nobody was checked in on (not the default one)')
    .argument('<list>', 'the check-in list (cl_…)', listIdArg)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets checkin lists delete cl_… --yes');
}

/** Deletes a check-in list, once confirmed (or with --yes). */
export async function checkinListDeleteRun(f: Factory, o: CheckinListDeleteOptions): Promise<number> {
  const client = await f.client();
  await confirmFor(f, o.yes, `Delete check-in list ${o.id}?`);
  const deleted = await f.out.spin('Deleting…', client.checkin.deleteList(o.id));
  await f.out.result(deleted, () => f.out.success(`Deleted ${o.id}.`));
  return EXIT.ok;
}
