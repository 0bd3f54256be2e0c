import {
  type Availability,
  type Event,
  type EventCreateInput,
  type EventListQuery,
  type EventStatus,
  type EventUpdateInput,
  eventTimingErrors,
  type NotOnSaleReason,
  type Page,
  type TicketType,
  type TicketTypeAvailability,
  type TicketTypeCreateInput,
  type TicketTypeUpdateInput,
} from '@tickets/sdk';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import { type Db, prepared, saleTransaction } from '../../db/database.js';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js';
import type { Database, EventRow, EventUpdate, TicketTypeRow } from '../../db/schema.js';
import { containsAny } from '../../db/text-search.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound, validationFailed } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso, toUtc, toUtcOrNull } from '../../time.js';
import { changed, recordAudit } from '../audit/log.js';
import { createDefaultList } from '../checkin/lists.js';
import {
  followEvent,
  forgetSlots,
  NOTHING_SOLD,
  setCapacity,
  setSlots,
  withCounts,
} from '../inventory/inventory.js';
import { notifyQueued, queueForEventOrders } from '../messaging/outbox.js';
import { queueWebhook } from '../webhooks/queue.js';
import { eventView, ticketTypeView } from './views.js';

type EventCreate = z.output<typeof EventCreateInput>;
type EventPatch = z.output<typeof EventUpdateInput>;
type TypeCreate = z.output<typeof TicketTypeCreateInput>;
type TypePatch = z.output<typeof TicketTypeUpdateInput>;
type ListQuery = z.output<typeof EventListQuery>;

/** Changing one of these on a published event tells its ticket holders (event_rescheduled). */
const MOVING_FIELDS = ['starts_at', 'venue_name', 'venue_address', 'venue_city', 'venue_country'] as const;

// Which status changes are allowed, and by which action.
// (Cancelling does more than change the status: see cancellation.ts.)
const TRANSITIONS: Record<'publish' | 'complete', { from: EventStatus[]; to: EventStatus }> = {
  publish: { from: ['draft'], to: 'published' },
  complete: { from: ['published'], to: 'completed' },
};

/** What an event's audit entries compare: its view, without the timestamps every write moves. */
function auditedEvent(e: EventRow) {
  const { created_at: _c, updated_at: _u, ...fields } = eventView(e);
  return fields;
}

/** What a ticket type's audit entries compare: its view, without the timestamps. */
function auditedType(t: TicketTypeRow, currency: string) {
  const { created_at: _c, updated_at: _u, ...fields } = ticketTypeView(t, currency);
  return fields;
}

/** "Berlin Jazz Night — 2026!" → "berlin-jazz-night-2026" */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 90)
    .replace(/-+$/, '');
  return slug || 'event';
}

// Read on every GET of an event (and by most event routes): compiled once (see `prepared`).
const eventById = prepared((k, orgId: string, id: string) =>
  k.selectFrom('events').selectAll().where('org_id', '=', orgId).where('id', '=', id),
);

/** An organization's event, or 404: another organization's event is not found either. */
export async function orgEvent(k: Kysely<Database>, orgId: string, id: string): Promise<EventRow> {
  const row = (await eventById(k, orgId, id)).rows[0];
  if (!row) throw notFound('event');
  return row;
}

export class Events {
  constructor(private readonly db: Db) {}
  private get k() {
    return this.db.kysely;
  }

  /** The organization's event, with its true counters (see withCounts). */
  /** The organization's default tax rate, for a ticket type created without one. */
  private async defaultTaxRate(orgId: string): Promise<number> {
    const org = await this.k
      .selectFrom('organizations')
      .select('default_tax_rate')
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    return org.default_tax_rate;
  }

  async row(orgId: string, id: string): Promise<EventRow> {
    const [row] = await withCounts(this.k, [await orgEvent(this.k, orgId, id)]);
    return row!;
  }

  async get(orgId: string, id: string): Promise<Event> {
    return eventView(await this.row(orgId, id));
  }

  /** `ends_after` (not in the API's query): only events not over by then, for the doors' list. */
  async list(orgId: string, query: ListQuery & { ends_after?: string }): Promise<Page<Event>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 2) : null;
    const rows = await this.k
      .selectFrom('events')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.status !== undefined, (q) => q.where('status', '=', query.status!))
      .$if(query.starts_after !== undefined, (q) => q.where('starts_at', '>=', toUtc(query.starts_after!)))
      .$if(query.starts_before !== undefined, (q) => q.where('starts_at', '<', toUtc(query.starts_before!)))
      .$if(query.ends_after !== undefined, (q) => q.where('ends_at', '>', query.ends_after!))
      .$if(query.q !== undefined, (q) =>
        q.where((eb) =>
          eb.or(containsAny(['name', 'slug', 'description', 'venue_name', 'venue_city'], query.q!)),
        ),
      )
      .$if(after !== null, (q) =>
        q.where((eb) =>
          eb.or([
            eb('starts_at', '>', String(after![0])),
            eb.and([eb('starts_at', '=', String(after![0])), eb('id', '>', String(after![1]))]),
          ]),
        ),
      )
      .orderBy('starts_at')
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => [r.starts_at, r.id], eventView);
  }

  async create(by: Principal, input: EventCreate): Promise<Event> {
    const orgId = by.orgId;
    const now = nowIso();
    // Almost always a typo (a wrong year, a date read in the wrong time zone): refused unless asked for.
    if (!input.allow_past && toUtc(input.starts_at) < now)
      throw validationFailed([
        {
          path: 'starts_at',
          message: 'is in the past; pass allow_past: true to create a past event (an import)',
          code: 'in_past',
        },
      ]);
    const base: EventRow = {
      reminders_queued_at: null,
      id: newId('event'),
      org_id: orgId,
      name: input.name,
      slug: input.slug ?? slugify(input.name),
      description: input.description ?? null,
      venue_name: input.venue?.name ?? null,
      venue_address: input.venue?.address ?? null,
      venue_city: input.venue?.city ?? null,
      venue_country: input.venue?.country ?? null,
      timezone: input.timezone,
      starts_at: toUtc(input.starts_at),
      ends_at: toUtc(input.ends_at),
      status: 'draft',
      currency: input.currency,
      capacity: input.capacity ?? null,
      transferable: input.transferable === false ? 0 : 1,
      sales_start_at: toUtcOrNull(input.sales_start_at),
      sales_end_at: toUtcOrNull(input.sales_end_at),
      max_per_buyer: input.max_per_buyer ?? null,
      hold_minutes: input.hold_minutes ?? null,
      ...NOTHING_SOLD,
      slots: 1,
      created_at: now,
      updated_at: now,
    };
    // A derived slug gets a numeric suffix until it is free; an explicit one must be free.
    for (let attempt = 1; ; attempt++) {
      const row = attempt === 1 || input.slug ? base : { ...base, slug: `${base.slug}-${attempt}` };
      try {
        await this.k.transaction().execute(async (trx) => {
          await trx.insertInto('events').values(row).execute();
          await createDefaultList(trx, row);
          if (input.inventory_slots && input.inventory_slots > 1)
            await setSlots(trx, row.id, input.inventory_slots);
          const {
            id: _id,
            object: _o,
            ...fields
          } = auditedEvent({
            ...row,
            slots: input.inventory_slots ?? 1,
          });
          await recordAudit(trx, { orgId, by, action: 'event.created', subject: row.id, after: fields });
        });
        return eventView({ ...row, slots: input.inventory_slots ?? 1 });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        if (input.slug || attempt >= 50)
          throw conflict('slug_taken', `Another event of yours already uses the slug "${row.slug}".`);
      }
    }
  }

  async update(by: Principal, id: string, patch: EventPatch): Promise<Event> {
    const orgId = by.orgId;
    const current = await this.row(orgId, id);
    const changes: EventUpdate = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.slug !== undefined) changes.slug = patch.slug;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.venue !== undefined) {
      changes.venue_name = patch.venue?.name ?? null;
      changes.venue_address = patch.venue?.address ?? null;
      changes.venue_city = patch.venue?.city ?? null;
      changes.venue_country = patch.venue?.country ?? null;
    }
    if (patch.timezone !== undefined) changes.timezone = patch.timezone;
    if (patch.starts_at !== undefined) changes.starts_at = toUtc(patch.starts_at);
    if (patch.ends_at !== undefined) changes.ends_at = toUtc(patch.ends_at);
    if (patch.capacity !== undefined) changes.capacity = patch.capacity;
    if (patch.transferable !== undefined) changes.transferable = patch.transferable ? 1 : 0;
    if (patch.sales_start_at !== undefined) changes.sales_start_at = toUtcOrNull(patch.sales_start_at);
    if (patch.sales_end_at !== undefined) changes.sales_end_at = toUtcOrNull(patch.sales_end_at);
    if (patch.max_per_buyer !== undefined) changes.max_per_buyer = patch.max_per_buyer;
    if (patch.hold_minutes !== undefined) changes.hold_minutes = patch.hold_minutes;
    if (patch.inventory_slots !== undefined) changes.slots = patch.inventory_slots;
    if (patch.currency !== undefined && patch.currency !== current.currency) {
      const hasTypes = await this.k
        .selectFrom('ticket_types')
        .select('id')
        .where('event_id', '=', id)
        .executeTakeFirst();
      if (hasTypes)
        throw conflict('currency_locked', 'The currency cannot change once the event has ticket types.');
      changes.currency = patch.currency;
    }
    const merged = { ...current, ...changes };
    const errors = eventTimingErrors(merged);
    if (errors.length) throw validationFailed(errors);
    if (merged.capacity !== null && merged.capacity < current.sold + current.held)
      throw conflict(
        'capacity_below_sales',
        `Capacity ${merged.capacity} is less than the ${current.sold + current.held} tickets already sold or held.`,
      );
    merged.updated_at = nowIso();
    changes.updated_at = merged.updated_at;
    // A published event that moves (a new start or venue) tells its ticket holders, in the transaction
    // that moves it. Decided in that write: it only matches while the start and venue are as read, so a
    // concurrent change can't make this notice wrong (it answers 409 instead).
    const moved =
      current.status === 'published' &&
      MOVING_FIELDS.some((f) => (merged[f] ?? null) !== (current[f] ?? null));
    try {
      // A sale transaction: with its row locked first, then its counters (a new capacity, new slots),
      // this may deadlock with a sale, which locks the counters first; it is retried.
      await saleTransaction(this.db, async (trx) => {
        // The capacity check is part of the write, so a sale racing this change cannot slip past it
        // (with slots, setCapacity below checks the slots' sums, locked).
        const { slots: _slots, ...rowChanges } = changes;
        const res = await trx
          .updateTable('events')
          .set(rowChanges)
          .where('id', '=', id)
          .where('org_id', '=', orgId)
          .$if(typeof changes.capacity === 'number', (q) =>
            q.where((eb) => eb(eb('sold', '+', eb.ref('held')), '<=', changes.capacity as number)),
          )
          .$if(moved, (q) =>
            MOVING_FIELDS.reduce(
              (w, f) => (current[f] === null ? w.where(f, 'is', null) : w.where(f, '=', current[f])),
              q.where('status', '=', 'published'),
            ),
          )
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1)
          throw conflict(
            moved ? 'event_changed' : 'capacity_below_sales',
            moved
              ? 'The event changed while you edited it (or its capacity is below what is sold); look at it again.'
              : `Capacity ${merged.capacity} is less than the tickets already sold or held.`,
          );
        if (
          (changes.capacity !== undefined && current.slots > 1) ||
          (changes.slots !== undefined && changes.slots !== current.slots)
        ) {
          if (!(await setCapacity(trx, { event: id }, merged.capacity)))
            throw conflict(
              'capacity_below_sales',
              `Capacity ${merged.capacity} is less than the tickets already sold or held.`,
            );
          if (changes.slots !== undefined) await setSlots(trx, id, changes.slots);
        }
        if (moved)
          await queueForEventOrders(trx, orgId, id, 'event_rescheduled', {
            previous_starts_at: current.starts_at,
          });
        const diff = changed(auditedEvent(current), auditedEvent(merged));
        if (diff) await recordAudit(trx, { orgId, by, action: 'event.updated', subject: id, ...diff });
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict('slug_taken', `Another event of yours already uses the slug "${merged.slug}".`);
      throw err;
    }
    if (moved) notifyQueued(this.db);
    return eventView(merged);
  }

  async delete(by: Principal, id: string) {
    const orgId = by.orgId;
    const current = await this.row(orgId, id);
    const hasOrders = () =>
      conflict('event_has_orders', 'This event has orders and cannot be deleted; cancel it instead.');
    // Any order at all — even an expired one — is part of the event's history and keeps it.
    const order = await this.k
      .selectFrom('orders')
      .select('id')
      .where('event_id', '=', id)
      .executeTakeFirst();
    if (order || current.sold + current.held > 0) throw hasOrders();
    try {
      await this.k.transaction().execute(async (trx) => {
        const types = await trx.selectFrom('ticket_types').select('id').where('event_id', '=', id).execute();
        const deleted = await trx
          .deleteFrom('events')
          .where('id', '=', id)
          .where('org_id', '=', orgId)
          .where('sold', '=', 0)
          .where('held', '=', 0)
          .executeTakeFirst();
        if (Number(deleted.numDeletedRows) !== 1) throw hasOrders();
        await forgetSlots(trx, [id, ...types.map((t) => t.id)]);
        await recordAudit(trx, {
          orgId,
          by,
          action: 'event.deleted',
          subject: id,
          data: { name: current.name, status: current.status, ticket_types: types.map((t) => t.id) },
        });
      });
    } catch (err) {
      // An order placed between the check and the delete: its foreign key refuses the delete.
      if (isForeignKeyViolation(err)) throw hasOrders();
      throw err;
    }
    return { id, object: 'event', deleted: true as const };
  }

  async transition(by: Principal, id: string, action: keyof typeof TRANSITIONS): Promise<Event> {
    const orgId = by.orgId;
    const { from, to } = TRANSITIONS[action];
    const current = await this.row(orgId, id);
    const updated_at = nowIso();
    // Conditional on the status we saw, so two racing changes cannot both apply.
    const changed = await this.k.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('events')
        .set({ status: to, updated_at })
        .where('id', '=', id)
        .where('org_id', '=', orgId)
        .where('status', 'in', from)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await recordAudit(trx, {
        orgId,
        by,
        action: action === 'publish' ? 'event.published' : 'event.completed',
        subject: id,
        // `from` has one status per action: the one the conditional write found.
        before: { status: from[0] },
        after: { status: to },
      });
      if (action === 'publish') await queueWebhook(trx, orgId, 'event.published', { event_id: id });
      return true;
    });
    if (!changed)
      throw new ApiError(
        409,
        'invalid_transition',
        `Cannot ${action} an event that is ${current.status === 'draft' ? 'a draft' : current.status}; it must be ${from.join(' or ')}.`,
      );
    notifyQueued(this.db);
    return eventView({ ...current, status: to, updated_at });
  }

  // Ticket types

  private async typeRow(orgId: string, id: string): Promise<TicketTypeRow> {
    const row = await this.k
      .selectFrom('ticket_types')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('ticket type');
    return (await withCounts(this.k, [row]))[0]!;
  }

  async getType(orgId: string, id: string): Promise<TicketType> {
    const row = await this.typeRow(orgId, id);
    const event = await this.row(orgId, row.event_id);
    return ticketTypeView(row, event.currency);
  }

  async listTypes(orgId: string, eventId: string, includeHidden: boolean): Promise<Page<TicketType>> {
    const event = await this.row(orgId, eventId);
    const rows = await this.k
      .selectFrom('ticket_types')
      .selectAll()
      .where('event_id', '=', eventId)
      .$if(!includeHidden, (q) => q.where('hidden', '=', 0))
      .orderBy('sort_order')
      .orderBy('id')
      .execute();
    return {
      object: 'list',
      data: rows.map((r) => ticketTypeView(r, event.currency)),
      has_more: false,
      next_cursor: null,
    };
  }

  async createType(by: Principal, eventId: string, input: TypeCreate): Promise<TicketType> {
    const orgId = by.orgId;
    const event = await this.row(orgId, eventId);
    assertCurrency(input.price.currency, event.currency);
    const now = nowIso();
    const row: TicketTypeRow = {
      id: newId('ticketType'),
      org_id: orgId,
      event_id: eventId,
      name: input.name,
      description: input.description ?? null,
      price_amount: input.price.amount,
      capacity: input.capacity,
      ...NOTHING_SOLD,
      sales_start_at: toUtcOrNull(input.sales_start_at),
      sales_end_at: toUtcOrNull(input.sales_end_at),
      min_per_order: input.min_per_order ?? 1,
      max_per_order: input.max_per_order ?? null,
      hidden: input.hidden ? 1 : 0,
      sort_order: input.sort_order ?? 0,
      tax_rate: input.tax_rate ?? (await this.defaultTaxRate(orgId)),
      slots: 1,
      created_at: now,
      updated_at: now,
    };
    await saleTransaction(this.db, async (trx) => {
      await trx.insertInto('ticket_types').values(row).execute();
      await followEvent(trx, row.id, eventId);
      const { id: _id, object: _o, ...fields } = auditedType(row, event.currency);
      await recordAudit(trx, { orgId, by, action: 'ticket_type.created', subject: row.id, after: fields });
    });
    return ticketTypeView(row, event.currency);
  }

  async updateType(by: Principal, id: string, patch: TypePatch): Promise<TicketType> {
    const orgId = by.orgId;
    const current = await this.typeRow(orgId, id);
    const event = await this.row(orgId, current.event_id);
    const changes: Partial<TicketTypeRow> = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.price !== undefined) {
      assertCurrency(patch.price.currency, event.currency);
      changes.price_amount = patch.price.amount;
    }
    if (patch.capacity !== undefined) changes.capacity = patch.capacity;
    if (patch.sales_start_at !== undefined) changes.sales_start_at = toUtcOrNull(patch.sales_start_at);
    if (patch.sales_end_at !== undefined) changes.sales_end_at = toUtcOrNull(patch.sales_end_at);
    if (patch.min_per_order !== undefined) changes.min_per_order = patch.min_per_order;
    if (patch.max_per_order !== undefined) changes.max_per_order = patch.max_per_order;
    if (patch.hidden !== undefined) changes.hidden = patch.hidden ? 1 : 0;
    if (patch.sort_order !== undefined) changes.sort_order = patch.sort_order;
    if (patch.tax_rate !== undefined) changes.tax_rate = patch.tax_rate;
    const merged = { ...current, ...changes, updated_at: nowIso() };
    const errors = eventTimingErrors({
      sales_start_at: merged.sales_start_at,
      sales_end_at: merged.sales_end_at,
    });
    if (merged.max_per_order !== null && merged.max_per_order < merged.min_per_order)
      errors.push({
        path: 'max_per_order',
        message: 'must not be less than min_per_order',
        code: 'invalid_range',
      });
    if (errors.length) throw validationFailed(errors);
    // The capacity check is part of the write, so a sale racing this change cannot slip past it (with
    // slots, setCapacity checks the slots' sums, locked).
    const belowSales = () =>
      conflict(
        'capacity_below_sales',
        `Capacity ${merged.capacity} is less than the ${current.sold + current.held} tickets already sold or held.`,
      );
    await saleTransaction(this.db, async (trx) => {
      const res = await trx
        .updateTable('ticket_types')
        .set({ ...changes, updated_at: merged.updated_at })
        .where('id', '=', id)
        .where('org_id', '=', orgId)
        .where((eb) => eb(eb('sold', '+', eb.ref('held')), '<=', merged.capacity))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw belowSales();
      // Thrown inside, so a capacity the slots refuse rolls the row's change back with it.
      if (
        current.slots > 1 &&
        changes.capacity !== undefined &&
        !(await setCapacity(trx, { type: id }, merged.capacity))
      )
        throw belowSales();
      const diff = changed(auditedType(current, event.currency), auditedType(merged, event.currency));
      if (diff)
        await recordAudit(trx, {
          orgId,
          by,
          action: 'ticket_type.updated',
          subject: id,
          ...diff,
          data: { event_id: current.event_id },
        });
    });
    return ticketTypeView(merged, event.currency);
  }

  async deleteType(by: Principal, id: string) {
    const orgId = by.orgId;
    const current = await this.typeRow(orgId, id);
    let deleted = 0;
    try {
      deleted = await this.k.transaction().execute(async (trx) => {
        const res = await trx
          .deleteFrom('ticket_types')
          .where('id', '=', id)
          .where('org_id', '=', orgId)
          .where('sold', '=', 0)
          .where('held', '=', 0)
          .executeTakeFirst();
        await forgetSlots(trx, [id]);
        if (Number(res.numDeletedRows) === 1)
          await recordAudit(trx, {
            orgId,
            by,
            action: 'ticket_type.deleted',
            subject: id,
            data: {
              event_id: current.event_id,
              name: current.name,
              price_amount: current.price_amount,
              capacity: current.capacity,
            },
          });
        return Number(res.numDeletedRows);
      });
    } catch (err) {
      // Orders that ended (cancelled, expired) still name the type in their items, which keep it.
      if (!isForeignKeyViolation(err)) throw err;
    }
    if (deleted !== 1)
      throw conflict('ticket_type_has_sales', 'Tickets of this type were sold or are held; hide it instead.');
    return { id, object: 'ticket_type', deleted: true as const };
  }

  async availability(orgId: string, eventId: string, now = nowIso()): Promise<Availability> {
    const event = await this.row(orgId, eventId);
    const types = await withCounts(
      this.k,
      await this.k
        .selectFrom('ticket_types')
        .selectAll()
        .where('event_id', '=', eventId)
        .orderBy('sort_order')
        .orderBy('id')
        .execute(),
    );
    const eventRoom = event.capacity === null ? null : Math.max(0, event.capacity - event.sold - event.held);
    const eventReason = eventNotOnSale(event, now);
    return {
      object: 'availability',
      event_id: event.id,
      capacity: event.capacity,
      sold: event.sold,
      held: event.held,
      available: eventRoom,
      ticket_types: types.map((t): TicketTypeAvailability => {
        const typeRoom = Math.max(0, t.capacity - t.sold - t.held);
        const available = eventRoom === null ? typeRoom : Math.min(typeRoom, eventRoom);
        const reason =
          eventReason ??
          windowReason(t.sales_start_at, t.sales_end_at, now) ??
          (available === 0 ? 'sold_out' : null);
        return {
          ticket_type_id: t.id,
          name: t.name,
          price: { amount: t.price_amount, currency: event.currency },
          capacity: t.capacity,
          sold: t.sold,
          held: t.held,
          available,
          on_sale: reason === null,
          reason,
        };
      }),
    };
  }
}

function assertCurrency(given: string, expected: string): void {
  if (given !== expected)
    throw validationFailed([
      {
        path: 'price.currency',
        message: `must be the event's currency, ${expected}`,
        code: 'currency_mismatch',
      },
    ]);
}

export function windowReason(start: string | null, end: string | null, now: string): NotOnSaleReason | null {
  if (start && now < start) return 'sales_not_started';
  if (end && now >= end) return 'sales_ended';
  return null;
}

/** Why nothing of this event can be bought now, if so. */
export function eventNotOnSale(event: EventRow, now: string): NotOnSaleReason | null {
  if (event.status === 'draft') return 'event_not_published';
  if (event.status === 'cancelled') return 'event_cancelled';
  if (event.status === 'completed') return 'event_completed';
  if (now >= event.ends_at) return 'event_ended';
  return windowReason(event.sales_start_at, event.sales_end_at, now);
}
