import { dirname } from 'node:path';
import type { CheckinBatchResult, CheckinStats, Tickets } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';
import { OfflineStore, type QueuedScan, type StoredBundle } from '../offline.js';
import type { Output } from '../output.js';

/** At most this many scans per upload request (the API's limit). */
export const UPLOAD_BATCH = 500;

/** An `evt_…` argument; anything else is a usage error before a request is made. */
export const eventIdArg = parse.id('evt', 'an event');

export async function offlineStore(ctx: Context): Promise<OfflineStore> {
  return new OfflineStore(dirname((await ctx.store()).path));
}

/** `tickets validate --offline` warns when the bundle is older than this. */
export const STALE_BUNDLE_MS = 10 * 60_000;

/** How long ago a bundle was synced, as a person reads it ("42 minutes"). */
export function bundleAge(bundle: StoredBundle, now: Date): { ms: number; text: string } {
  const ms = Math.max(0, now.getTime() - Date.parse(bundle.synced_at));
  const minutes = Math.floor(ms / 60_000);
  const text =
    minutes < 1
      ? 'less than a minute'
      : minutes < 120
        ? `${minutes} minute${minutes === 1 ? '' : 's'}`
        : minutes < 48 * 60
          ? `${Math.floor(minutes / 60)} hours`
          : `${Math.floor(minutes / 1440)} days`;
  return { ms, text };
}

/** Ticket type names, when this credential may read them (a checkin-scoped key may not). */
async function typeNames(client: Tickets, eventId: string): Promise<Record<string, string>> {
  try {
    const types = await client.ticketTypes.list(eventId, { includeHidden: true });
    return Object.fromEntries(types.map((t) => [t.id, t.name]));
  } catch {
    return {};
  }
}

export interface SyncSummary {
  event_id: string;
  list_id: string;
  list_name: string;
  full: boolean;
  tickets: number;
  changes: number;
  cursor: string;
}

export async function sync(
  client: Tickets,
  store: OfflineStore,
  eventId: string,
  list?: string,
): Promise<SyncSummary> {
  const stored = store.load(eventId);
  const incremental = stored !== null && (list === undefined || list === stored.list.id);
  const names = await typeNames(client, eventId);
  let bundle: StoredBundle | null = incremental ? stored : null;
  let since = incremental ? stored.cursor : undefined;
  let changes = 0;
  const listId = list ?? stored?.list.id;
  for (;;) {
    const page = await client.checkin.bundle(eventId, { list: listId, since, limit: 1000 });
    changes += page.tickets.length;
    bundle = store.merge(bundle, page, names);
    since = page.cursor;
    if (!page.has_more) break;
  }
  const synced = bundle;
  await store.locked(eventId, () => store.save(synced));
  return {
    event_id: eventId,
    list_id: bundle.list.id,
    list_name: bundle.list.name,
    full: !incremental,
    tickets: Object.keys(bundle.tickets).length,
    changes,
    cursor: bundle.cursor,
  };
}

/** HH:mm on the door's clock (with the date when it is another day than `ref`). */
async function clock(iso: string, ref: string): Promise<string> {
  const { DateTime } = await import('luxon');
  const at = DateTime.fromISO(iso).toLocal();
  return at.hasSame(DateTime.fromISO(ref).toLocal(), 'day')
    ? at.toFormat('HH:mm')
    : at.toFormat('yyyy-MM-dd HH:mm');
}

export interface UploadSummary {
  event_id: string;
  uploaded: number;
  conflicts: Array<{
    scan_id: string;
    ticket_id: string | null;
    scanned_at: string;
    first_used: CheckinBatchResult['results'][number]['first_used'];
  }>;
  left: number;
}

async function upload(client: Tickets, store: OfflineStore, eventId: string): Promise<UploadSummary> {
  const queued = store.queue(eventId);
  const summary: UploadSummary = { event_id: eventId, uploaded: 0, conflicts: [], left: queued.length };
  // One request per device id (a profile may have changed it) and per 500 scans.
  const byDevice = new Map<string, QueuedScan[]>();
  for (const s of queued) byDevice.set(s.device_id, [...(byDevice.get(s.device_id) ?? []), s]);
  for (const [device_id, scans] of byDevice) {
    for (let i = 0; i < scans.length; i += UPLOAD_BATCH) {
      const batch = scans.slice(i, i + UPLOAD_BATCH);
      const result = await client.checkin.uploadBatch({
        device_id,
        scans: batch.map((s) => ({
          id: s.id,
          code: s.code,
          list: s.list,
          ...(s.gate ? { gate: s.gate } : {}),
          direction: s.direction,
          scanned_at: s.scanned_at,
          offline_result: s.offline_result,
        })),
      });
      // Only now, with the server's answer, do these scans leave the queue.
      await store.locked(eventId, () => store.removeUploaded(eventId, batch));
      summary.uploaded += batch.length;
      summary.left -= batch.length;
      const byId = new Map(batch.map((s) => [s.id, s]));
      for (const r of result.results)
        if (r.conflict)
          summary.conflicts.push({
            scan_id: r.id,
            ticket_id: r.ticket_id,
            scanned_at: byId.get(r.id)?.scanned_at ?? '',
            first_used: r.first_used,
          });
    }
  }
  return summary;
}

async function showStats(out: Output, s: CheckinStats): Promise<void> {
  out.details([
    ['Event', s.event_id],
    ['Admitted', s.admitted],
    ['Inside', s.inside],
    ['Refused', s.refused],
    ['Reasons', s.refused_by_reason.map((r) => `${r.reason} ${r.count}`).join(', ') || 'none'],
  ]);
  out.line();
  await out.table(
    ['LIST', 'ADMITTED', 'INSIDE', 'REFUSED'],
    s.lists.map((l) => [l.name, l.admitted, l.inside, l.refused]),
  );
  if (s.gates.length > 0) {
    out.line();
    await out.table(
      ['GATE', 'ADMITTED', 'REFUSED'],
      s.gates.map((g) => [g.gate ?? '(none)', g.admitted, g.refused]),
    );
  }
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** What `tickets checkin sync` was asked to do, once its flags are read. */
export interface CheckinSyncOptions {
  event: string;
  /** --list: the gate's check-in list (else the event's main list, or the one synced before). */
  list?: string;
}

/** What `tickets checkin upload` was asked to do: one event, or (none given) every one with scans waiting. */
export interface CheckinUploadOptions {
  event?: string;
}

/** What `tickets checkin stats` was asked to do, once its flags are read. */
export interface CheckinStatsOptions {
  event: string;
  /** --watch: redraw every 2 seconds until Ctrl-C (on a terminal, without --json). */
  watch: boolean;
}

export function registerOfflineCheckin(checkin: Command): void {
  newCheckinSyncCommand(checkin);
  newCheckinUploadCommand(checkin);
  newCheckinStatsCommand(checkin);
}

/** `tickets checkin sync`: its flags become CheckinSyncOptions for `run` (checkinSyncRun). */
export function newCheckinSyncCommand(
  checkin: Command,
  run: Run<CheckinSyncOptions> = checkinSyncRun,
): Command {
  const command = checkin
    .command('sync')
    .description("Keep an event's tickets on this device for offline scanning: first all, then changes")
    .argument('<event>', 'the event (evt_…)', eventIdArg)
    .option('--list <list>', "the gate's check-in list (cl_…; default: the event's main list)")
    .action(async (event: string, flags: { list?: string }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event, list: flags.list });
    });
  return examples(command, 'tickets checkin sync evt_…', 'tickets checkin sync evt_… --list cl_…');
}

/** Brings the event's bundle on this device up to date: all of it the first time, then the changes. */
export async function checkinSyncRun(f: Factory, o: CheckinSyncOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const store = await offlineStore(f.ctx);
  const s = await out.spin('Syncing…', sync(client, store, o.event, o.list));
  await out.result(s, () =>
    out.line(
      `Synced ${s.event_id} (${s.list_name}): ${s.tickets} tickets, ${s.changes} changes${s.full ? ' (full)' : ''}`,
    ),
  );
  return EXIT.ok;
}

/** `tickets checkin upload`: its argument becomes CheckinUploadOptions for `run` (checkinUploadRun). */
export function newCheckinUploadCommand(
  checkin: Command,
  run: Run<CheckinUploadOptions> = checkinUploadRun,
): Command {
  const command = checkin
    .command('upload')
    .description('Send the scans made offline; reports tickets another door had admitted first (exit 1)')
    .argument('[event]', 'the event (evt_…; default: every event with scans waiting)', eventIdArg)
    .action(async (event: string | undefined, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event });
    });
  return examples(command, 'tickets checkin upload', 'tickets checkin upload evt_… --json');
}

/** Sends the queued offline scans; exit 1 when another door had admitted one of those tickets first. */
export async function checkinUploadRun(f: Factory, o: CheckinUploadOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const store = await offlineStore(f.ctx);
  const events = o.event ? [o.event] : store.queuedEvents();
  const results: UploadSummary[] = [];
  for (const e of events) results.push(await out.spin('Uploading…', upload(client, store, e)));
  await out.result(results, async () => {
    for (const r of results) {
      for (const c of r.conflicts) {
        const first = c.first_used;
        const where = first ? `${first.gate ? ` at ${first.gate}` : ''} by ${first.device_id}` : '';
        const when = first ? ` at ${await clock(first.at, c.scanned_at)}` : '';
        out.line(
          `CONFLICT ${c.ticket_id ?? c.scan_id} admitted here at ${await clock(c.scanned_at, c.scanned_at)} but first used${where}${when}`,
        );
      }
      out.info(
        `Uploaded ${r.uploaded} scan${r.uploaded === 1 ? '' : 's'} for ${r.event_id}; ${r.conflicts.length} conflict${r.conflicts.length === 1 ? '' : 's'}.`,
      );
    }
    if (results.length === 0) out.info('Nothing to upload.');
  });
  return results.some((r) => r.conflicts.length > 0) ? EXIT.failure : EXIT.ok;
}

/** `tickets checkin stats`: its flags become CheckinStatsOptions for `run` (checkinStatsRun). */
export function newCheckinStatsCommand(
  checkin: Command,
  run: Run<CheckinStatsOptions> = checkinStatsRun,
): Command {
  const command = checkin
    .command('stats')
    .description('Door figures: admitted, inside, refused, per list and gate')
    .argument('<event>', 'the event (evt_…)', eventIdArg)
    .option('--watch', 'redraw every 2 seconds until Ctrl-C (on a terminal)')
    .action(async (event: string, flags: { watch?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { event, watch: Boolean(flags.watch) });
    });
  return examples(
    command,
    'tickets checkin stats evt_…',
    'tickets checkin stats evt_… --watch',
    'tickets checkin stats evt_… --json | jq .admitted',
  );
}

/** The door's figures once, or (--watch on a terminal) redrawn every 2 seconds until Ctrl-C. */
export async function checkinStatsRun(f: Factory, o: CheckinStatsOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const stats = await out.spin('Loading…', client.checkin.stats(o.event));
  if (!o.watch || out.json || !out.tty) {
    await out.result(stats, (s) => showStats(out, s));
    return EXIT.ok;
  }
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  let s = stats;
  while (!stop) {
    f.io.stdout.write('\u001b[2J\u001b[H');
    await showStats(out, s);
    out.line(out.style.dim(`\nUpdated ${f.now().toLocaleTimeString()} · Ctrl-C to stop`));
    await new Promise((r) => setTimeout(r, 2000));
    if (!stop) s = await client.checkin.stats(o.event);
  }
  return EXIT.ok;
}
