import { verifyTicketCode } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';

describe.each(DIALECTS)('%s: refunds and transfers', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const e = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: 'Refunds', capacity: 20 }),
    });
    eventId = e.body.id;
    const t = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'GA', price: { amount: 2000, currency: 'EUR' }, capacity: 20 },
    });
    typeId = t.body.id;
    await call('POST', `/api/events/${eventId}/publish`, { token });
  });
  afterAll(() => s.stop());

  const buy = async (quantity: number) => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Rae', email: 'rae@example.com' },
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(201);
    return res.body;
  };
  const counters = async () => ({
    type: await s.db.kysely
      .selectFrom('ticket_types')
      .select(['sold', 'held'])
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow(),
    event: await s.db.kysely
      .selectFrom('events')
      .select(['sold', 'held'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow(),
  });

  it('refunds a whole order: tickets void, inventory back, order refunded', async () => {
    const before = await counters();
    const order = await buy(2);
    const res = await call('POST', `/api/orders/${order.id}/refund`, {
      token,
      body: { reason: 'Cannot come' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: 'refund',
      order_id: order.id,
      amount: { amount: 4000, currency: 'EUR' },
      status: 'succeeded',
      provider: 'manual',
      reason: 'Cannot come',
      order_status: 'refunded',
      returned_inventory: true,
    });
    expect(res.body.voided_tickets.sort()).toEqual(order.tickets.map((t: { id: string }) => t.id).sort());
    const after = await call('GET', `/api/orders/${order.id}`, { token });
    expect(after.body).toMatchObject({ status: 'refunded', refunded: { amount: 4000 } });
    expect(
      after.body.tickets.every(
        (t: { status: string; void_reason: string }) => t.status === 'void' && t.void_reason === 'refunded',
      ),
    ).toBe(true);
    expect(await counters()).toEqual(before);
    const again = await call('POST', `/api/orders/${order.id}/refund`, { token, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('order_not_refundable');
  });

  it('refunds part of an order as goodwill without voiding tickets', async () => {
    const order = await buy(1);
    const res = await call('POST', `/api/orders/${order.id}/refund`, { token, body: { amount: 500 } });
    expect(res.body).toMatchObject({
      amount: { amount: 500 },
      order_status: 'partially_refunded',
      voided_tickets: [],
    });
    const over = await call('POST', `/api/orders/${order.id}/refund`, { token, body: { amount: 1501 } });
    expect(over.status).toBe(409);
    expect(over.body.code).toBe('refund_exceeds_paid');
    // Said in the currency for people, with the limit in minor units for programs.
    expect(over.body.detail).toBe('Only €15.00 is left to refund.');
    expect(over.body.errors[0]).toMatchObject({ path: 'amount', message: 'must not exceed 1500 (€15.00)' });
    const rest = await call('POST', `/api/orders/${order.id}/refund`, { token, body: {} });
    expect(rest.body).toMatchObject({ amount: { amount: 1500 }, order_status: 'refunded' });
    expect(rest.body.voided_tickets).toHaveLength(1);
  });

  it('refunds one ticket of an order and keeps the seat out of sale when asked', async () => {
    const order = await buy(3);
    const before = await counters();
    const [first, second] = order.tickets;
    const res = await call('POST', `/api/tickets/${first.id}/refund`, {
      token,
      body: { return_inventory: false },
    });
    expect(res.body).toMatchObject({
      ticket_id: first.id,
      amount: { amount: 2000 },
      order_status: 'partially_refunded',
      voided_tickets: [first.id],
      returned_inventory: false,
    });
    expect(await counters()).toEqual(before);
    const back = await call('POST', `/api/tickets/${second.id}/refund`, { token, body: {} });
    expect(back.body.returned_inventory).toBe(true);
    expect((await counters()).type.sold).toBe(before.type.sold - 1);
    const twice = await call('POST', `/api/tickets/${first.id}/refund`, { token, body: {} });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('ticket_void');
  });

  it('refunds at most a ticket’s price for one ticket, and keeps the order open while money is left', async () => {
    const order = await buy(2); // 2 × 2000
    const tooMuch = await call('POST', `/api/tickets/${order.tickets[0].id}/refund`, {
      token,
      body: { amount: 4000 },
    });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body.code).toBe('refund_exceeds_paid');
    const part = await call('POST', `/api/tickets/${order.tickets[0].id}/refund`, {
      token,
      body: { amount: 1000 },
    });
    expect(part.body.order_status).toBe('partially_refunded');
    const other = await call('POST', `/api/tickets/${order.tickets[1].id}/refund`, {
      token,
      body: { amount: 1000 },
    });
    // Both tickets are void but half the money is still with the organizer: not "refunded" yet.
    expect(other.body.order_status).toBe('partially_refunded');
    const rest = await call('POST', `/api/orders/${order.id}/refund`, { token, body: {} });
    expect(rest.body).toMatchObject({ amount: { amount: 2000 }, order_status: 'refunded' });
  });

  it('will not delete a ticket type that orders name, even when they were all refunded', async () => {
    const t = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'Short-lived', price: { amount: 100, currency: 'EUR' }, capacity: 5 },
    });
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: t.body.id, quantity: 1 }],
        buyer: { name: 'Rae', email: 'rae@example.com' },
        payment_method: 'manual',
      },
    });
    await call('POST', `/api/orders/${res.body.id}/refund`, { token, body: {} });
    const del = await call('DELETE', `/api/ticket-types/${t.body.id}`, { token });
    expect(del.status).toBe(409);
    expect(del.body.code).toBe('ticket_type_has_sales');
  });

  it('never refunds more than was paid, however many refunds race', async () => {
    const order = await buy(2); // 4000 paid
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        call('POST', `/api/orders/${order.id}/refund`, { token, body: { amount: 300 } }),
      ),
    );
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(13); // 13 × 300 = 3900 ≤ 4000 < 14 × 300
    for (const r of results.filter((r) => r.status !== 201)) expect(r.body.code).toBe('refund_exceeds_paid');
    const after = await call('GET', `/api/orders/${order.id}`, { token });
    expect(after.body.refunded.amount).toBe(3900);
    const rows = await s.db.kysely
      .selectFrom('refunds')
      .select('amount')
      .where('order_id', '=', order.id)
      .execute();
    expect(rows.reduce((sum, r) => sum + r.amount, 0)).toBe(3900);
  });

  it('refunds each ticket once when refunds of the same ticket race', async () => {
    const order = await buy(1);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        call('POST', `/api/tickets/${order.tickets[0].id}/refund`, { token, body: {} }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    const after = await call('GET', `/api/orders/${order.id}`, { token });
    expect(after.body.refunded.amount).toBe(2000);
  });

  it('lists refunds newest first, by order, event and status, as they were made, and pages through them', async () => {
    const order = await buy(3);
    const [t1, t2] = order.tickets as { id: string }[];
    const one = (await call('POST', `/api/tickets/${t1!.id}/refund`, { token, body: { reason: 'Ill' } }))
      .body;
    const part = (await call('POST', `/api/orders/${order.id}/refund`, { token, body: { amount: 500 } }))
      .body;
    const two = (await call('POST', `/api/tickets/${t2!.id}/refund`, { token, body: {} })).body;

    const byOrder = await call('GET', `/api/refunds?order=${order.id}`, { token });
    expect(byOrder.status).toBe(200);
    // Read back as they were answered when made (the order's status is its status now).
    expect(byOrder.body.data).toEqual(
      [two, part, one].map((r) => ({ ...r, order_status: 'partially_refunded' })),
    );
    expect(byOrder.body.data[2]).toMatchObject({ voided_tickets: [t1!.id], reason: 'Ill' });
    expect(byOrder.body.data[1].voided_tickets).toEqual([]);
    expect((await call('GET', `/api/refunds/${part.id}`, { token })).body).toEqual({
      ...part,
      order_status: 'partially_refunded',
    });

    // Every refund of the event, a page at a time; none of another event's.
    const other = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: 'Else', capacity: 5 }),
    });
    const all: { id: string; order_id: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: typeof all; next_cursor: string | null } } = await call(
        'GET',
        `/api/refunds?event=${eventId}&limit=2${cursor ? `&starting_after=${cursor}` : ''}`,
        { token },
      );
      all.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    const inDb = await s.db.kysely
      .selectFrom('refunds')
      .innerJoin('orders', 'orders.id', 'refunds.order_id')
      .select('refunds.id')
      .where('orders.event_id', '=', eventId)
      .orderBy('refunds.id', 'desc')
      .execute();
    expect(all.map((r) => r.id)).toEqual(inDb.map((r) => r.id));
    expect((await call('GET', `/api/refunds?event=${other.body.id}`, { token })).body.data).toEqual([]);
    expect((await call('GET', `/api/refunds?status=failed&order=${order.id}`, { token })).body.data).toEqual(
      [],
    );

    // Another organization sees none of them; bad filters are refused.
    const stranger = (await signUp(s.url)).token;
    expect((await call('GET', `/api/refunds?order=${order.id}`, { token: stranger })).body.data).toEqual([]);
    expect((await call('GET', `/api/refunds/${part.id}`, { token: stranger })).status).toBe(404);
    const bad = await call('GET', '/api/refunds?status=maybe&event=nope', { token });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['event', 'status']);
  });

  it('transfers a ticket: new holder, new code, the old code no longer matches', async () => {
    const order = await buy(1);
    const ticket = order.tickets[0];
    const res = await call('PUT', `/api/tickets/${ticket.id}/transfer`, {
      token,
      body: { name: 'Nia New', email: 'NIA@example.com' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      holder: { name: 'Nia New', email: 'nia@example.com' },
      code_version: 2,
    });
    expect(res.body.code).not.toBe(ticket.code);
    const key = (await call('GET', `/api/events/${eventId}/public-key`, { token })).body.public_key;
    // Both codes are genuine signatures; the door refuses the old one by its version.
    expect(await verifyTicketCode(ticket.code, key)).toMatchObject({ valid: true, version: 1 });
    expect(await verifyTicketCode(res.body.code, key)).toMatchObject({ valid: true, version: 2 });
    const audit = await s.db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('subject_id', '=', ticket.id)
      .execute();
    expect(audit.map((a) => a.action)).toEqual(['ticket.transferred']);
    expect(JSON.parse(audit[0]!.data)).toMatchObject({
      before: { holder: { name: 'Rae' } },
      after: { holder: { name: 'Nia New' } },
      code_version: 2,
    });
    // Who did it, with the request and the address it came from.
    expect(audit[0]).toMatchObject({ actor: expect.stringMatching(/^usr_/), ip: expect.any(String) });
    expect(audit[0]!.request_id).toBe(res.headers.get('x-request-id'));
    // The new holder is told, with the new code (messaging.test.ts follows it to the mail).
    const queued = await s.db.kysely
      .selectFrom('outbox')
      .selectAll()
      .where('kind', '=', 'transfer_notice')
      .where('ticket_id', '=', ticket.id)
      .execute();
    expect(queued.map((m) => m.recipient)).toEqual(['nia@example.com']);
  });

  it('refuses transfers of void tickets and for events that forbid them', async () => {
    const order = await buy(1);
    await call('POST', `/api/tickets/${order.tickets[0].id}/refund`, { token, body: {} });
    const voided = await call('PUT', `/api/tickets/${order.tickets[0].id}/transfer`, {
      token,
      body: { name: 'X', email: 'x@example.com' },
    });
    expect(voided.status).toBe(409);
    expect(voided.body.code).toBe('ticket_void');
    await call('PUT', `/api/events/${eventId}`, { token, body: { transferable: false } });
    const other = await buy(1);
    const forbidden = await call('PUT', `/api/tickets/${other.tickets[0].id}/transfer`, {
      token,
      body: { name: 'X', email: 'x@example.com' },
    });
    expect(forbidden.body.code).toBe('transfer_not_allowed');
    await call('PUT', `/api/events/${eventId}`, { token, body: { transferable: true } });
  });

  it('issues one new code when transfers race', async () => {
    const order = await buy(1);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call('PUT', `/api/tickets/${order.tickets[0].id}/transfer`, {
          token,
          body: { name: `T${i}`, email: `t${i}@example.com` },
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const final = await call('GET', `/api/tickets/${order.tickets[0].id}`, { token });
    expect(final.body.code_version).toBe(1 + ok.length);
    for (const r of results.filter((r) => r.status !== 200)) expect(r.body.code).toBe('ticket_changed');
  });
});
