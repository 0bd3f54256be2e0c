import { randomUUID } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { CheckinBundle, CheckinBundleTicket, Validation } from '@tickets/sdk';
import { io } from './io.js';

/**
 * A door without the network: per event, the synced bundle (`<configDir>/offline/<event>.json`) and an
 * append-only queue of the scans made offline (`<configDir>/offline/<event>.queue.jsonl`), each line
 * fsynced before the verdict is shown, so a crash or a pulled plug loses no admission.
 */
export interface StoredBundle {
  version: 1;
  event_id: string;
  /** For the verdicts (absent in bundles synced before it was kept: the id stands in). */
  event_name?: string;
  /** The list's rules, applied offline as the server applies them (absent in bundles synced before they were kept). */
  list: {
    id: string;
    name: string;
    ticket_type_ids?: string[] | null;
    starts_at?: string | null;
    ends_at?: string | null;
  };
  public_key: string;
  /** Pass as `since` on the next sync. */
  cursor: string;
  synced_at: string;
  /** Ticket type names, when the credential may read them (a door key may not). */
  type_names: Record<string, string>;
  tickets: Record<string, CheckinBundleTicket>;
}

/** One scan made offline, as it is uploaded (plus what the door needs to remember about it). */
export interface QueuedScan {
  id: string;
  code: string;
  list: string;
  gate?: string;
  direction: 'entry';
  scanned_at: string;
  offline_result: 'admitted';
  device_id: string;
  ticket_id: string;
  /**
   * The ticket was sold after the bundle was synced: its code's signature proved it genuine, but the door
   * could not know whether it was revoked since. The upload lets the server decide.
   */
  not_in_last_sync?: boolean;
}

/** A verdict decided offline; `not_in_last_sync` when the ticket is newer than the bundle. */
export type OfflineValidation = Validation & { not_in_last_sync?: boolean };

export class OfflineStore {
  readonly dir: string;

  constructor(configDir: string) {
    this.dir = join(configDir, 'offline');
  }

  bundlePath(eventId: string): string {
    return join(this.dir, `${safe(eventId)}.json`);
  }

  queuePath(eventId: string): string {
    return join(this.dir, `${safe(eventId)}.queue.jsonl`);
  }

  /** Events with a synced bundle on this device. */
  events(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length));
  }

  /** Events with scans waiting to be uploaded. */
  queuedEvents(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.queue.jsonl'))
      .map((f) => f.slice(0, -'.queue.jsonl'.length))
      .filter((e) => this.queue(e).length > 0);
  }

  load(eventId: string): StoredBundle | null {
    const path = this.bundlePath(eventId);
    if (!existsSync(path)) return null;
    const mtime = statSync(path).mtimeMs;
    const bundle = JSON.parse(readFileSync(path, 'utf8')) as StoredBundle;
    this.loadedAt.set(bundle, mtime);
    return bundle;
  }

  /** When each bundle in memory was read from its file, to notice another process's changes. */
  private readonly loadedAt = new WeakMap<StoredBundle, number>();

  /**
   * Whether a ticket is admitted as far as this device knows, with what another process on it (an upload) wrote
   * to the bundle file since `bundle` was read: its admissions are copied in.
   */
  admittedHere(bundle: StoredBundle, ticketId: string): boolean {
    const path = this.bundlePath(bundle.event_id);
    const mtime = existsSync(path) ? statSync(path).mtimeMs : undefined;
    if (mtime !== undefined && mtime !== this.loadedAt.get(bundle)) {
      const fresh = JSON.parse(readFileSync(path, 'utf8')) as StoredBundle;
      for (const [id, t] of Object.entries(fresh.tickets)) {
        const mine = bundle.tickets[id];
        if (t.admitted && mine) mine.admitted = true;
      }
      this.loadedAt.set(bundle, mtime);
    }
    return bundle.tickets[ticketId]?.admitted === true;
  }

  /**
   * Runs `fn` holding this device's lock on an event's offline files, so two `tickets` processes on one device
   * (two door windows, a door and an upload) neither admit one ticket twice nor lose each other's scans.
   */
  async locked<T>(eventId: string, fn: () => T | Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { lock } = await import('proper-lockfile');
    const release = await lock(join(this.dir, safe(eventId)), {
      realpath: false,
      // Held for a few milliseconds at a time; a lock left by a killed process is taken over after 10 s.
      retries: { retries: 200, minTimeout: 2, maxTimeout: 50, factor: 1.5 },
      stale: 10_000,
    });
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Replaces the bundle atomically: a crash leaves the old one or the new one, never half of either. */
  save(bundle: StoredBundle): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.bundlePath(bundle.event_id);
    writeDurably(`${path}.tmp`, `${JSON.stringify(bundle)}\n`);
    renameSync(`${path}.tmp`, path);
  }

  /** Merges a bundle page into `current` (null: a fresh start). Returns the result, not yet saved. */
  merge(current: StoredBundle | null, page: CheckinBundle, typeNames: Record<string, string>): StoredBundle {
    const tickets = { ...current?.tickets };
    for (const t of page.tickets) tickets[t.id] = t;
    return {
      version: 1,
      event_id: page.event_id,
      event_name: page.event_name,
      list: {
        id: page.list.id,
        name: page.list.name,
        ticket_type_ids: page.list.ticket_type_ids,
        starts_at: page.list.starts_at,
        ends_at: page.list.ends_at,
      },
      public_key: page.public_key,
      cursor: page.cursor,
      synced_at: page.generated_at,
      type_names: { ...current?.type_names, ...typeNames },
      tickets,
    };
  }

  /** The scans waiting for upload, oldest first; a torn last line (a crash mid-write) is skipped. */
  queue(eventId: string): QueuedScan[] {
    const path = this.queuePath(eventId);
    if (!existsSync(path)) return [];
    const scans: QueuedScan[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        scans.push(JSON.parse(line) as QueuedScan);
      } catch {
        // a line cut short by a crash: it was never confirmed at the door
      }
    }
    return scans;
  }

  /**
   * The scans already queued here, by ticket, read once and kept while the file is only appended to
   * by this store: re-reading the whole queue for every scan made a long door session slow down
   * with every admission. A change in the file's size that we did not make (another process on this
   * device) makes it read the file again.
   */
  private readonly queued = new Map<string, { size: number; byTicket: Map<string, QueuedScan> }>();

  queuedScan(eventId: string, ticketId: string): QueuedScan | undefined {
    const path = this.queuePath(eventId);
    const size = existsSync(path) ? statSync(path).size : 0;
    let index = this.queued.get(eventId);
    if (!index || index.size !== size) {
      index = { size, byTicket: new Map() };
      for (const scan of this.queue(eventId))
        if (!index.byTicket.has(scan.ticket_id)) index.byTicket.set(scan.ticket_id, scan);
      this.queued.set(eventId, index);
    }
    return index.byTicket.get(ticketId);
  }

  /** Appends one scan and flushes it to disk before returning. */
  enqueue(eventId: string, scan: QueuedScan): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.queuePath(eventId);
    const before = existsSync(path) ? statSync(path).size : 0;
    appendFileSync(path, `${JSON.stringify(scan)}\n`, { mode: 0o600 });
    const index = this.queued.get(eventId);
    if (index && index.size === before) {
      if (!index.byTicket.has(scan.ticket_id)) index.byTicket.set(scan.ticket_id, scan);
      index.size = statSync(path).size;
    } else this.queued.delete(eventId);
    const fd = openSync(path, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Drops uploaded scans from the queue (after the server answered). Their admissions are first
   * recorded in the bundle, so this device keeps refusing those tickets until the next sync.
   */
  removeUploaded(eventId: string, uploaded: QueuedScan[]): void {
    const bundle = this.load(eventId);
    if (bundle) {
      for (const scan of uploaded) {
        const t = bundle.tickets[scan.ticket_id];
        if (t) t.admitted = true;
      }
      this.save(bundle);
    }
    const done = new Set(uploaded.map((s) => s.id));
    const path = this.queuePath(eventId);
    const left = this.queue(eventId).filter((s) => !done.has(s.id));
    writeDurably(`${path}.tmp`, left.map((s) => `${JSON.stringify(s)}\n`).join(''));
    renameSync(`${path}.tmp`, path);
    this.queued.delete(eventId);
  }
}

function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Event ids are `evt_…`; anything else must not escape the directory. */
function safe(eventId: string): string {
  if (!/^[\w-]+$/.test(eventId)) throw new TypeError(`not an event id: ${eventId}`);
  return eventId;
}

export interface OfflineScanOptions {
  device_id: string;
  gate?: string;
  dry_run?: boolean;
  /** For tests and clocks: when the scan happened. */
  now?: Date;
}

/**
 * Decides at the door with only the bundle, in the shape of an online validation (order_id unknown
 * offline, so empty). Admissions are queued for upload, durably, before this returns.
 */
export async function verifyOffline(
  code: string,
  store: OfflineStore,
  bundle: StoredBundle,
  options: OfflineScanOptions,
): Promise<OfflineValidation> {
  const { verifyTicketCode } = await import('@tickets/sdk');
  const scanned_at = (options.now ?? new Date()).toISOString();
  // Every verdict about one of the event's tickets names the event (a bundle synced before names were
  // in it has only the id).
  const event = {
    id: bundle.event_id,
    name: (bundle as { event_name?: string }).event_name ?? bundle.event_id,
  };
  const answer = (
    result: Validation['result'],
    message: string,
    extra: Partial<Validation> = {},
  ): Validation => {
    const v: Validation = {
      object: 'validation',
      result,
      admitted: result === 'admitted',
      message,
      ticket: null,
      event: null,
      revoked_reason: null,
      first_used: null,
      list_id: bundle.list.id,
      scanned_at,
      ...extra,
    };
    return v.ticket ? { ...v, event: v.event ?? event } : v;
  };

  // The signature is the proof: a code signed with this event's key is one of its tickets, even one
  // sold after the last sync. The bundle only adds what a signature can't say (revocations, names).
  const check = await verifyTicketCode(code, bundle.public_key);
  if (!check.valid || check.eventId !== bundle.event_id)
    return answer('invalid', 'This is not a valid ticket for this event.');
  const t: CheckinBundleTicket | undefined = bundle.tickets[check.ticketId];
  const unsynced = t === undefined;
  const typeId = t?.ticket_type_id ?? check.ticketTypeId;
  const ticket = {
    id: check.ticketId,
    order_id: '',
    holder_name: t?.holder_name ?? '',
    ticket_type_id: typeId,
    ticket_type_name: bundle.type_names[typeId] ?? '',
  };
  if (t?.status === 'void')
    return answer('revoked', `Ticket ${t.void_reason ?? 'cancelled'}.`, {
      ticket,
      revoked_reason: t.void_reason ?? 'cancelled',
    });
  if (t && check.version < t.code_version)
    return answer('revoked', 'An older code: the ticket was transferred.', {
      ticket,
      revoked_reason: 'transferred',
    });
  // The gate's rules, in the server's order: which ticket types it admits, then its time window.
  const { ticket_type_ids: types, starts_at: opens, ends_at: closes } = bundle.list;
  if (types && !types.includes(typeId))
    return answer('wrong_list', `Not admitted through ${bundle.list.name}.`, { ticket });
  if (opens && scanned_at < opens)
    return answer('not_yet_valid', `${bundle.list.name} opens ${opens}.`, { ticket });
  if (closes && scanned_at >= closes)
    return answer('expired', `${bundle.list.name} closed ${closes}.`, { ticket });
  // From the look-up to the queued admission, one process at a time on this device.
  return store.locked(bundle.event_id, async (): Promise<OfflineValidation> => {
    const earlier = store.queuedScan(bundle.event_id, ticket.id);
    if (earlier)
      return answer('already_used', 'Already admitted on this device.', {
        ticket,
        first_used: { at: earlier.scanned_at, gate: earlier.gate ?? null, device_id: earlier.device_id },
      });
    if (!unsynced && store.admittedHere(bundle, ticket.id))
      return answer('already_used', 'Already admitted (as of the last sync).', { ticket });
    if (options.dry_run) return answer('valid', 'Valid (look-up only).', { ticket });
    // Widens the window between the look-up and the write, so a test can show that two processes scanning at
    // once still admit a ticket once (without the lock, both would look, find nothing, and admit).
    const widen = Number(io().env.TICKETS_TEST_SCAN_DELAY_MS ?? 0);
    if (widen > 0) await new Promise((r) => setTimeout(r, widen));

    store.enqueue(bundle.event_id, {
      id: randomUUID(),
      code: code.trim(),
      list: bundle.list.id,
      ...(options.gate ? { gate: options.gate } : {}),
      direction: 'entry',
      scanned_at,
      offline_result: 'admitted',
      device_id: options.device_id,
      ticket_id: ticket.id,
      ...(unsynced ? { not_in_last_sync: true } : {}),
    });
    if (!unsynced) return answer('admitted', 'Admitted (offline).', { ticket });
    return {
      ...answer('admitted', 'Admitted (offline): a genuine ticket sold after the last sync.', { ticket }),
      not_in_last_sync: true,
    };
  });
}
