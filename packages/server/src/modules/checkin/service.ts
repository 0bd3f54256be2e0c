import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import {
  type CheckinList,
  type CheckinListCreateInput,
  type CheckinListUpdateInput,
  type CheckinStats,
  decodeTicketCode,
  type Page,
  type ValidateInput,
  type Validation,
  type ValidationResult,
} from '@tickets/sdk';
import type { Kysely, Transaction } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { CheckinListRow, Database } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { conflict, notFound, validationFailed } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { nowIso, toUtcOrNull } from '../../time.js';
import type { EventKeys } from '../orders/keys.js';
import { checkinStats } from './stats.js';

type ListCreate = z.output<typeof CheckinListCreateInput>;
type ListUpdate = z.output<typeof CheckinListUpdateInput>;
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

export function listView(row: CheckinListRow): CheckinList {
  return {
    id: row.id,
    object: 'checkin_list',
    event_id: row.event_id,
    name: row.name,
    ticket_type_ids: row.ticket_type_ids ? JSON.parse(row.ticket_type_ids) : null,
    starts_at: row.starts_at,
    ends_at: row.ends_at,
    allow_reentry: row.allow_reentry === 1,
    is_default: row.is_default === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Every event starts with one list that admits every ticket type, once. */
export async function createDefaultList(
  db: Executor,
  event: { id: string; org_id: string },
): Promise<CheckinListRow> {
  const now = nowIso();
  const row: CheckinListRow = {
    id: newId('checkinList'),
    org_id: event.org_id,
    event_id: event.id,
    name: 'Main entrance',
    ticket_type_ids: null,
    starts_at: null,
    ends_at: null,
    allow_reentry: 0,
    is_default: 1,
    created_at: now,
    updated_at: now,
  };
  await db.insertInto('checkin_lists').values(row).execute();
  return row;
}

/**
 * The door. Admission is one conditional write: the first entry of a ticket on a list is an insert
 * into `ticket_presence` keyed by (ticket, list), which exactly one of any number of simultaneous
 * scans can win; the rest find the row and answer `already_used` with when and where it was used.
 */
export class Checkin {
  private readonly publicKeys = new Map<string, KeyObject>();

  constructor(
    readonly db: Db,
    readonly keys: EventKeys,
  ) {}

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
    // The admission and its record in the scan log commit together: no admission goes unlogged.
    return this.k.transaction().execute(async (trx) => {
      const { validation, eventId } = await this.check(trx, principal.orgId, input, now);
      if (!input.dry_run)
        await trx
          .insertInto('checkins')
          .values({
            id: newId('checkin'),
            org_id: principal.orgId,
            event_id: eventId,
            list_id: validation.list_id,
            ticket_id: validation.ticket?.id ?? null,
            device_id: input.device_id,
            gate: input.gate ?? null,
            direction: input.direction,
            result: validation.result,
            offline: 0,
            scanned_at: now,
            created_at: now,
            scan_id: null,
            offline_result: null,
            first_used: null,
          })
          .execute();
      return validation;
    });
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
  ): Promise<{ validation: Validation; eventId: string | null }> {
    const answer = (
      result: ValidationResult,
      extra: Partial<Omit<Validation, 'result' | 'object'>> = {},
    ): Validation => ({
      object: 'validation',
      result,
      admitted: result === 'admitted',
      message: MESSAGES[result],
      ticket: null,
      revoked_reason: null,
      first_used: null,
      list_id: null,
      scanned_at: now,
      ...extra,
    });
    const decoded = decodeTicketCode(input.code);
    const ticket = decoded
      ? await db
          .selectFrom('tickets')
          .innerJoin('orders', 'orders.id', 'tickets.order_id')
          .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
          .select([
            'tickets.id',
            'tickets.event_id',
            'tickets.order_id',
            'tickets.ticket_type_id',
            'tickets.holder_name',
            'tickets.status',
            'tickets.void_reason',
            'tickets.code_version',
            'orders.status as order_status',
            'ticket_types.name as type_name',
          ])
          .where('tickets.id', '=', decoded.payload.ticketId)
          .where('tickets.org_id', '=', orgId)
          .executeTakeFirst()
      : undefined;
    // A code we can't read, of a ticket we don't have, or whose signature or contents don't match
    // the ticket: all simply not a ticket of ours.
    if (
      !decoded ||
      !ticket ||
      decoded.payload.eventId !== ticket.event_id ||
      decoded.payload.ticketTypeId !== ticket.ticket_type_id ||
      decoded.payload.version > ticket.code_version ||
      !verify(null, decoded.signed, await this.publicKey(ticket.event_id), decoded.signature)
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
      : await this.defaultList(ticket.event_id, orgId, db);
    if (!list) throw notFound('check-in list');
    const base = { ticket: ticketInfo, list_id: list.id };
    const refuse = async (result: ValidationResult, extra: Partial<Validation> = {}) => ({
      validation: answer(result, { ...base, ...extra }),
      eventId: ticket.event_id,
    });

    if (list.event_id !== ticket.event_id) return refuse('wrong_event');
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

    const first = await db
      .insertInto('ticket_presence')
      .values({
        ticket_id: ticket.id,
        list_id: list.id,
        inside: 1,
        first_entry_at: now,
        first_gate: input.gate ?? null,
        first_device: input.device_id,
        last_change_at: changedAt,
      })
      .onConflict((oc) => oc.columns(['ticket_id', 'list_id']).doNothing())
      .executeTakeFirst();
    if (Number(first.numInsertedOrUpdatedRows ?? 0) === 1) return refuse('admitted');
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

  /** The event's default list, created on first use for events made before lists existed. */
  async defaultList(eventId: string, orgId: string, db: Executor = this.k): Promise<CheckinListRow> {
    const row = await db
      .selectFrom('checkin_lists')
      .selectAll()
      .where('event_id', '=', eventId)
      .where('org_id', '=', orgId)
      .where('is_default', '=', 1)
      .executeTakeFirst();
    return row ?? createDefaultList(db, { id: eventId, org_id: orgId });
  }

  /** The live view of an event's doors (see stats.ts). */
  stats(orgId: string, eventId: string): Promise<CheckinStats> {
    return checkinStats(this.k, orgId, eventId);
  }

  // Lists

  private async eventOf(orgId: string, eventId: string) {
    const event = await this.k
      .selectFrom('events')
      .select(['id', 'org_id'])
      .where('id', '=', eventId)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!event) throw notFound('event');
    return event;
  }

  private async assertTypes(eventId: string, ids: string[] | null | undefined): Promise<void> {
    if (!ids) return;
    const found = await this.k
      .selectFrom('ticket_types')
      .select('id')
      .where('event_id', '=', eventId)
      .where('id', 'in', ids)
      .execute();
    const known = new Set(found.map((t) => t.id));
    const unknown = ids.findIndex((id) => !known.has(id));
    if (unknown !== -1)
      throw validationFailed([
        {
          path: `ticket_type_ids.${unknown}`,
          message: 'is not a ticket type of this event',
          code: 'unknown_ticket_type',
        },
      ]);
  }

  async lists(orgId: string, eventId: string): Promise<Page<CheckinList>> {
    await this.eventOf(orgId, eventId);
    await this.defaultList(eventId, orgId);
    const rows = await this.k
      .selectFrom('checkin_lists')
      .selectAll()
      .where('event_id', '=', eventId)
      .orderBy('id')
      .execute();
    return { object: 'list', data: rows.map(listView), has_more: false, next_cursor: null };
  }

  async createList(orgId: string, eventId: string, input: ListCreate): Promise<CheckinList> {
    const event = await this.eventOf(orgId, eventId);
    await this.assertTypes(eventId, input.ticket_type_ids);
    const now = nowIso();
    const row: CheckinListRow = {
      id: newId('checkinList'),
      org_id: event.org_id,
      event_id: event.id,
      name: input.name,
      ticket_type_ids: input.ticket_type_ids ? JSON.stringify(input.ticket_type_ids) : null,
      starts_at: toUtcOrNull(input.starts_at),
      ends_at: toUtcOrNull(input.ends_at),
      allow_reentry: input.allow_reentry ? 1 : 0,
      is_default: 0,
      created_at: now,
      updated_at: now,
    };
    assertWindow(row);
    await this.k.insertInto('checkin_lists').values(row).execute();
    return listView(row);
  }

  private async listRow(orgId: string, id: string): Promise<CheckinListRow> {
    const row = await this.k
      .selectFrom('checkin_lists')
      .selectAll()
      .where('id', '=', id)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!row) throw notFound('check-in list');
    return row;
  }

  async getList(orgId: string, id: string): Promise<CheckinList> {
    return listView(await this.listRow(orgId, id));
  }

  async updateList(orgId: string, id: string, input: ListUpdate): Promise<CheckinList> {
    const current = await this.listRow(orgId, id);
    await this.assertTypes(current.event_id, input.ticket_type_ids);
    const merged: CheckinListRow = {
      ...current,
      name: input.name ?? current.name,
      ticket_type_ids:
        input.ticket_type_ids === undefined
          ? current.ticket_type_ids
          : input.ticket_type_ids
            ? JSON.stringify(input.ticket_type_ids)
            : null,
      starts_at: input.starts_at === undefined ? current.starts_at : toUtcOrNull(input.starts_at),
      ends_at: input.ends_at === undefined ? current.ends_at : toUtcOrNull(input.ends_at),
      allow_reentry: input.allow_reentry === undefined ? current.allow_reentry : input.allow_reentry ? 1 : 0,
      updated_at: nowIso(),
    };
    assertWindow(merged);
    const { id: _, org_id, event_id, created_at, is_default, ...changes } = merged;
    await this.k.updateTable('checkin_lists').set(changes).where('id', '=', id).execute();
    return listView(merged);
  }

  async deleteList(orgId: string, id: string) {
    const row = await this.listRow(orgId, id);
    if (row.is_default === 1)
      throw conflict('default_list', 'The default list cannot be deleted; change it instead.');
    const used = await this.k
      .selectFrom('ticket_presence')
      .select('ticket_id')
      .where('list_id', '=', id)
      .executeTakeFirst();
    if (used)
      throw conflict('list_in_use', 'Tickets were checked in on this list; it is kept for the record.');
    await this.k.deleteFrom('checkin_lists').where('id', '=', id).execute();
    return { id, object: 'checkin_list', deleted: true as const };
  }
}

function assertWindow(row: { starts_at: string | null; ends_at: string | null }): void {
  if (row.starts_at && row.ends_at && row.ends_at <= row.starts_at)
    throw validationFailed([{ path: 'ends_at', message: 'must be after starts_at', code: 'invalid_range' }]);
}
