import type { EventCancelInput, EventCancellation, Event as EventView } from '@tickets/sdk';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import { type Db, saleTransaction } from '../../db/database.js';
import type { EventCancellationsTable } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError, notFound } from '../../http/errors.js';
import { addSeconds, nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { notifyQueued, queueForEventOrders } from '../messaging/outbox.js';
import { REFUNDABLE, type Refunds } from '../orders/refunds.js';
import type { Orders } from '../orders/service.js';
import { queueWebhook } from '../webhooks/queue.js';
import { eventView } from './views.js';

type CancelInput = z.output<typeof EventCancelInput>;
type Row = Selectable<EventCancellationsTable>;

/** Orders the refund job goes through at a time, and how long one process holds its lease. */
const BATCH = 20;
const LEASE_SECONDS = 120;

/**
 * Cancelling an event, in one transaction: the event stops selling, every holder is told (e-mail, and
 * WhatsApp where they gave a phone) with the organizer's message, every ticket is voided (the door
 * refuses it online at once, and offline from the next bundle, which also says the event is cancelled),
 * and the holds of unpaid orders go back. Seats of voided tickets stay counted as sold (`seat_kept`):
 * the event will not sell again, and its figures keep what it had sold.
 *
 * `refund: 'all'` then refunds every paid order in full through its provider (with credit notes), as a
 * job: `work()` goes through the orders in id order under a lease, records its progress and where it is,
 * so it resumes after a crash, in any process. A refund the provider refuses flags its order and counts
 * as failed; the job goes on.
 */
export class Cancellations {
  constructor(
    private readonly db: Db,
    private readonly orders: Orders,
    private readonly refunds: Refunds,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  async cancel(principal: Principal, eventId: string, input: CancelInput): Promise<EventView> {
    const now = nowIso();
    const event = await saleTransaction(this.db, async (trx) => {
      const row = await trx
        .updateTable('events')
        .set({ status: 'cancelled', updated_at: now })
        .where('id', '=', eventId)
        .where('org_id', '=', principal.orgId)
        .where('status', 'in', ['draft', 'published'])
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const current = await trx
          .selectFrom('events')
          .select('status')
          .where('id', '=', eventId)
          .where('org_id', '=', principal.orgId)
          .executeTakeFirst();
        if (!current) throw notFound('event');
        throw new ApiError(
          409,
          'invalid_transition',
          `Cannot cancel an event that is ${current.status}; it must be draft or published.`,
        );
      }
      // Told before the tickets are voided: the WhatsApp notices go to holders of valid tickets.
      await queueForEventOrders(trx, principal.orgId, eventId, 'event_cancelled', {
        ...(input.message ? { message: input.message } : {}),
        refund: input.refund,
      });
      await queueWebhook(trx, principal.orgId, 'event.cancelled', { event_id: eventId });
      const voided = await trx
        .updateTable('tickets')
        .set({ status: 'void', void_reason: 'cancelled', seat_kept: 1, updated_at: now })
        .where('event_id', '=', eventId)
        .where('status', '=', 'valid')
        .executeTakeFirst();
      const pending = await trx
        .selectFrom('orders')
        .select('id')
        .where('event_id', '=', eventId)
        .where('status', '=', 'pending')
        .execute();
      for (const o of pending) await this.orders.holds.releaseIn(trx, o.id, 'cancelled');
      const toRefund =
        input.refund === 'all'
          ? Number(
              (
                await trx
                  .selectFrom('orders')
                  .select((eb) => eb.fn.countAll<number>().as('n'))
                  .where('event_id', '=', eventId)
                  .where('status', 'in', REFUNDABLE)
                  .whereRef('refunded_amount', '<', 'total_amount')
                  .executeTakeFirstOrThrow()
              ).n,
            )
          : 0;
      await trx
        .insertInto('event_cancellations')
        .values({
          event_id: eventId,
          org_id: principal.orgId,
          refund: input.refund,
          message: input.message ?? null,
          status: toRefund > 0 ? 'refunding' : 'done',
          orders_total: toRefund,
          locked_until: null,
          created_by: principal.kind === 'user' ? principal.userId : principal.keyId,
          created_at: now,
          finished_at: toRefund > 0 ? null : now,
        })
        .execute();
      await recordAudit(trx, {
        orgId: principal.orgId,
        by: principal,
        action: 'event.cancelled',
        subject: eventId,
        after: { status: 'cancelled' },
        data: {
          refund: input.refund,
          message: input.message ?? null,
          tickets_voided: Number(voided.numUpdatedRows),
          holds_released: pending.length,
          orders_to_refund: toRefund,
        },
      });
      return row;
    });
    notifyQueued(this.db);
    // Started at once; the server's sweep picks it up again if this process stops.
    if (input.refund === 'all') void this.work().catch(() => {});
    return eventView(event);
  }

  async get(orgId: string, eventId: string): Promise<EventCancellation> {
    const row = await this.k
      .selectFrom('event_cancellations')
      .selectAll()
      .where('event_id', '=', eventId)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!row) {
      const event = await this.k
        .selectFrom('events')
        .select('status')
        .where('id', '=', eventId)
        .where('org_id', '=', orgId)
        .executeTakeFirst();
      if (!event) throw notFound('event');
      throw notFound('cancellation (the event is not cancelled)');
    }
    return view(row);
  }

  /**
   * Runs the refund jobs that are due: each under a lease, a batch of orders at a time, until none is
   * left. Returns how many orders this call went through.
   */
  async work(): Promise<number> {
    let done = 0;
    for (;;) {
      const now = nowIso();
      const due = await this.k
        .selectFrom('event_cancellations')
        .select('event_id')
        .where('status', '=', 'refunding')
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
        .limit(1)
        .executeTakeFirst();
      if (!due) return done;
      // The lease, taken by a conditional write on that one job: of two processes that saw it due, one
      // takes it (the other looks for the next).
      const job = await this.k
        .updateTable('event_cancellations')
        .set({ locked_until: addSeconds(now, LEASE_SECONDS) })
        .where('event_id', '=', due.event_id)
        .where('status', '=', 'refunding')
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
        .returningAll()
        .executeTakeFirst();
      if (job) done += await this.runJob(job);
    }
  }

  private async runJob(job: Row): Promise<number> {
    const principal: Principal = {
      kind: 'api_key',
      keyId: job.created_by ?? 'event_cancellation',
      orgId: job.org_id,
      scopes: [],
      creatorRole: null,
    };
    let cursor = job.cursor;
    let count = 0;
    for (;;) {
      const batch = await this.k
        .selectFrom('orders')
        .select('id')
        .where('event_id', '=', job.event_id)
        .where('id', '>', cursor)
        .where('status', 'in', REFUNDABLE)
        .whereRef('refunded_amount', '<', 'total_amount')
        .orderBy('id')
        .limit(BATCH)
        .execute();
      if (batch.length === 0) break;
      for (const { id } of batch) {
        const refunded = await this.refunds
          .refundOrder(principal, id, {
            reason: 'The event was cancelled',
            return_inventory: false,
          })
          .then(
            (r) => r.status !== 'failed',
            // Refunded meanwhile by someone else (409): not a failure of the job.
            (err: unknown) => err instanceof ApiError && err.status === 409,
          );
        cursor = id;
        count++;
        await this.k
          .updateTable('event_cancellations')
          .set((eb) => ({
            cursor: id,
            ...(refunded
              ? { orders_refunded: eb('orders_refunded', '+', 1) }
              : { orders_failed: eb('orders_failed', '+', 1) }),
            locked_until: addSeconds(nowIso(), LEASE_SECONDS),
          }))
          .where('event_id', '=', job.event_id)
          .execute();
      }
    }
    await this.k
      .updateTable('event_cancellations')
      .set({ status: 'done', finished_at: nowIso(), locked_until: null })
      .where('event_id', '=', job.event_id)
      .execute();
    return count;
  }
}

function view(row: Row): EventCancellation {
  return {
    object: 'event_cancellation',
    event_id: row.event_id,
    refund: row.refund,
    message: row.message,
    status: row.status,
    orders_total: row.orders_total,
    orders_refunded: Number(row.orders_refunded),
    orders_failed: Number(row.orders_failed),
    created_at: row.created_at,
    finished_at: row.finished_at,
  };
}
