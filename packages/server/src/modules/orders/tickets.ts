import type { Attendee, EventPublicKey, Page, Ticket, TicketListQuery } from '@tickets/sdk';
import type { Kysely, Transaction } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import {
  type Database,
  FIRST_CODE_VERSION,
  type OrderItemRow,
  type OrderRow,
  type TicketRow,
} from '../../db/schema.js';
import { containsAny } from '../../db/text-search.js';
import { notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { orgEvent } from '../events/service.js';
import { queueOrderPaid } from '../messaging/outbox.js';
import { type EventKey, EventKeys, publicKeyPem } from './keys.js';
import { paidOrderSignals } from './signals.js';
import { attendeeView, ticketView } from './views.js';

type TicketQuery = z.output<typeof TicketListQuery>;
type Trx = Transaction<Database>;

/** Creates the order's tickets, one per admitted person, each with its signed code. */
export async function issueTickets(
  trx: Trx,
  order: Pick<OrderRow, 'id' | 'org_id' | 'event_id' | 'buyer_name' | 'buyer_email' | 'buyer_phone'>,
  key: EventKey,
): Promise<void> {
  const items = await trx
    .selectFrom('order_items')
    .selectAll()
    .where('order_id', '=', order.id)
    .orderBy('ticket_type_id')
    .execute();
  const tickets = await buildTickets(order, items, key);
  if (tickets.length) await trx.insertInto('tickets').values(tickets).execute();
  // The buyer gets the tickets: queued with them, so they are sent exactly when the order is paid.
  await queueOrderPaid(
    trx,
    order.org_id,
    order,
    tickets.map((t) => t.id),
  );
  const signals = await paidOrderSignals(trx, order);
  if (signals.length) await trx.insertInto('outbox').values(signals).execute();
}

/** The rows of an order's tickets, one per admitted person, each with its signed code. */
export async function buildTickets(
  order: Pick<OrderRow, 'id' | 'org_id' | 'event_id' | 'buyer_name' | 'buyer_email'>,
  items: Pick<OrderItemRow, 'ticket_type_id' | 'quantity' | 'holders'>[],
  key: EventKey,
  now = nowIso(),
): Promise<TicketRow[]> {
  const rows: TicketRow[] = items.flatMap((item) => {
    const holders: { name: string; email?: string }[] = item.holders ? JSON.parse(item.holders) : [];
    return Array.from({ length: item.quantity }, (_, n) => {
      const id = newId('ticket');
      const holder = holders[n];
      return {
        id,
        org_id: order.org_id,
        event_id: order.event_id,
        order_id: order.id,
        ticket_type_id: item.ticket_type_id,
        holder_name: holder?.name ?? order.buyer_name,
        holder_email: holder ? (holder.email ?? null) : order.buyer_email,
        status: 'valid' as const,
        void_reason: null,
        seat_kept: 0,
        code_version: FIRST_CODE_VERSION,
        declined_at: null,
        code: '',
        created_at: now,
        updated_at: now,
      };
    });
  });
  const codes = await EventKeys.signAll(
    key,
    rows.map((t) => ({ ticketId: t.id, eventId: t.event_id, ticketTypeId: t.ticket_type_id, version: 1 })),
  );
  rows.forEach((t, i) => {
    t.code = codes[i]!;
  });
  return rows;
}

/** An organization's tickets: one, an event's (for the door and the organizer), and the event's public key. */
export class Tickets {
  constructor(
    private readonly db: Db,
    private readonly keys: EventKeys,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  ticket(orgId: string, id: string): Promise<Ticket> {
    return readTicket(this.k, orgId, id);
  }

  private attendeeQuery(orgId: string, eventId: string, query: TicketQuery) {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 1) : null;
    return {
      limit,
      rows: this.k
        .selectFrom('tickets')
        .innerJoin('orders', 'orders.id', 'tickets.order_id')
        .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
        .selectAll('tickets')
        .select(['ticket_types.name as ticket_type_name', 'orders.buyer_name', 'orders.buyer_email'])
        .where('tickets.org_id', '=', orgId)
        .where('tickets.event_id', '=', eventId)
        .$if(query.status !== undefined, (q) => q.where('tickets.status', '=', query.status!))
        .$if(query.q !== undefined, (q) =>
          q.where((eb) =>
            eb.or([
              ...containsAny(
                ['tickets.holder_name', 'tickets.holder_email', 'orders.buyer_name', 'orders.buyer_email'],
                query.q!,
              ),
              // Ids are matched whole: their random letters would match any short search.
              eb('orders.id', '=', query.q!),
              eb('tickets.id', '=', query.q!),
            ]),
          ),
        )
        .$if(after !== null, (q) => q.where('tickets.id', '>', String(after![0])))
        .orderBy('tickets.id')
        .limit(limit + 1)
        .execute(),
    };
  }

  async eventTickets(orgId: string, eventId: string, query: TicketQuery): Promise<Page<Ticket>> {
    await orgEvent(this.k, orgId, eventId);
    const { limit, rows } = this.attendeeQuery(orgId, eventId, query);
    return toPage(
      await rows,
      limit,
      (t) => [t.id],
      (t) => ticketView(t, t.ticket_type_name),
    );
  }

  async attendees(orgId: string, eventId: string, query: TicketQuery): Promise<Page<Attendee>> {
    await orgEvent(this.k, orgId, eventId);
    const { limit, rows } = this.attendeeQuery(orgId, eventId, query);
    return toPage(await rows, limit, (t) => [t.id], attendeeView);
  }

  async publicKey(orgId: string, eventId: string): Promise<EventPublicKey> {
    await orgEvent(this.k, orgId, eventId);
    const key = await this.keys.forEvent(eventId);
    return {
      object: 'event_public_key',
      event_id: eventId,
      algorithm: 'Ed25519',
      public_key: key.publicKey,
      pem: publicKeyPem(key.publicKey),
    };
  }
}

/** A ticket as the API answers it (also what a `ticket.*` webhook carries). */
export async function readTicket(k: Kysely<Database>, orgId: string, id: string): Promise<Ticket> {
  const row = await k
    .selectFrom('tickets')
    .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
    .selectAll('tickets')
    .select('ticket_types.name as type_name')
    .where('tickets.org_id', '=', orgId)
    .where('tickets.id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('ticket');
  return ticketView(row, row.type_name);
}
