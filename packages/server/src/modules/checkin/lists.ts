import type { CheckinList, CheckinListCreateInput, CheckinListUpdateInput, Page } from '@tickets/sdk';
import type { Kysely, Transaction } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { CheckinListRow, Database } from '../../db/schema.js';
import { conflict, notFound, validationFailed } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { nowIso, toUtcOrNull } from '../../time.js';

type ListCreate = z.output<typeof CheckinListCreateInput>;
type ListUpdate = z.output<typeof CheckinListUpdateInput>;
type Executor = Kysely<Database> | Transaction<Database>;

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

/** The event's default list, if it has one yet. */
export function findDefaultList(db: Executor, eventId: string, orgId: string) {
  return db
    .selectFrom('checkin_lists')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('org_id', '=', orgId)
    .where('is_default', '=', 1)
    .executeTakeFirst();
}

/** The event's default list, created on first use for events made before lists existed. */
export async function defaultList(db: Executor, eventId: string, orgId: string): Promise<CheckinListRow> {
  const row = await findDefaultList(db, eventId, orgId);
  return row ?? createDefaultList(db, { id: eventId, org_id: orgId });
}

/**
 * An event's check-in lists: which ticket types a door admits, when, and whether they may come back in.
 * `changed` is told of every change to a list, for those who keep lists (the door keeps the default one).
 */
export class CheckinLists {
  constructor(
    private readonly db: Db,
    private readonly changed: (orgId: string, eventId: string) => void = () => {},
  ) {}

  private get k() {
    return this.db.kysely;
  }

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

  async list(orgId: string, eventId: string): Promise<Page<CheckinList>> {
    await this.eventOf(orgId, eventId);
    await defaultList(this.k, eventId, orgId);
    const rows = await this.k
      .selectFrom('checkin_lists')
      .selectAll()
      .where('event_id', '=', eventId)
      .orderBy('id')
      .execute();
    return { object: 'list', data: rows.map(listView), has_more: false, next_cursor: null };
  }

  async create(orgId: string, eventId: string, input: ListCreate): Promise<CheckinList> {
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

  private async row(orgId: string, id: string): Promise<CheckinListRow> {
    const row = await this.k
      .selectFrom('checkin_lists')
      .selectAll()
      .where('id', '=', id)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!row) throw notFound('check-in list');
    return row;
  }

  async get(orgId: string, id: string): Promise<CheckinList> {
    return listView(await this.row(orgId, id));
  }

  async update(orgId: string, id: string, input: ListUpdate): Promise<CheckinList> {
    const current = await this.row(orgId, id);
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
    this.changed(current.org_id, current.event_id);
    return listView(merged);
  }

  async delete(orgId: string, id: string) {
    const row = await this.row(orgId, id);
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
