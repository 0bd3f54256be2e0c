import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
} from './harness.js';

describe.each(DIALECTS)('%s: online payments with Stripe', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
      TICKETS_HOLD_SWEEP_SECONDS: '1',
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  async function onSale(capacity = 10, event: Record<string, unknown> = {}) {
    const e = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: `Online ${Math.random()}`, ...event }),
    });
    const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
      token,
      body: { name: 'GA', price: { amount: 3000, currency: 'EUR' }, capacity },
    });
    await call('POST', `/api/events/${e.body.id}/publish`, { token });
    return { eventId: e.body.id as string, typeId: t.body.id as string };
  }
  const buyOnline = (eventId: string, typeId: string, quantity = 2, extra: Record<string, unknown> = {}) =>
    call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Olli', email: 'olli@example.com' },
        payment_method: 'stripe',
        ...extra,
      },
    });
  const availability = async (eventId: string) =>
    (await call('GET', `/api/tickets/availability?event=${eventId}`, { token })).body.ticket_types[0];
  const order = async (id: string) => (await call('GET', `/api/orders/${id}`, { token })).body;

  it('holds the tickets, creates a PaymentIntent, and issues tickets when Stripe says it succeeded', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'pending',
      payment_method: 'stripe',
      tickets: [],
      payment: { provider: 'stripe' },
    });
    expect(res.body.hold_expires_at).not.toBeNull();
    const intent = stripe.paymentIntents.get(res.body.payment.payment_intent_id)!;
    expect(intent).toMatchObject({ amount: 6000, currency: 'eur', metadata: { order_id: res.body.id } });
    expect(res.body.payment.client_secret).toBe(intent.client_secret);
    const create = stripe.requests.find(
      (r) =>
        r.path === '/v1/payment_intents' &&
        r.method === 'POST' &&
        r.idempotencyKey === `order-${res.body.id}`,
    );
    expect(create).toBeDefined();
    expect(await availability(eventId)).toMatchObject({ sold: 0, held: 2, available: 8 });

    const [delivery] = await stripe.succeedPaymentIntent(intent.id);
    expect(delivery?.status).toBe(200);
    const paid = await order(res.body.id);
    expect(paid.status).toBe('paid');
    expect(paid.tickets).toHaveLength(2);
    expect(paid.payment.client_secret).toBeNull();
    expect(await availability(eventId)).toMatchObject({ sold: 2, held: 0, available: 8 });

    // Stripe delivers events at least once: the same event again changes nothing.
    const again = await stripe.resend(
      stripe.lastEvents.find(
        (d) =>
          d.event?.type === 'payment_intent.succeeded' &&
          (d.event.data.object as { id: string }).id === intent.id,
      )!.event!.id,
    );
    expect(again.status).toBe(200);
    expect(JSON.parse(again.responseBody ?? '{}')).toMatchObject({ duplicate: true });
    expect((await order(res.body.id)).tickets).toHaveLength(2);
    expect(await availability(eventId)).toMatchObject({ sold: 2, held: 0 });
  });

  it('refuses unsigned, forged and stale webhooks and changes nothing', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    const intentId = res.body.payment.payment_intent_id;
    const event = stripe.createEvent('payment_intent.succeeded', {
      ...stripe.paymentIntents.get(intentId)!,
      status: 'succeeded',
      amount_received: 3000,
    });
    const forged = await stripe.deliver(event, { secret: 'whsec_not_the_right_one' });
    expect(forged.status).toBe(400);
    const stale = await stripe.deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(400);
    const unsigned = await call('POST', '/api/webhooks/stripe', {
      raw: JSON.stringify(event),
      headers: { 'content-type': 'application/json' },
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.code).toBe('invalid_signature');
    expect((await order(res.body.id)).status).toBe('pending');
  });

  it('keeps the hold through a declined card, fails the order when the payment is cancelled, and ignores a late failure of a paid order', async () => {
    const { eventId, typeId } = await onSale();
    const a = await buyOnline(eventId, typeId, 3);
    // A declined card: the buyer may try another one on the same PaymentIntent.
    await stripe.failPaymentIntent(a.body.payment.payment_intent_id);
    expect((await order(a.body.id)).status).toBe('pending');
    expect(await availability(eventId)).toMatchObject({ held: 3, available: 7 });
    const canceled = stripe.createEvent('payment_intent.canceled', {
      ...stripe.paymentIntents.get(a.body.payment.payment_intent_id)!,
      status: 'canceled',
      metadata: { order_id: a.body.id },
    });
    expect((await stripe.deliver(canceled)).status).toBe(200);
    expect((await order(a.body.id)).status).toBe('failed');
    expect(await availability(eventId)).toMatchObject({ held: 0, available: 10 });

    const b = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(b.body.payment.payment_intent_id);
    const failedLater = stripe.createEvent('payment_intent.payment_failed', {
      ...stripe.paymentIntents.get(b.body.payment.payment_intent_id)!,
      metadata: { order_id: b.body.id },
    });
    await stripe.deliver(failedLater);
    expect((await order(b.body.id)).status).toBe('paid');
    expect(await availability(eventId)).toMatchObject({ sold: 1, held: 0 });
  });

  it('flags a payment whose amount does not match the order, and does not issue tickets', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id, { amount: 100 });
    const after = await order(res.body.id);
    expect(after).toMatchObject({ status: 'pending', flagged: true, tickets: [] });
    expect(after.flag_reason).toContain('does not match');
  });

  it('pays a late payment while tickets remain, and refunds one that finds the event sold out', async () => {
    const { eventId, typeId } = await onSale(1);
    const late = await buyOnline(eventId, typeId, 1);
    // The hold runs out: the sweeper (every second here) expires the order and frees the ticket.
    await s.db.kysely
      .updateTable('orders')
      .set({ hold_expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', '=', late.body.id)
      .execute();
    await expect.poll(async () => (await order(late.body.id)).status, { timeout: 5000 }).toBe('expired');
    expect(await availability(eventId)).toMatchObject({ held: 0, available: 1 });

    // Someone else buys the last ticket at the box office; then the late payment arrives.
    const other = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'Box', email: 'box@example.com' },
        payment_method: 'manual',
      },
    });
    expect(other.status).toBe(201);
    await stripe.succeedPaymentIntent(late.body.payment.payment_intent_id);
    const refunded = await order(late.body.id);
    expect(refunded).toMatchObject({
      status: 'refunded',
      flagged: true,
      tickets: [],
      refunded: { amount: 3000 },
    });
    const stripeRefund = [...stripe.refunds.values()].find(
      (r) => r.payment_intent === late.body.payment.payment_intent_id,
    );
    expect(stripeRefund).toMatchObject({ amount: 3000 });
    expect(await availability(eventId)).toMatchObject({ sold: 1, held: 0, available: 0 });

    // With room left, a late payment simply becomes a sale.
    const room = await onSale(5);
    const second = await buyOnline(room.eventId, room.typeId, 2);
    await s.db.kysely
      .updateTable('orders')
      .set({ hold_expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', '=', second.body.id)
      .execute();
    await expect.poll(async () => (await order(second.body.id)).status, { timeout: 5000 }).toBe('expired');
    await stripe.succeedPaymentIntent(second.body.payment.payment_intent_id);
    const paid = await order(second.body.id);
    expect(paid).toMatchObject({ status: 'paid', flagged: false });
    expect(paid.tickets).toHaveLength(2);
    expect(await availability(room.eventId)).toMatchObject({ sold: 2, held: 0 });
  });

  it('refunds a payment for an order that was cancelled meanwhile', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    expect((await call('POST', `/api/orders/${res.body.id}/cancel`, { token })).body.status).toBe(
      'cancelled',
    );
    expect(await availability(eventId)).toMatchObject({ held: 0, available: 10 });
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    expect(await order(res.body.id)).toMatchObject({ status: 'refunded', flagged: true, tickets: [] });
    expect(
      [...stripe.refunds.values()].some((r) => r.payment_intent === res.body.payment.payment_intent_id),
    ).toBe(true);
  });

  it('gives the same end state whatever order the events arrive in', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    const intent = {
      ...stripe.paymentIntents.get(res.body.payment.payment_intent_id)!,
      metadata: { order_id: res.body.id },
    };
    const succeeded = stripe.createEvent('payment_intent.succeeded', {
      ...intent,
      status: 'succeeded',
      amount_received: 3000,
    });
    const failed = stripe.createEvent('payment_intent.payment_failed', intent);
    // Succeeded first, then an older failure; then both again.
    for (const e of [succeeded, failed, failed, succeeded])
      expect((await stripe.deliver(e)).status).toBe(200);
    const after = await order(res.body.id);
    expect(after.status).toBe('paid');
    expect(after.tickets).toHaveLength(1);
    expect(await availability(eventId)).toMatchObject({ sold: 1, held: 0 });
  });

  it('applies the two "paid" events of one payment once, even when they arrive together', async () => {
    for (let round = 0; round < 3; round++) {
      const { eventId, typeId } = await onSale();
      const res = await buyOnline(eventId, typeId, 2);
      const intent = {
        ...stripe.paymentIntents.get(res.body.payment.payment_intent_id)!,
        metadata: { order_id: res.body.id },
      };
      const succeeded = stripe.createEvent('payment_intent.succeeded', {
        ...intent,
        status: 'succeeded',
        amount_received: 6000,
      });
      const completed = stripe.createEvent('checkout.session.completed', {
        id: `cs_test_${round}`,
        object: 'checkout.session',
        payment_status: 'paid',
        payment_intent: intent.id,
        amount_total: 6000,
        currency: 'eur',
        metadata: { order_id: res.body.id },
      });
      const deliveries = await Promise.all([
        stripe.deliver(succeeded),
        stripe.deliver(completed),
        stripe.deliver(succeeded),
      ]);
      expect(deliveries.map((d) => d.status)).toEqual([200, 200, 200]);
      const after = await order(res.body.id);
      expect(after.status).toBe('paid');
      expect(after.tickets).toHaveLength(2);
      expect(await availability(eventId)).toMatchObject({ sold: 2, held: 0 });
    }
  });

  it('refunds a late payment that would take the buyer past the per-buyer limit', async () => {
    const { eventId, typeId } = await onSale(10, { max_per_buyer: 2 });
    const late = await buyOnline(eventId, typeId, 2);
    await s.db.kysely
      .updateTable('orders')
      .set({ hold_expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', '=', late.body.id)
      .execute();
    await expect.poll(async () => (await order(late.body.id)).status, { timeout: 5000 }).toBe('expired');
    const again = await buyOnline(eventId, typeId, 2);
    await stripe.succeedPaymentIntent(again.body.payment.payment_intent_id);
    expect((await order(again.body.id)).status).toBe('paid');
    await stripe.succeedPaymentIntent(late.body.payment.payment_intent_id);
    const after = await order(late.body.id);
    expect(after).toMatchObject({ status: 'refunded', flagged: true, tickets: [] });
    expect(after.flag_reason).toContain('tickets allowed');
    expect(await availability(eventId)).toMatchObject({ sold: 2, held: 0 });
  });

  it('sells through a hosted Checkout page', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 2, {
      checkout: { success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' },
    });
    expect(res.status).toBe(201);
    expect(res.body.payment.checkout_url).toMatch(/^http/);
    const session = [...stripe.checkoutSessions.values()].find((c) => c.metadata?.order_id === res.body.id)!;
    await stripe.completeCheckoutSession(session.id);
    const paid = await order(res.body.id);
    expect(paid.status).toBe('paid');
    expect(paid.tickets).toHaveLength(2);
    expect(paid.payment.payment_intent_id).toMatch(/^pi_/);

    const abandoned = await buyOnline(eventId, typeId, 1, {
      checkout: { success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' },
    });
    const abandonedSession = [...stripe.checkoutSessions.values()].find(
      (c) => c.metadata?.order_id === abandoned.body.id,
    )!;
    await stripe.expireCheckoutSession(abandonedSession.id);
    expect((await order(abandoned.body.id)).status).toBe('failed');
  });

  it('refunds through Stripe, with the status from Stripe', async () => {
    const { eventId, typeId } = await onSale();
    // Organizers' webhooks hear of a refund once Stripe has made it (a poll endpoint: no URL to reach).
    const hook = await call('POST', '/api/webhook-endpoints', {
      token,
      body: { mode: 'poll', events: ['order.refunded'] },
    });
    expect(hook.status).toBe(201);
    const refundedHooks = async () =>
      (
        await s.db.kysely
          .selectFrom('outbox')
          .select('id')
          .where('recipient', '=', hook.body.id)
          .where('kind', '=', 'order.refunded')
          .execute()
      ).length;
    const res = await buyOnline(eventId, typeId, 2);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    const paid = await order(res.body.id);
    const refund = await call('POST', `/api/tickets/${paid.tickets[0].id}/refund`, {
      token,
      body: { reason: 'ill' },
    });
    expect(refund.status).toBe(201);
    expect(refund.body).toMatchObject({ provider: 'stripe', status: 'succeeded', amount: { amount: 3000 } });
    expect(refund.body.credit_note_number).toMatch(/^INV-CN-\d{4}-\d{6}$/);
    expect((await order(res.body.id)).invoice_number).toMatch(/^INV-\d{4}-\d{6}$/);
    const remote = [...stripe.refunds.values()].find((r) => r.metadata?.refund_id === refund.body.id);
    expect(remote).toMatchObject({ amount: 3000, payment_intent: res.body.payment.payment_intent_id });

    stripe.setRefundStatus('pending');
    const rest = await call('POST', `/api/orders/${res.body.id}/refund`, { token, body: {} });
    expect(rest.body).toMatchObject({ provider: 'stripe', status: 'pending', amount: { amount: 3000 } });
    expect(await refundedHooks()).toBe(1);
    const remoteRest = [...stripe.refunds.values()].find((r) => r.metadata?.refund_id === rest.body.id)!;
    await stripe.refundEvent(remoteRest.id, 'succeeded');
    const row = await s.db.kysely
      .selectFrom('refunds')
      .select('status')
      .where('id', '=', rest.body.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('succeeded');
    expect(await refundedHooks()).toBe(2);
    // The credit note comes when Stripe confirms the refund, not before.
    const note = await s.db.kysely
      .selectFrom('invoices')
      .select('number')
      .where('refund_id', '=', rest.body.id)
      .executeTakeFirst();
    expect(note?.number).toMatch(/^INV-CN-/);
    stripe.setRefundStatus('succeeded');
    await call('DELETE', `/api/webhook-endpoints/${hook.body.id}`, { token });
  });

  it('gives the money back to the order when Stripe fails a refund, and flags it', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    stripe.setRefundStatus('pending');
    const refund = await call('POST', `/api/orders/${res.body.id}/refund`, { token, body: { amount: 1000 } });
    stripe.setRefundStatus('succeeded');
    const remote = [...stripe.refunds.values()].find((r) => r.metadata?.refund_id === refund.body.id)!;
    await stripe.refundEvent(remote.id, 'failed');
    const after = await order(res.body.id);
    expect(after).toMatchObject({ status: 'paid', refunded: { amount: 0 }, flagged: true });
  });

  it('takes back a refund Stripe fails after it had succeeded, and flags a refund made in the Stripe dashboard', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    const refund = await call('POST', `/api/orders/${res.body.id}/refund`, { token, body: { amount: 1000 } });
    expect(refund.body.status).toBe('succeeded');
    const remote = [...stripe.refunds.values()].find((r) => r.metadata?.refund_id === refund.body.id)!;
    await stripe.refundEvent(remote.id, 'failed');
    const after = await order(res.body.id);
    expect(after).toMatchObject({ status: 'paid', refunded: { amount: 0 }, flagged: true });
    expect(after.flag_reason).toContain('credit note stands');

    const other = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(other.body.payment.payment_intent_id);
    const outside = stripe.createEvent('refund.created', {
      id: 're_dashboard_1',
      object: 'refund',
      amount: 500,
      currency: 'eur',
      payment_intent: other.body.payment.payment_intent_id,
      status: 'succeeded',
      metadata: {},
    });
    expect((await stripe.deliver(outside)).status).toBe(200);
    const flagged = await order(other.body.id);
    expect(flagged).toMatchObject({ status: 'paid', refunded: { amount: 0 }, flagged: true });
    expect(flagged.flag_reason).toContain('re_dashboard_1');
  });

  it('flags a disputed order', async () => {
    const { eventId, typeId } = await onSale();
    const res = await buyOnline(eventId, typeId, 1);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    await stripe.dispute(res.body.payment.payment_intent_id, { reason: 'fraudulent' });
    expect(await order(res.body.id)).toMatchObject({
      status: 'paid',
      flagged: true,
      flag_reason: 'disputed: fraudulent',
    });
  });

  it('answers 502 and returns the hold when Stripe cannot be reached', async () => {
    const { eventId, typeId } = await onSale();
    // Only the PaymentIntent's creation: the fee and payout jobs talk to Stripe in the background too.
    stripe.failNext(3, 500, { path: '/v1/payment_intents' });
    const res = await buyOnline(eventId, typeId, 2);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('payment_provider_unavailable');
    expect(await availability(eventId)).toMatchObject({ held: 0, available: 10 });
    const failed = await call('GET', `/api/orders?event=${eventId}`, { token });
    expect(failed.body.data[0].status).toBe('failed');
  });
});

describe('without Stripe keys', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(() => s.stop());

  it('answers the webhook route with 501', async () => {
    const res = await http(s.url)('POST', '/api/webhooks/stripe', {
      raw: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(501);
  });
});
