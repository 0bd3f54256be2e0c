import type { CheckinList, CheckinListUpdateInput, Tickets } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, NONE, orNull, parse } from '../help.js';
import { ask, confirmAction } from '../prompt.js';
import { listIdArg } from '../verdicts.js';
import { registerOfflineCheckin } from './checkin-offline.js';
import { newValidateCommand } from './validate.js';

interface ListFlags {
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

async function listBody(client: Tickets, eventId: string, f: ListFlags): Promise<CheckinListUpdateInput> {
  const needsZone = [f.from, f.until].some((d) => d !== undefined && d !== NONE);
  const zone = needsZone ? (await client.events.get(eventId)).timezone : 'UTC';
  const { parseDateTime } = await import('../time.js');
  const when = (value: string | undefined, flag: string) =>
    value === undefined || value === NONE ? orNull(value) : parseDateTime(value, zone, flag);
  const body: CheckinListUpdateInput = {
    name: f.name,
    ticket_type_ids: orNull(f.types),
    starts_at: when(f.from, '--from'),
    ends_at: when(f.until, '--until'),
    allow_reentry: f.reentry,
  };
  for (const key of Object.keys(body) as (keyof CheckinListUpdateInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

async function showList(ctx: Context, client: Tickets, l: CheckinList): Promise<void> {
  const { formatDateTime } = await import('../time.js');
  const zone = l.starts_at || l.ends_at ? await zoneOf(client, l.event_id) : 'UTC';
  ctx.out.details([
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

  examples(
    lists
      .command('list')
      .description("List an event's check-in lists, the default one included")
      .argument('<event>', 'the event (evt_…)')
      .action(async (eventId: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const all = await ctx.out.spin('Loading…', client.checkin.lists(eventId));
        await ctx.out.result(all, async () => {
          const { formatDateTime } = await import('../time.js');
          const timed = ctx.out.tty && all.some((l) => l.starts_at || l.ends_at);
          const zone = timed ? await zoneOf(client, eventId) : 'UTC';
          const when = (iso: string | null) => (ctx.out.tty ? formatDateTime(iso, zone) : iso);
          await ctx.out.table(
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
      }),
    'tickets checkin lists list evt_…',
    'tickets checkin lists list evt_… --json',
  );

  examples(
    lists
      .command('show')
      .description('Show one check-in list')
      .argument('<list>', 'the check-in list (cl_…)', listIdArg)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const list = await ctx.out.spin('Loading…', client.checkin.getList(id));
        await ctx.out.result(list, (l) => showList(ctx, client, l));
      }),
    'tickets checkin lists show cl_…',
  );

  examples(
    listOptions(
      lists
        .command('create')
        .description('Add a check-in list (a gate) to an event')
        .argument('<event>', 'the event (evt_…)'),
      false,
    ).action(async (eventId: string, f: ListFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const name = await ask(f.name, { flag: '--name', message: 'List name' });
      const body = await listBody(client, eventId, { ...f, name });
      const list = await ctx.out.spin('Creating…', client.checkin.createList(eventId, { ...body, name }));
      await ctx.out.result(list, async (l) => {
        ctx.out.success(`Created check-in list "${l.name}" (${l.id}).`);
        await showList(ctx, client, l);
      });
    }),
    'tickets checkin lists create evt_… --name "VIP door" --types tt_…',
    'tickets checkin lists create evt_… --name "Early entry" --from "2026-12-31 18:00" --until "2026-12-31 20:00"',
    'tickets checkin lists create evt_… --name "Smoking area" --reentry --json',
  );

  examples(
    listOptions(
      lists
        .command('update')
        .description('Change a check-in list; what you leave out keeps its value')
        .argument('<list>', 'the check-in list (cl_…)', listIdArg),
      true,
    ).action(async (id: string, f: ListFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const needsEvent = [f.from, f.until].some((d) => d !== undefined && d !== NONE);
      const eventId = needsEvent ? (await client.checkin.getList(id)).event_id : '';
      const body = await listBody(client, eventId, f);
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
      const list = await ctx.out.spin('Saving…', client.checkin.updateList(id, body));
      await ctx.out.result(list, (l) => showList(ctx, client, l));
    }),
    'tickets checkin lists update cl_… --until "2026-12-31 23:00"',
    'tickets checkin lists update cl_… --types none --no-reentry',
  );

  examples(
    lists
      .command('delete')
      .description('Delete a check-in list nobody was checked in on (not the default one)')
      .argument('<list>', 'the check-in list (cl_…)', listIdArg)
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        await confirmAction(o.yes, `Delete check-in list ${id}?`);
        const deleted = await ctx.out.spin('Deleting…', client.checkin.deleteList(id));
        await ctx.out.result(deleted, () => ctx.out.success(`Deleted ${id}.`));
      }),
    'tickets checkin lists delete cl_… --yes',
  );
}
