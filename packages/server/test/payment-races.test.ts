// Stripe's word racing the server's own changes, through two server processes on one database (SQLite
// and Postgres): the API is called on process A, Stripe's webhooks go to process B, and both run the hold
// sweeper. After each race the sale's invariants are checked in the database itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  createTestDatabase,
  DIALECTS,
  eventOnSale,
  signUp,
  stripeEnv,
  type TestDatabase,
  waitFor,
} from './harness.js';
import { expectInvariants } from './invariants.js';
import { type ServerProcess, startTwo, stopProcess } from './processes.js';

describe.each(DIALECTS)('%s: Stripe racing the sale across two server processes', (dialect) => {
  let stripe: FakeStripe;
  let database: TestDatabase;
  let db: Db;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    database = await createTestDatabase(dialect);
    [a, b] = await startTwo(database.url, {
      ...stripeEnv(stripe),
      TICKETS_HOLD_SWEEP_SECONDS: '1',
    });
    stripe.setWebhookUrl(`${b.url}/api/webhooks/stripe`);
    db = openDatabase(database.url, { poolSize: 2 });
    token = (await signUp(a.url)).token;
    ({
      eventId,
      typeIds: [typeId = ''],
    } = await eventOnSale(a.url, token, { name: 'Online Race', capacity: 500 }, [
      { name: 'GA', amount: 3000, capacity: 400 },
    ]));
  }, 60_000);

  afterAll(async () => {
    if (db) await expectInvariants(db);
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await db?.close();
    await database?.drop();
    await stripe?.close();
  });

  /** A pending Stripe order of `quantity` tickets, bought through process A. */
  async function pendingOrder(quantity: number, buyer: string) {
    const res = await a.call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Olli Online', email: `${buyer}@example.com` },
        payment_method: 'stripe',
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; payment: { payment_intent_id: string } };
  }

  const ordersNamed = (ids: string[]) =>
    db.kysely
      .selectFrom('orders')
      .select(['id', 'status', 'ticket_count'])
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();

  it('payments arriving as their holds run out: each order is paid once, with its tickets', async () => {
    const orders = await Promise.all(Array.from({ length: 12 }, (_, i) => pendingOrder(2, `late${i}`)));
    const ids = orders.map((o) => o.id);
    // The holds run out now: the sweepers of both processes (every second) race the payments' webhooks.
    await db.kysely
      .updateTable('orders')
      .set({ hold_expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', 'in', ids)
      .execute();
    // Spread over 1.4 s, so each sweeper ticks at least once among them: the first payments find their
    // order pending, the later ones find it expired by a sweeper (and sell again).
    await Promise.all(
      orders.map(async (o, i) => {
        await new Promise((r) => setTimeout(r, i * 120));
        await stripe.succeedPaymentIntent(o.payment.payment_intent_id);
      }),
    );
    await stripe.settled();
    const after = await waitFor(
      () => ordersNamed(ids),
      (rows) => rows.every((r) => r.status !== 'pending' && r.status !== 'expired'),
    );
    // Room for all of them: paid, whether before the sweeper (its hold confirmed) or after (sold again).
    expect(after.map((r) => r.status)).toEqual(ids.map(() => 'paid'));
    const tickets = await db.kysely
      .selectFrom('tickets')
      .select('order_id')
      .where('order_id', 'in', ids)
      .where('status', '=', 'valid')
      .execute();
    expect(tickets).toHaveLength(24);
    const late = await db.kysely
      .selectFrom('audit_log')
      .select('subject_id')
      .where('action', '=', 'order.paid_late')
      .where('subject_id', 'in', ids)
      .execute();
    expect(late.length, 'payments that found their hold expired by a sweeper').toBeGreaterThan(0);
    await expectInvariants(db);
  });

  it('a refund failing at Stripe while the rest of the order is refunded: the money adds up', async () => {
    stripe.setRefundStatus('pending');
    try {
      for (let round = 0; round < 4; round++) {
        const order = await pendingOrder(2, `refund${round}`);
        await stripe.succeedPaymentIntent(order.payment.payment_intent_id);
        await stripe.settled();
        const paid = await a.call('GET', `/api/orders/${order.id}`, { token });
        expect(paid.body.status).toBe('paid');
        const first = await a.call('POST', `/api/tickets/${paid.body.tickets[0].id}/refund`, {
          token,
          body: {},
        });
        expect(first.status, JSON.stringify(first.body)).toBe(201);
        const atStripe = [...stripe.refunds.values()].find(
          (r) => r.payment_intent === order.payment.payment_intent_id,
        )!;
        // The rest of the order is refunded on A while Stripe tells B the first refund failed.
        const [rest] = await Promise.all([
          a.call('POST', `/api/orders/${order.id}/refund`, { token, body: {} }),
          stripe.refundEvent(atStripe.id, 'failed'),
        ]);
        expect([201, 409], JSON.stringify(rest.body)).toContain(rest.status);
        await stripe.settled();
        const row = await db.kysely
          .selectFrom('orders')
          .select(['refunded_amount', 'flagged'])
          .where('id', '=', order.id)
          .executeTakeFirstOrThrow();
        // The failed refund's money is back in what may be refunded; the order says why.
        expect(row.flagged).toBe(1);
        expect(row.refunded_amount).toBe(rest.status === 201 ? rest.body.amount.amount : 0);
        await expectInvariants(db);
      }
    } finally {
      stripe.setRefundStatus('succeeded');
    }
  });

  it('an event cancelled (refund all) while its pending orders are being paid: every paid cent goes back, no ticket stays valid', async () => {
    const { eventId: racedEvent, typeIds } = await eventOnSale(
      a.url,
      token,
      { name: 'Cancelled Online', capacity: 100 },
      [{ name: 'GA', amount: 2000, capacity: 100 }],
    );
    const orders = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const res = await a.call('POST', '/api/tickets/purchase', {
          token,
          body: {
            event: racedEvent,
            items: [{ ticket_type: typeIds[0], quantity: 2 }],
            buyer: { name: 'Cora Cancel', email: `cora${i}@example.com` },
            payment_method: 'stripe',
          },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body as { id: string; total: { amount: number }; payment: { payment_intent_id: string } };
      }),
    );
    const ids = orders.map((o) => o.id);
    // The organizer cancels on A while Stripe tells B, order after order, that the buyers paid.
    const [cancel, deliveries] = await Promise.all([
      a.call('POST', `/api/events/${racedEvent}/cancel`, { token, body: { refund: 'all' } }),
      Promise.all(
        orders.map(async (o, i) => {
          await new Promise((r) => setTimeout(r, i * 3));
          return stripe.succeedPaymentIntent(o.payment.payment_intent_id);
        }),
      ),
    ]);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    await stripe.settled();
    const failed = deliveries.flat().filter((d) => (d.status ?? 0) >= 500);
    expect(
      failed.map((d) => `${d.type}: ${d.status}`),
      'webhooks answered with a server error',
    ).toEqual([]);
    await waitFor(
      () => a.call('GET', `/api/events/${racedEvent}/cancellation`, { token }),
      (res) => res.body.status === 'done',
    );
    // Every order was paid at Stripe: each one's money went back in full (refunded by the cancellation,
    // or by the payment that found its order cancelled), and none has a valid ticket.
    const rows = await waitFor(
      () =>
        db.kysely
          .selectFrom('orders')
          .select(['id', 'status', 'total_amount', 'refunded_amount'])
          .where('id', 'in', ids)
          .execute(),
      (rs) => rs.every((r) => r.refunded_amount === r.total_amount),
    );
    expect(rows.map((r) => r.refunded_amount)).toEqual(rows.map((r) => r.total_amount));
    const valid = await db.kysely
      .selectFrom('tickets')
      .select('id')
      .where('event_id', '=', racedEvent)
      .where('status', '=', 'valid')
      .execute();
    expect(valid).toEqual([]);
    await expectInvariants(db);
  });
});
