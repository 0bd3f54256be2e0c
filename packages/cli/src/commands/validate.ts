import type { Validation } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import type { OfflineValidation } from '../offline.js';
import type { Output } from '../output.js';
import { deviceId, listIdArg, offlineMark, refusal } from '../verdicts.js';
import { bundleAge, eventIdArg, offlineStore, STALE_BUNDLE_MS } from './checkin-offline.js';

/** What `tickets validate` was asked to do, once its flags are read. */
export interface ValidateOptions {
  code: string;
  /** --event: the door's event (else the device's, else asked). */
  event?: string;
  list?: string;
  gate?: string;
  device?: string;
  direction: 'entry' | 'exit';
  dryRun: boolean;
  offline: boolean;
}

/** Results that let the person through (or, for a look-up, would). Everything else exits 1. */
const PASSED = new Set<Validation['result']>(['admitted', 'exited', 'valid']);

/**
 * `tickets validate <code>`: its flags become ValidateOptions, and `run` (validateRun unless a test
 * gives another, as gh's NewCmdClose takes a runF) answers with the exit code.
 */
export function newValidateCommand(
  program: Command,
  run: (f: Factory, o: ValidateOptions) => Promise<number> = validateRun,
): Command {
  const command = program
    .command('validate')
    .description(
      'Scan a ticket at the door: admitted exactly once, or why not (exit 0 admitted, 1 refused, 3 could not check)',
    )
    .argument('<code>', "the ticket's code, as its QR code reads")
    .option(
      '--event <event>',
      "this door's event; a ticket of another event is refused (default: the device's door_event, see `tickets config set`; asked on a terminal)",
      eventIdArg,
    )
    .option('--list <list>', "the gate's check-in list (cl_…; default: the event's main list)", listIdArg)
    .option('--gate <name>', 'where you stand, e.g. North; shown when the ticket is scanned again')
    .option('--device <id>', "this scanner's id (default: one generated once and kept in the profile)")
    .addOption(new Option('--exit', 'scan the person out (re-entry lists only)').conflicts('dryRun'))
    .option('--dry-run', 'look the ticket up without admitting it')
    .option('--offline', 'decide with the bundle from `tickets checkin sync`; queue the scan for upload')
    .addHelpText(
      'after',
      '\nExit codes: 0 admitted (or valid, with --dry-run), 1 refused, 3 could not check (no answer from the server).\n',
    )
    .action(async (code: string, flags: Record<string, unknown>, cmd: Command) => {
      const options: ValidateOptions = {
        code,
        event: flags.event as string | undefined,
        list: flags.list as string | undefined,
        gate: flags.gate as string | undefined,
        device: flags.device as string | undefined,
        direction: flags.exit ? 'exit' : 'entry',
        dryRun: Boolean(flags.dryRun),
        offline: Boolean(flags.offline),
      };
      // main() answers with io().exitCode: a refusal is an answer, not an error message.
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets validate "$CODE" --event evt_… --gate North',
    'tickets config set door_event evt_…   # once per device; then:',
    'tickets validate "$CODE" --list cl_… --gate "VIP door" --device scanner-1',
    'tickets validate "$CODE" --dry-run --json | jq -r .result',
    'tickets validate "$CODE" --list cl_… --exit',
    'tickets validate "$CODE" --offline --gate North',
  );
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

/** The server could not be reached, or failed (5xx): the ticket was not checked. */
async function couldNotCheck(err: unknown): Promise<boolean> {
  const { TicketsError } = await import('@tickets/sdk');
  return err instanceof TicketsError && (err.code === 'connection_failed' || err.status >= 500);
}

const NO_DOOR_EVENT =
  'which event is this door for? give --event evt_…, or set it once for this device: tickets config set door_event evt_…';

/**
 * The door's event. A door is always for one event, so a genuine ticket of another night is refused:
 * --event; else the device's profile (`door_event`); else --list's event (the server checks it);
 * offline, the only event synced on this device; else, on a terminal, asked (and kept for the device).
 */
export async function doorEvent(f: Factory, o: ValidateOptions): Promise<string | undefined> {
  if (o.event) return o.event;
  const saved = (await f.ctx.profile()).door_event;
  if (saved) return saved;
  if (o.list && !o.offline) return undefined;
  let choices: { value: string; name: string }[];
  if (o.offline) {
    const store = await offlineStore(f.ctx);
    const synced = store.events();
    if (synced.length === 1) return synced[0];
    if (synced.length === 0)
      throw new UsageError('no event synced for offline use: run `tickets checkin sync <event>` first');
    choices = synced.map((id) => ({ value: id, name: store.load(id)?.event_name ?? id }));
  } else {
    if (!f.prompter.interactive) throw new UsageError(NO_DOOR_EVENT);
    const client = await f.client();
    const events = await client.checkin.events().toArray();
    if (events.length === 0) throw new UsageError('no event to scan at: this credential sees none');
    choices = events.map((e) => ({ value: e.id, name: `${e.name} (${e.starts_at.slice(0, 10)})` }));
  }
  if (!f.prompter.interactive) throw new UsageError(NO_DOOR_EVENT);
  const chosen = await f.prompter.select('Which event is this door for?', choices);
  (await f.ctx.store()).update(await f.ctx.profileName(), { door_event: chosen });
  f.out.info(`This device now scans for ${chosen} (change it with: tickets config set door_event evt_…).`);
  return chosen;
}

/** Scans one code and prints the verdict; answers 0 admitted, 1 refused, 3 could not check. */
export async function validateRun(f: Factory, o: ValidateOptions): Promise<number> {
  const { out } = f;
  if (o.offline) {
    if (o.direction === 'exit')
      throw new UsageError('--exit needs the network: scanning out is not supported with --offline');
    const eventId = (await doorEvent(f, o))!;
    const store = await offlineStore(f.ctx);
    const bundle = store.load(eventId);
    if (!bundle)
      throw new UsageError(`${eventId} is not synced: run \`tickets checkin sync ${eventId}\` first`);
    const age = bundleAge(bundle, f.now());
    if (age.ms > STALE_BUNDLE_MS)
      out.warn(
        `The bundle was synced ${age.text} ago: refunds and transfers since are unknown here. Run \`tickets checkin sync ${eventId}\` when the network is back.`,
      );
    const { verifyOffline } = await import('../offline.js');
    const v: OfflineValidation = await verifyOffline(o.code, store, bundle, {
      device_id: await deviceId(f.ctx, o.device),
      gate: o.gate,
      dry_run: o.dryRun,
      now: f.now(),
    });
    await out.result(v, () => verdict(out, v, offlineMark(v)));
    return PASSED.has(v.result) ? EXIT.ok : EXIT.failure;
  }
  const client = await f.client();
  const event = await doorEvent(f, o);
  const device_id = await deviceId(f.ctx, o.device);
  let v: Validation;
  try {
    v = await out.spin(
      'Checking…',
      client.checkin.validate({
        code: o.code,
        list: o.list,
        gate: o.gate,
        device_id,
        direction: o.direction,
        dry_run: o.dryRun,
        ...(event ? { event } : {}),
      }),
    );
  } catch (err) {
    // No answer is not a refusal: a scanner or script must tell a bad ticket from a bad network.
    if (await couldNotCheck(err)) {
      const message = (err as Error).message;
      if (out.json) out.printJson({ object: 'no_answer', code: (err as { code?: string }).code, message });
      else out.warn(`COULD NOT CHECK  ${message} — try again, or decide offline (--offline)`);
      return EXIT.unavailable;
    }
    throw err;
  }
  await out.result(v, () => verdict(out, v));
  return PASSED.has(v.result) ? EXIT.ok : EXIT.failure;
}
