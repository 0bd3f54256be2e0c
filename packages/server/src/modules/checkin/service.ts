import { createPublicKey, type KeyObject, timingSafeEqual, verify } from 'node:crypto';
import {
  type CheckinStats,
  decodeTicketCode,
  type ValidateInput,
  type Validation,
  type ValidationResult,
} from '@tickets/sdk';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { z } from 'zod';
import { type Db, groupedWrites, prepared } from '../../db/database.js';
import type { CheckinListRow, Database, OutboxTable } from '../../db/schema.js';
import { storeOf } from '../../db/store.js';
import type { Principal } from '../../http/app.js';
import { notFound } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { ga4Rows } from '../ga4/queue.js';
import { notifyQueued } from '../messaging/outbox.js';
import type { EventKeys } from '../orders/keys.js';
import { webhookRows } from '../webhooks/queue.js';
import { CheckinLists, createDefaultList, defaultList, findDefaultList } from './lists.js';
import { checkinStats } from './stats.js';

type Validate = z.output<typeof ValidateInput>;
type Executor = Kysely<Database> | Transaction<Database>;

const MESSAGES: Record<ValidationResult, string> = {
  admitted: 'Admitted',
  exited: 'Checked out',
  valid: 'Valid (not admitted: look-up only)',
  already_used: 'Already used',
  not_inside: 'Not checked in on this list',
  invalid: 'Not a ticket of ours',
  revoked: 'Ticket revoked',
  wrong_event: 'Ticket for another event',
  wrong_list: 'Not admitted through this gate',
  not_yet_valid: 'Not valid yet',
  expired: 'No longer valid',
  order_not_paid: 'Order not paid',
};

/**
 * The door. Admission is one conditional write: the first entry of a ticket on a list is an insert
 * into `ticket_presence` keyed by (ticket, list), which exactly one of any number of simultaneous
 * scans can win; the rest find the row and answer `already_used` with when and where it was used.
 */
// The statements every online scan runs, compiled once (see `prepared`).
const ticketForScan = prepared((k, ticketId: string, orgId: string) =>
  k
    .selectFrom('tickets')
    .innerJoin('orders', 'orders.id', 'tickets.order_id')
    .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
    .innerJoin('events', 'events.id', 'tickets.event_id')
    .select([
      'tickets.id',
      'tickets.event_id',
      'tickets.order_id',
      'tickets.ticket_type_id',
      'tickets.holder_name',
      'tickets.status',
      'tickets.void_reason',
      'tickets.code_version',
      'tickets.code',
      'orders.status as order_status',
      'orders.analytics as order_analytics',
      'ticket_types.name as type_name',
      'events.name as event_name',
    ])
    .where('tickets.id', '=', ticketId)
    .where('tickets.org_id', '=', orgId),
);

const firstEntry = prepared(
  (k, ticketId: string, listId: string, at: string, gate: string | null, device: string, changedAt: string) =>
    k
      .insertInto('ticket_presence')
      .values({
        ticket_id: ticketId,
        list_id: listId,
        inside: 1,
        first_entry_at: at,
        first_gate: gate,
        first_device: device,
        last_change_at: changedAt,
      })
      .onConflict((oc) => oc.columns(['ticket_id', 'list_id']).doNothing()),
);

const logScan = prepared(
  (
    k,
    id: string,
    orgId: string,
    eventId: string | null,
    listId: string | null,
    ticketId: string | null,
    device: string,
    gate: string | null,
    direction: 'entry' | 'exit',
    result: ValidationResult,
    at: string,
  ) =>
    k.insertInto('checkins').values({
      id,
      org_id: orgId,
      event_id: eventId,
      list_id: listId,
      ticket_id: ticketId,
      device_id: device,
      gate,
      direction,
      result,
      offline: 0,
      scanned_at: at,
      created_at: at,
      scan_id: null,
      offline_result: null,
      first_used: null,
    }),
);

/**
 * What a ticket's first entry tells the organizer's systems: `ticket.checked_in` webhooks and GA4's
 * `ticket_checked_in` (each a cached lookup when the organization has none, so the door stays fast).
 */
async function checkedInSignals(
  db: Executor,
  orgId: string,
  ticket: { id: string; order_id: string; order_analytics: string | null },
): Promise<OutboxTable[]> {
  return [
    ...(await webhookRows(db, orgId, 'ticket.checked_in', { ticket_id: ticket.id })),
    ...(await ga4Rows(
      db,
      orgId,
      'ticket_checked_in',
      { order_id: ticket.order_id, ticket_id: ticket.id },
      ticket.order_analytics,
    )),
  ];
}

/** Thrown by `check` when a scan needs a transaction around it after all (see `validate`). */
const NEEDS_TRANSACTION = Symbol('needs a transaction');

/**
 * How long an event's default list is remembered: every scan without a list uses it. A change made in
 * this process forgets it at once; one made in another process is seen within this time.
 */
const DEFAULT_LIST_MS = 2_000;

interface ScanLog {
  id: string;
  orgId: string;
}

export class Checkin {
  readonly lists: CheckinLists;

  private readonly publicKeys = new Map<string, KeyObject>();
  private readonly defaults = new Map<string, { row: CheckinListRow; until: number }>();
  private readonly write: ReturnType<typeof groupedWrites>;

  constructor(
    readonly db: Db,
    readonly keys: EventKeys,
  ) {
    this.write = groupedWrites(db);
    // A list changed: the door's remembered default list of its event is read again.
    this.lists = new CheckinLists(db, (orgId, eventId) => this.defaults.delete(`${orgId}/${eventId}`));
  }

  private get k() {
    return this.db.kysely;
  }

  async publicKey(eventId: string): Promise<KeyObject> {
    let key = this.publicKeys.get(eventId);
    if (!key) {
      key = createPublicKey((await this.keys.forEvent(eventId)).privateKey);
      this.publicKeys.set(eventId, key);
    }
    return key;
  }

  async validate(principal: Principal, input: Validate): Promise<Validation> {
    const now = nowIso();
    // The event's key is loaded before the transaction: on SQLite the transaction holds the only
    // connection, and loading it inside would wait for itself.
    const decoded = decodeTicketCode(input.code);
    if (decoded && !this.publicKeys.has(decoded.payload.eventId)) {
      const own = await this.k
        .selectFrom('events')
        .select('id')
        .where('id', '=', decoded.payload.eventId)
        .where('org_id', '=', principal.orgId)
        .executeTakeFirst();
      if (own) await this.publicKey(own.id);
    }
    const log = (db: Executor, validation: Validation, eventId: string | null) =>
      logScan(
        db,
        newId('checkin'),
        principal.orgId,
        eventId,
        validation.list_id,
        validation.ticket?.id ?? null,
        input.device_id,
        input.gate ?? null,
        input.direction,
        validation.result,
        now,
      );
    // On Postgres an entry scan is one statement that admits and logs together (see `admitAndLog`),
    // with no transaction round trips; scans that change presence otherwise take the path below.
    if (storeOf(this.db).remote && !input.dry_run && input.direction === 'entry') {
      try {
        const { validation, eventId, logged } = await this.check(
          this.k,
          principal.orgId,
          input,
          now,
          now,
          { id: newId('checkin'), orgId: principal.orgId },
          decoded,
        );
        // A refusal changes nothing but the log: one insert, atomic on its own.
        if (!logged) await log(this.k, validation, eventId);
        return validation;
      } catch (err) {
        if (err !== NEEDS_TRANSACTION) throw err;
      }
    }
    // The admission and its record in the scan log commit together: no admission goes unlogged.
    // On SQLite the scans of one turn of the event loop share a transaction (and its one commit).
    const scan = async (trx: Transaction<Database>) => {
      const { validation, eventId } = await this.check(
        trx,
        principal.orgId,
        input,
        now,
        now,
        undefined,
        decoded,
      );
      if (!input.dry_run) await log(trx, validation, eventId);
      return validation;
    };
    // On SQLite the scans of one turn of the event loop share a transaction (groupedWrites).
    return this.write(scan);
  }

  /**
   * Decides one scan as of `now` (the moment it was scanned; for an offline scan, on the device) and
   * applies it to ticket_presence, without recording it: the caller records the scan, online at once,
   * offline on the row it claimed for the scan id. `changedAt` stamps presence changes for the
   * check-in bundle's cursor, so it is always the server's clock.
   */
  async check(
    db: Executor,
    orgId: string,
    input: Validate,
    now: string,
    changedAt: string = now,
    /** Only outside a transaction, for an entry scan: admit and log in one statement (Postgres). */
    scanLog?: ScanLog,
    /** The code read already (validate reads it first, to load the event's key). */
    decoded = decodeTicketCode(input.code),
  ): Promise<{ validation: Validation; eventId: string | null; logged?: boolean }> {
    const answer = (
      result: ValidationResult,
      extra: Partial<Omit<Validation, 'result' | 'object'>> = {},
    ): Validation => ({
      object: 'validation',
      result,
      admitted: result === 'admitted',
      message: MESSAGES[result],
      ticket: null,
      event: null,
      revoked_reason: null,
      first_used: null,
      list_id: null,
      scanned_at: now,
      ...extra,
    });
    const ticket = decoded ? (await ticketForScan(db, decoded.payload.ticketId, orgId)).rows[0] : undefined;
    // A code we can't read, of a ticket we don't have, or whose signature or contents don't match
    // the ticket: all simply not a ticket of ours.
    if (
      !decoded ||
      !ticket ||
      decoded.payload.eventId !== ticket.event_id ||
      decoded.payload.ticketTypeId !== ticket.ticket_type_id ||
      decoded.payload.version > ticket.code_version ||
      !(
        sameCode(input.code, ticket.code) ||
        verify(null, decoded.signed, await this.publicKey(ticket.event_id), decoded.signature)
      )
    ) {
      return { validation: answer('invalid'), eventId: null };
    }
    const ticketInfo = {
      id: ticket.id,
      order_id: ticket.order_id,
      holder_name: ticket.holder_name,
      ticket_type_id: ticket.ticket_type_id,
      ticket_type_name: ticket.type_name,
    };

    const list = input.list
      ? await db
          .selectFrom('checkin_lists')
          .selectAll()
          .where('id', '=', input.list)
          .where('org_id', '=', orgId)
          .executeTakeFirst()
      : await this.cachedDefaultList(ticket.event_id, orgId, db);
    if (!list) throw notFound('check-in list');
    const base = {
      ticket: ticketInfo,
      event: { id: ticket.event_id, name: ticket.event_name },
      list_id: list.id,
    };
    const refuse = async (result: ValidationResult, extra: Partial<Validation> = {}) => ({
      validation: answer(result, { ...base, ...extra }),
      eventId: ticket.event_id,
    });

    // The door's event (or the list's): a genuine ticket of another event does not come in here.
    if ((input.event && input.event !== ticket.event_id) || list.event_id !== ticket.event_id)
      return refuse('wrong_event');
    if (ticket.status === 'void')
      return refuse('revoked', { revoked_reason: ticket.void_reason ?? 'cancelled' });
    if (decoded.payload.version < ticket.code_version)
      return refuse('revoked', { revoked_reason: 'transferred' });
    if (ticket.order_status !== 'paid' && ticket.order_status !== 'partially_refunded')
      return refuse('order_not_paid');
    const types: string[] | null = list.ticket_type_ids ? JSON.parse(list.ticket_type_ids) : null;
    if (types && !types.includes(ticket.ticket_type_id)) return refuse('wrong_list');
    if (list.starts_at && now < list.starts_at) return refuse('not_yet_valid');
    if (list.ends_at && now >= list.ends_at) return refuse('expired');

    const presence = () =>
      db
        .selectFrom('ticket_presence')
        .selectAll()
        .where('ticket_id', '=', ticket.id)
        .where('list_id', '=', list.id)
        .executeTakeFirst();
    const firstUsed = (
      p: { first_entry_at: string; first_gate: string | null; first_device: string } | undefined,
    ) => (p ? { at: p.first_entry_at, gate: p.first_gate, device_id: p.first_device } : null);

    if (input.dry_run) {
      const p = await presence();
      // Used means: came in before, and either may not come again or is inside now.
      const used = p !== undefined && (list.allow_reentry === 0 || p.inside === 1);
      return refuse(used ? 'already_used' : 'valid', { first_used: firstUsed(p) });
    }

    if (scanLog) {
      if (list.allow_reentry === 1) throw NEEDS_TRANSACTION;
      const admitted = await this.admitAndLog(db, scanLog, ticket, list.id, input, now, changedAt);
      return {
        ...(await refuse(admitted ? 'admitted' : 'already_used', {
          first_used: admitted ? null : firstUsed(await presence()),
        })),
        logged: true,
      };
    }

    if (input.direction === 'exit') {
      const out = await db
        .updateTable('ticket_presence')
        .set({ inside: 0, last_change_at: changedAt })
        .where('ticket_id', '=', ticket.id)
        .where('list_id', '=', list.id)
        .where('inside', '=', 1)
        .executeTakeFirst();
      return refuse(Number(out.numUpdatedRows) === 1 ? 'exited' : 'not_inside', {
        first_used: firstUsed(await presence()),
      });
    }

    const first = await firstEntry(
      db,
      ticket.id,
      list.id,
      now,
      input.gate ?? null,
      input.device_id,
      changedAt,
    );
    if (Number(first.numAffectedRows ?? 0) === 1) {
      // The first entry: the organizer's systems hear of it, committed with it (the caller's transaction).
      const signals = await checkedInSignals(db, orgId, ticket);
      if (signals.length) {
        await db.insertInto('outbox').values(signals).execute();
        notifyQueued(this.db);
      }
      return refuse('admitted');
    }
    if (list.allow_reentry === 1) {
      // Back in after a scan out: again a write only one scan can win.
      const back = await db
        .updateTable('ticket_presence')
        .set({ inside: 1, last_change_at: changedAt })
        .where('ticket_id', '=', ticket.id)
        .where('list_id', '=', list.id)
        .where('inside', '=', 0)
        .executeTakeFirst();
      if (Number(back.numUpdatedRows) === 1)
        return refuse('admitted', { first_used: firstUsed(await presence()) });
    }
    return refuse('already_used', { first_used: firstUsed(await presence()) });
  }

  /**
   * An entry scan of a list without re-entry, on Postgres: the presence row (which only one scan of a
   * ticket can insert) and the scan's log row in one statement, so atomic without a transaction.
   * Returns whether this scan admitted the ticket.
   */
  private async admitAndLog(
    db: Executor,
    scan: ScanLog,
    ticket: { id: string; event_id: string; order_id: string; order_analytics: string | null },
    listId: string,
    input: Validate,
    now: string,
    changedAt: string,
  ): Promise<boolean> {
    const gate = input.gate ?? null;
    // Its webhooks and GA4 event, written by the same statement only if it admits (none, mostly: then
    // the statement is the one it always was).
    const signals = await checkedInSignals(db, scan.orgId, ticket);
    const signalled = signals.length
      ? sql`, o as (
        insert into outbox (id, org_id, kind, payload, status, attempts, available_at, created_at,
          updated_at, channel, recipient)
        ${sql.join(
          signals.map(
            (r) => sql`select ${r.id}::text, ${r.org_id}::text, ${r.kind}::text, ${r.payload}::text,
              'queued', 0, ${r.available_at}::text, ${r.created_at}::text, ${r.updated_at}::text,
              ${r.channel}::text, ${r.recipient}::text where exists (select 1 from p)`,
          ),
          sql` union all `,
        )}
      )`
      : sql``;
    const { rows } = await sql<{ admitted: boolean }>`
      with p as (
        insert into ticket_presence
          (ticket_id, list_id, inside, first_entry_at, first_gate, first_device, last_change_at)
        values (${ticket.id}, ${listId}, 1, ${now}, ${gate}, ${input.device_id}, ${changedAt})
        on conflict (ticket_id, list_id) do nothing
        returning ticket_id
      ), c as (
        insert into checkins (id, org_id, event_id, list_id, ticket_id, device_id, gate, direction, result,
          offline, scanned_at, created_at, scan_id, offline_result, first_used)
        select ${scan.id}::text, ${scan.orgId}::text, ${ticket.event_id}::text, ${listId}::text,
          ${ticket.id}::text, ${input.device_id}::text, ${gate}::text, ${input.direction}::text,
          case when exists (select 1 from p) then 'admitted' else 'already_used' end,
          0, ${now}::text, ${now}::text, null, null, null
      )${signalled}
      select exists (select 1 from p) as admitted`.execute(db);
    const admitted = rows[0]!.admitted === true;
    if (admitted && signals.length) notifyQueued(this.db);
    return admitted;
  }

  /** `defaultList`, remembered for a moment (see DEFAULT_LIST_MS). */
  private async cachedDefaultList(eventId: string, orgId: string, db: Executor): Promise<CheckinListRow> {
    const key = `${orgId}/${eventId}`;
    const hit = this.defaults.get(key);
    if (hit && hit.until > Date.now()) return hit.row;
    const row = await findDefaultList(db, eventId, orgId);
    // One created now is not remembered: the transaction creating it may yet roll back.
    if (!row) return createDefaultList(db, { id: eventId, org_id: orgId });
    if (this.defaults.size >= 10_000) this.defaults.delete(this.defaults.keys().next().value as string);
    this.defaults.set(key, { row, until: Date.now() + DEFAULT_LIST_MS });
    return row;
  }

  /** The event's default list, created on first use for events made before lists existed. */
  defaultList(eventId: string, orgId: string, db: Executor = this.k): Promise<CheckinListRow> {
    return defaultList(db, eventId, orgId);
  }

  /** The live view of an event's doors (see stats.ts). */
  stats(orgId: string, eventId: string): Promise<CheckinStats> {
    return checkinStats(this.k, orgId, eventId);
  }
}

/**
 * Whether a scanned code is the very code this server issued for the ticket (and stored): then it is
 * authentic without checking its signature, which was most of the cost of a scan. Any other code
 * (an older version, or a forgery) still has its signature checked. Compared in constant time.
 */
function sameCode(scanned: string, stored: string): boolean {
  const a = Buffer.from(scanned);
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}
