import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer, waitFor } from './harness.js';
import { expectInvariants } from './invariants.js';

describe.each(DIALECTS)('%s: cancelling an event', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(() => s.stop());

  async function onSale(name: string) {
    return eventOnSale(s.url, token, { name, capacity: 100 }, [{ name: 'GA', amount: 2500, capacity: 50 }]);
  }

  const buy = async (eventId: string, typeId: string, quantity: number, email: string, method = 'manual') => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Pat Patron', email },
        payment_method: method,
      },
    });
    return res;
  };

  /** The cancellation, once its refund job is done. */
  async function finished(eventId: string) {
    const res = await waitFor(
      () => call('GET', `/api/events/${eventId}/cancellation`, { token }),
      (r) => r.status !== 200 || r.body.status === 'done',
    );
    expect(res.status).toBe(200);
    return res.body;
  }

  it('voids every ticket (refused at the door and in the bundle), returns holds, tells holders, refunds nobody', async () => {
    const { eventId, typeIds } = await onSale('Rained Off');
    const paid = (await buy(eventId, typeIds[0]!, 2, 'ada@example.com')).body;
    const res = await call('POST', `/api/events/${eventId}/cancel`, {
      token,
      body: { message: 'The park is flooded.' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: eventId, status: 'cancelled' });

    for (const t of paid.tickets) {
      const scan = await call('POST', '/api/tickets/validate', {
        token,
        body: { code: t.code, device_id: 'd1' },
      });
      expect(scan.body).toMatchObject({ result: 'revoked', revoked_reason: 'cancelled' });
    }
    const bundle = await call('GET', `/api/events/${eventId}/checkin-bundle`, { token });
    expect(bundle.body.event_status).toBe('cancelled');
    expect(bundle.body.tickets.map((t: { status: string }) => t.status)).toEqual(['void', 'void']);

    const cancellation = await call('GET', `/api/events/${eventId}/cancellation`, { token });
    expect(cancellation.body).toMatchObject({
      object: 'event_cancellation',
      refund: 'none',
      message: 'The park is flooded.',
      status: 'done',
      orders_total: 0,
    });
    const order = await call('GET', `/api/orders/${paid.id}`, { token });
    expect(order.body).toMatchObject({ status: 'paid', refunded: { amount: 0 } });

    // The holder hears of it, with the organizer's message.
    const message = await s.db.kysely
      .selectFrom('outbox')
      .select('id')
      .where('order_id', '=', paid.id)
      .where('kind', '=', 'event_cancelled')
      .executeTakeFirstOrThrow();
    await waitFor(
      () =>
        s.db.kysely
          .selectFrom('outbox')
          .select('status')
          .where('id', '=', message.id)
          .executeTakeFirstOrThrow(),
      (row) => row.status === 'sent',
    );
    const mail = await simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${message.id}.eml`)));
    expect(mail.subject).toBe('Rained Off is cancelled');
    expect(mail.text).toContain('The park is flooded.');

    const again = await call('POST', `/api/events/${eventId}/cancel`, { token, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('invalid_transition');
    const bought = await buy(eventId, typeIds[0]!, 1, 'late@example.com');
    expect(bought.status).toBe(409);
    await expectInvariants(s.db);
  });

  it('refund: all refunds every paid order in full, with credit notes, as a job whose progress it reports', async () => {
    const { eventId, typeIds } = await onSale('Called Off');
    const orders = [];
    for (let i = 0; i < 5; i++) orders.push((await buy(eventId, typeIds[0]!, 2, `fan${i}@example.com`)).body);
    // One already refunded in part: the job refunds what is left.
    const part = await call('POST', `/api/orders/${orders[0].id}/refund`, { token, body: { amount: 1000 } });
    expect(part.status).toBe(201);
    const res = await call('POST', `/api/events/${eventId}/cancel`, { token, body: { refund: 'all' } });
    expect(res.status).toBe(200);
    const done = await finished(eventId);
    expect(done).toMatchObject({ refund: 'all', orders_total: 5, orders_refunded: 5, orders_failed: 0 });
    expect(done.finished_at).not.toBeNull();
    for (const o of orders) {
      const after = await call('GET', `/api/orders/${o.id}`, { token });
      expect(after.body).toMatchObject({ status: 'refunded', refunded: { amount: 5000 } });
    }
    const notes = await s.db.kysely
      .selectFrom('invoices')
      .innerJoin('refunds', 'refunds.id', 'invoices.refund_id')
      .select('invoices.id')
      .where(
        'refunds.order_id',
        'in',
        orders.map((o) => o.id),
      )
      .execute();
    expect(notes).toHaveLength(6); // the partial refund's and one per order from the job
    await expectInvariants(s.db);
  });

  it('a purchase racing the cancellation either sells before it (and is then voided and refunded) or is refused', async () => {
    const { eventId, typeIds } = await onSale('Raced Off');
    const [cancelled, ...sales] = await Promise.all([
      call('POST', `/api/events/${eventId}/cancel`, { token, body: { refund: 'all' } }),
      ...Array.from({ length: 20 }, (_, i) => buy(eventId, typeIds[0]!, 1, `racer${i}@example.com`)),
    ]);
    expect(cancelled!.status).toBe(200);
    for (const r of sales) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
    const done = await finished(eventId);
    expect(done.orders_total).toBe(sales.filter((r) => r.status === 201).length);
    const valid = await s.db.kysely
      .selectFrom('tickets')
      .select('id')
      .where('event_id', '=', eventId)
      .where('status', '=', 'valid')
      .execute();
    expect(valid).toEqual([]);
    const unrefunded = await s.db.kysely
      .selectFrom('orders')
      .select('id')
      .where('event_id', '=', eventId)
      .where('status', '=', 'paid')
      .execute();
    expect(unrefunded).toEqual([]);
    await expectInvariants(s.db);
  });

  it('refuses a cancellation of another organization’s event, and asks for a cancelled event', async () => {
    const { eventId } = await onSale('Not Yours');
    const other = (await signUp(s.url, 'Otto Other')).token;
    expect((await call('POST', `/api/events/${eventId}/cancel`, { token: other, body: {} })).status).toBe(
      404,
    );
    expect((await call('GET', `/api/events/${eventId}/cancellation`, { token })).status).toBe(404);
    const bad = await call('POST', `/api/events/${eventId}/cancel`, { token, body: { refund: 'some' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('refund');
  });
});
