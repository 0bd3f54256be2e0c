import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Tickets, Validation } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { type IO, io } from '../io.js';
import { OfflineStore } from '../offline.js';
import type { Output } from '../output.js';
import { deviceId, listIdArg, offlineMark, refusal } from '../verdicts.js';
import { bundleAge, STALE_BUNDLE_MS } from './checkin-offline.js';

/** What `tickets door` was asked to do, once its flags are read. */
export interface DoorOptions {
  event: string;
  /** --list: the gate's check-in list (else the event's default list). */
  list?: string;
  gate?: string;
  device?: string;
  /** --exit scans people out. */
  direction: 'entry' | 'exit';
  /** Decide every scan with the synced bundle. */
  offline: boolean;
  /** Online, but decide with the synced bundle while the server is unreachable. */
  fallbackOffline: boolean;
}

/** Short names for the summary's refusals by reason. */
const REASON_LABEL: Partial<Record<Validation['result'], string>> = {
  already_used: 'already used',
  invalid: 'not a ticket of ours',
  revoked: 'revoked',
  wrong_event: 'another event',
  wrong_list: 'wrong gate',
  not_yet_valid: 'not valid yet',
  expired: 'no longer valid',
  order_not_paid: 'not paid',
  not_inside: 'not inside',
};

/** The gate's list: --list when it belongs to the event, else the event's default list. */
async function doorList(client: Tickets, eventId: string, listId: string | undefined): Promise<string> {
  const lists = await client.checkin.lists(eventId);
  const list = listId ? lists.find((l) => l.id === listId) : lists.find((l) => l.is_default);
  if (!list)
    throw new UsageError(
      listId ? `${listId} is not a check-in list of ${eventId}` : `${eventId} has no default check-in list`,
    );
  return list.id;
}

/** What the session has let through and turned away. */
class Tally {
  admitted = 0;
  exited = 0;
  refused = 0;
  noAnswer = 0;
  /** Verdicts decided from the synced bundle. */
  offline = 0;
  readonly reasons = new Map<string, number>();

  get inside(): number {
    return Math.max(0, this.admitted - this.exited);
  }

  count(v: Validation, offline = false): void {
    if (offline) this.offline++;
    if (v.result === 'admitted') this.admitted++;
    else if (v.result === 'exited') this.exited++;
    else if (!v.admitted) this.refuse(REASON_LABEL[v.result] ?? v.result);
  }

  refuse(reason: string): void {
    this.refused++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }

  /** "Admitted 12 · Refused 3 · Inside 12". */
  line(): string {
    const parts = [`Admitted ${this.admitted}`, `Refused ${this.refused}`];
    if (this.exited) parts.push(`Out ${this.exited}`);
    parts.push(`Inside ${this.inside}`);
    if (this.noAnswer) parts.push(`No answer ${this.noAnswer}`);
    if (this.offline) parts.push(`Decided offline ${this.offline}`);
    return parts.join(' · ');
  }

  json() {
    return {
      object: 'door_summary',
      admitted: this.admitted,
      refused: this.refused,
      exited: this.exited,
      inside: this.inside,
      no_answer: this.noAnswer,
      decided_offline: this.offline,
      refused_by_reason: Object.fromEntries(this.reasons),
    };
  }
}

/**
 * Prints what the door sees: on a terminal a big coloured block per verdict (read from a step away),
 * a bell on refusal and a running count; piped, one plain line per verdict.
 */
class DoorScreen {
  constructor(
    /** The invocation's streams: stdout for raw JSON lines and the bell. */
    private readonly streams: IO,
    private readonly out: Output,
    private readonly tally: Tally,
    /** e.g. "Bundle 3 minutes old", shown with the count when a bundle backs this door. */
    private readonly bundleNote: () => string | undefined = () => undefined,
  ) {}

  private get width(): number {
    return Math.min(Math.max(this.streams.stdout.columns ?? 60, 40), 100);
  }

  private block(ok: boolean, text: string): void {
    const { style, tty } = this.out;
    if (!tty || style.level === 0) {
      this.out.line(text);
      return;
    }
    const paint = ok ? style.bgGreen.black.bold : style.bgRed.white.bold;
    const pad = ' '.repeat(this.width);
    this.out.line(paint(pad));
    this.out.line(paint(`  ${text}`.padEnd(this.width)));
    this.out.line(paint(pad));
  }

  async verdict(v: Validation, offline = false): Promise<void> {
    if (this.out.json) {
      this.streams.stdout.write(`${JSON.stringify(offline ? { ...v, offline: true } : v)}\n`);
      return;
    }
    // Offline the type's name is unknown when the credential could not read the types at sync.
    const who = v.ticket ? [v.ticket.holder_name, v.ticket.ticket_type_name].filter(Boolean).join(' · ') : '';
    const mark = offline ? offlineMark(v) : '';
    if (v.result === 'admitted') this.block(true, `ADMITTED  ${who}${mark}`);
    else if (v.result === 'exited') this.block(true, `CHECKED OUT  ${who}${mark}`);
    else if (v.admitted) this.block(true, `${v.result.toUpperCase()}  ${who}${mark}`);
    else return this.refused(`${await refusal(v)}${mark}`);
    this.status();
  }

  /** A refusal the CLI decided without a Validation (a code the server would not even look up). */
  refused(reason: string, code?: string): void {
    if (this.out.json && code !== undefined) {
      this.streams.stdout.write(`${JSON.stringify({ object: 'refused', code, message: reason })}\n`);
      return;
    }
    this.block(false, `REFUSED  ${reason}`);
    this.bell();
    this.status();
  }

  /** The scan got no verdict: the person at the door must scan again. */
  noAnswer(why: string, code: string): void {
    if (this.out.json) {
      this.streams.stdout.write(`${JSON.stringify({ object: 'no_answer', code, message: why })}\n`);
      return;
    }
    this.block(false, `NO ANSWER (${why}) — scan again`);
    this.bell();
    this.status();
  }

  summary(): void {
    if (this.out.json) {
      this.streams.stdout.write(`${JSON.stringify(this.tally.json())}\n`);
      return;
    }
    const { style } = this.out;
    this.out.line(style.bold(this.tally.line()));
    for (const [reason, n] of [...this.tally.reasons].sort((a, b) => b[1] - a[1]))
      this.out.line(`  ${reason}: ${n}`);
  }

  private bell(): void {
    if (this.out.tty) this.streams.stdout.write('\x07');
  }

  private status(): void {
    if (!this.out.tty) return;
    const note = this.bundleNote();
    this.out.line(this.out.style.dim(note ? `${this.tally.line()} · ${note}` : this.tally.line()));
  }
}

/** Why a scan got no verdict, or undefined when the error is not about this one scan (e.g. a lost login). */
async function noAnswerReason(err: unknown): Promise<string | undefined> {
  const { ApiError, ConnectionError, RateLimitError } = await import('@tickets/sdk');
  if (err instanceof ConnectionError) return 'server unreachable';
  if (err instanceof RateLimitError) return 'server busy';
  if (err instanceof ApiError) return 'server error';
  return undefined;
}

const isUnreachable = async (err: unknown) => err instanceof (await import('@tickets/sdk')).ConnectionError;

/** While deciding offline with --fallback-offline, how often to ask whether the server is back. */
const PROBE_MS = 2_000;

/** While online, how often door mode brings the event's bundle up to date (TICKETS_DOOR_REFRESH_MS in tests). */
const REFRESH_MS = 60_000;

/**
 * The synced bundle for --offline / --fallback-offline (required), or the one this device already has
 * (kept fresh by an online door); its list is the gate's list.
 */
async function openBundle(ctx: Context, eventId: string, listId: string | undefined, required = true) {
  if (!/^evt_\w+$/.test(eventId)) throw new UsageError(`expected an event id (evt_…), got "${eventId}"`);
  const store = new OfflineStore(dirname((await ctx.store()).path));
  const bundle = store.load(eventId);
  if (!bundle) {
    if (!required) return null;
    throw new UsageError(
      `${eventId} is not synced for offline use: run \`tickets checkin sync ${eventId}\` first`,
    );
  }
  if (!required && listId && listId !== bundle.list.id) return null;
  if (listId && listId !== bundle.list.id)
    throw new UsageError(
      `the synced bundle is for list ${bundle.list.id}, not ${listId}: run \`tickets checkin sync ${eventId} --list ${listId}\``,
    );
  return { store, bundle };
}

export function registerDoor(program: Command): void {
  newDoorCommand(program);
}

/** `tickets door <event>`: its flags become DoorOptions for `run` (doorRun unless a test gives another). */
export function newDoorCommand(
  program: Command,
  run: (f: Factory, o: DoorOptions) => Promise<number> = doorRun,
): Command {
  const command = program
    .command('door')
    .description(
      'Door mode: scan codes one per line from stdin (a USB scanner types each and Enter), a verdict for each',
    )
    .argument('<event>', 'the event (evt_…)')
    .option('--list <list>', "the gate's check-in list (cl_…; default: the event's main list)", listIdArg)
    .option('--gate <name>', 'where you stand, e.g. North; shown when a ticket is scanned again')
    .option('--device <id>', "this scanner's id (default: one generated once and kept in the profile)")
    .addOption(
      new Option('--exit', 'scan people out (re-entry lists only; needs the network)').conflicts([
        'offline',
        'fallbackOffline',
      ]),
    )
    .addOption(
      new Option(
        '--offline',
        'decide every scan with the bundle from `tickets checkin sync`; admissions queued for upload',
      ).conflicts('fallbackOffline'),
    )
    .option(
      '--fallback-offline',
      'online, but decide with the synced bundle while the server is unreachable (marked "offline")',
    )
    .action(async (event: string, flags: Record<string, unknown>, cmd: Command) => {
      const options: DoorOptions = {
        event,
        list: flags.list as string | undefined,
        gate: flags.gate as string | undefined,
        device: flags.device as string | undefined,
        direction: flags.exit ? 'exit' : 'entry',
        offline: Boolean(flags.offline),
        fallbackOffline: Boolean(flags.fallbackOffline),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets door evt_… --gate North',
    'tickets door evt_… --list cl_… --gate "VIP door" --device scanner-1',
    'tickets checkin sync evt_… && tickets door evt_… --fallback-offline --gate North',
    'tickets door evt_… --json < codes.txt',
  );
}

/**
 * Reads codes one per line from the factory's stdin until it ends, a verdict for each, then the
 * summary; answers 0 (refusals are verdicts, not failures). Ctrl-C prints the summary and exits 0.
 */
export async function doorRun(f: Factory, o: DoorOptions): Promise<number> {
  const { out } = f;
  const eventId = o.event;
  const synced = await openBundle(f.ctx, eventId, o.list, o.offline || o.fallbackOffline);
  /** Decide with the bundle when the server can't be reached (only when asked to). */
  const fallBack = o.offline || o.fallbackOffline ? synced : null;
  const client = o.offline ? null : await f.client();
  const device_id = await deviceId(f.ctx, o.device);
  // Loaded now rather than on the first refusal, so no scan pays for it.
  void import('luxon');
  const tally = new Tally();
  const screen = new DoorScreen(f.io, out, tally, () =>
    synced ? `Bundle ${bundleAge(synced.bundle, f.now()).text} old` : undefined,
  );
  if (synced && !out.json) {
    const age = bundleAge(synced.bundle, f.now());
    const say = age.ms > STALE_BUNDLE_MS && o.offline ? out.warn : out.info;
    say.call(out, `Offline bundle: ${synced.bundle.list.name}, synced ${age.text} ago.`);
  }

  /** Tickets admitted in this session: the bundle does not know them, so offline must not admit them again. */
  const admittedHere = new Map<string, Validation>();
  let offlineNow = o.offline;
  let probe: NodeJS.Timeout | undefined;
  const goOffline = () => {
    if (offlineNow || !client || !fallBack) return;
    offlineNow = true;
    out.warn(
      `Server unreachable: deciding from the bundle synced ${bundleAge(fallBack.bundle, f.now()).text} ago (${fallBack.bundle.synced_at}).`,
    );
    probe = setInterval(() => {
      client.checkin.lists(eventId).then(
        () => {
          if (!offlineNow) return;
          offlineNow = false;
          clearInterval(probe);
          out.success('Server back: deciding online again.');
        },
        () => {},
      );
    }, PROBE_MS);
    probe.unref();
  };

  let list = o.list ?? fallBack?.bundle.list.id;
  if (client) {
    try {
      list = await doorList(client, eventId, list);
    } catch (err) {
      if (!fallBack || !(await isUnreachable(err))) throw err;
      goOffline();
    }
  }

  // While online the bundle follows the server: every minute, and at once after the server refused a
  // ticket the bundle would let in (a refund or transfer since the sync), so a fall-back to offline
  // decides with what the server last said.
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    if (!synced || !client || offlineNow) return refreshing;
    refreshing ??= (async () => {
      const { sync } = await import('./checkin-offline.js');
      try {
        await sync(client, synced.store, eventId, synced.bundle.list.id);
        synced.bundle = synced.store.load(eventId) ?? synced.bundle;
      } catch {
        // Unreachable now: the next refresh tries again; the bundle in hand still decides.
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };
  const everyMs = Number(f.io.env.TICKETS_DOOR_REFRESH_MS) || REFRESH_MS;
  const refresher = synced && client ? setInterval(refresh, everyMs) : undefined;
  refresher?.unref();
  /** The server refused a ticket that the bundle would admit. */
  const bundleWouldAdmit = (v: Validation) => {
    if (!synced || v.admitted || !v.ticket) return false;
    const known = synced.bundle.tickets[v.ticket.id];
    return !known || (v.result === 'revoked' && known.status !== 'void');
  };

  const decideOffline = async (code: string): Promise<Validation> => {
    const { decodeTicketCode, verifyOffline } = await offlineModules();
    const now = f.now();
    const earlier = admittedHere.get(decodeTicketCode(code)?.payload.ticketId ?? '');
    if (earlier)
      return {
        ...earlier,
        result: 'already_used',
        admitted: false,
        message: 'Already admitted on this device.',
        first_used: { at: earlier.scanned_at, gate: o.gate ?? null, device_id },
        scanned_at: now.toISOString(),
      };
    return verifyOffline(code, synced!.store, synced!.bundle, { device_id, gate: o.gate, now });
  };

  /** The verdict, and whether it was decided offline; throws when there is none. */
  const decide = async (code: string): Promise<{ v: Validation; offline: boolean }> => {
    if (!offlineNow && client) {
      try {
        const v = await client.checkin.validate({
          code,
          list,
          gate: o.gate,
          device_id,
          direction: o.direction,
        });
        return { v, offline: false };
      } catch (err) {
        if (!fallBack || !(await isUnreachable(err))) throw err;
        goOffline();
      }
    }
    return { v: await decideOffline(code), offline: true };
  };

  if (out.tty && !out.json)
    out.info(out.errStyle.dim('Door open: scan a ticket. Ctrl-C prints the summary.'));

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearInterval(probe);
    clearInterval(refresher);
    screen.summary();
  };
  // Ctrl-C ends the shift at once, even with a scan still waiting for its answer.
  const onInterrupt = () => {
    finish();
    process.exit(EXIT.ok);
  };
  process.once('SIGINT', onInterrupt);

  // The iterator buffers lines: a scanner typing faster than the server answers is served in order.
  const lines = createInterface({
    input: f.io.stdin,
    terminal: false,
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  try {
    for await (const line of lines) {
      const code = line.trim();
      if (!code) continue;
      let decided: { v: Validation; offline: boolean };
      try {
        decided = await decide(code);
      } catch (err) {
        const { ValidationError } = await import('@tickets/sdk');
        if (err instanceof ValidationError) {
          // Not even shaped like a code (e.g. far too long): the server will not look it up.
          tally.refuse('not a ticket of ours');
          screen.refused('not a ticket of ours (unreadable code)', code);
          continue;
        }
        const why = await noAnswerReason(err);
        if (why === undefined) throw err;
        tally.noAnswer++;
        screen.noAnswer(why, code);
        continue;
      }
      const { v, offline } = decided;
      if (!offline && bundleWouldAdmit(v)) void refresh();
      if (v.result === 'admitted' && v.ticket) admittedHere.set(v.ticket.id, v);
      tally.count(v, offline);
      await screen.verdict(v, offline);
    }
  } finally {
    lines.close();
    process.removeListener('SIGINT', onInterrupt);
    finish();
    await refreshing;
  }
  return EXIT.ok;
}

const offlineModules = async () => ({
  ...(await import('@tickets/sdk')),
  ...(await import('../offline.js')),
});
