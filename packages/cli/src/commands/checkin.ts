import type { CheckinList, CheckinListUpdateInput, Tickets, Validation } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { examples, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';
import { ask, confirmAction } from '../prompt.js';
import { deviceId, listIdArg, refusal } from '../verdicts.js';
import { registerOfflineCheckin, validateOffline } from './checkin-offline.js';

interface ValidateFlags {
  list?: string;
  gate?: string;
  device?: string;
  exit?: boolean;
  dryRun?: boolean;
  offline?: boolean;
  event?: string;
}

interface ListFlags {
  name?: string;
  /** Ticket type ids, or `none` on update (every type). */
  types?: string[] | typeof NONE;
  from?: string;
  until?: string;
  reentry?: boolean;
}

/** Results that let the person through (or, for a look-up, would). Everything else exits 1. */
const PASSED = new Set<Validation['result']>(['admitted', 'exited', 'valid']);

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

/** The server could not be reached, or failed (5xx): the ticket was not checked. */
async function couldNotCheck(err: unknown): Promise<boolean> {
  const { TicketsError } = await import('@tickets/sdk');
  return err instanceof TicketsError && (err.code === 'connection_failed' || err.status >= 500);
}

/** One line, the whole answer: green when the person may pass, red with the reason when not. */
async function verdict(out: Output, v: Validation, suffix = ''): Promise<void> {
  // Who, with what, for which event: the door sees at a glance a ticket meant for another night.
  const who = v.ticket
    ? [v.ticket.holder_name, v.ticket.ticket_type_name, v.event?.name].filter(Boolean).join(' · ')
    : '';
  const { style } = out;
  if (v.result === 'admitted') out.line(style.bold.green(`ADMITTED  ${who}${suffix}`));
  else if (v.result === 'exited') out.line(style.bold.green(`CHECKED OUT  ${who}${suffix}`));
  else if (v.result === 'valid')
    out.line(style.bold.green(`VALID  ${who}  (look-up only: not admitted)${suffix}`));
  else out.line(style.bold.red(`REFUSED  ${await refusal(v)}${suffix}`));
}

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
  examples(
    program
      .command('validate')
      .description(
        'Scan a ticket at the door: admitted exactly once, or why not (exit 0 admitted, 1 refused, 3 could not check)',
      )
      .argument('<code>', "the ticket's code, as its QR code reads")
      .option('--list <list>', "the gate's check-in list (cl_…; default: the event's main list)", listIdArg)
      .option('--gate <name>', 'where you stand, e.g. North; shown when the ticket is scanned again')
      .option('--device <id>', "this scanner's id (default: one generated once and kept in the profile)")
      .addOption(new Option('--exit', 'scan the person out (re-entry lists only)').conflicts('dryRun'))
      .option('--dry-run', 'look the ticket up without admitting it')
      .option('--offline', 'decide with the bundle from `tickets checkin sync`; queue the scan for upload')
      .option(
        '--event <event>',
        "this door's event: a ticket of another event is refused (offline: the event's bundle; default: the code's event)",
      )
      .action(async (code: string, f: ValidateFlags, cmd: Command) => {
        const ctx = Context.of(cmd);
        if (f.offline) {
          const v = await validateOffline(ctx, code, f, await deviceId(ctx, f.device));
          await ctx.out.result(v, () => verdict(ctx.out, v, '  (offline)'));
          if (!PASSED.has(v.result)) io().exitCode = EXIT.failure;
          return;
        }
        const client = await ctx.client();
        const device_id = await deviceId(ctx, f.device);
        let v: Validation;
        try {
          v = await ctx.out.spin(
            'Checking…',
            client.checkin.validate({
              code,
              list: f.list,
              gate: f.gate,
              device_id,
              direction: f.exit ? 'exit' : 'entry',
              dry_run: Boolean(f.dryRun),
              ...(f.event ? { event: f.event } : {}),
            }),
          );
        } catch (err) {
          // No answer is not a refusal: a scanner or script must tell a bad ticket from a bad network.
          if (await couldNotCheck(err)) {
            const message = (err as Error).message;
            if (ctx.out.json)
              ctx.out.printJson({ object: 'no_answer', code: (err as { code?: string }).code, message });
            else ctx.out.warn(`COULD NOT CHECK  ${message} — try again, or decide offline (--offline)`);
            io().exitCode = EXIT.unavailable;
            return;
          }
          throw err;
        }
        await ctx.out.result(v, () => verdict(ctx.out, v));
        // main() answers with io().exitCode: a refusal is an answer, not an error message.
        if (!PASSED.has(v.result)) io().exitCode = EXIT.failure;
      }),
    'tickets validate "$CODE" --gate North',
    'tickets validate "$CODE" --list cl_… --gate "VIP door" --device scanner-1',
    'tickets validate "$CODE" --dry-run --json | jq -r .result',
    'tickets validate "$CODE" --list cl_… --exit',
    'tickets validate "$CODE" --offline --gate North',
  );

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
