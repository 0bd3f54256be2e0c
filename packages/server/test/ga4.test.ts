import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudonymousClientId } from '../src/modules/ga4/events.js';
import { type FakeGa4, startFakeGa4 } from './fakes/ga4.js';
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

/**
 * Google Analytics 4, server-side: the real HTTP requests the outbox sends to a local fake of the
 * Measurement Protocol, which checks them as GA4 documents (names, required parameters, limits).
 */
describe.each(DIALECTS)('%s: Google Analytics 4 e-commerce events', (dialect) => {
  let s: TestServer;
  let ga: FakeGa4;
  let stripe: FakeStripe;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    ga = await startFakeGa4();
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      TICKETS_GA4_URL: ga.url,
      TICKETS_MESSAGE_RETRY_BASE_MS: '40',
      ...stripeEnv(stripe),
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const set = await call('PUT', '/api/org/integrations/google-analytics', {
      token,
      body: { measurement_id: ga.measurementId, api_secret: ga.apiSecret },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
  });
  afterAll(async () => {
    await s?.stop();
    await ga?.close();
    await stripe?.close();
  });

  async function onSale(types: { name: string; amount: number; tax_rate?: number }[]) {
    const e = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: `Jazz night ${Math.random().toString(36).slice(2, 8)}` }),
    });
    const typeIds: string[] = [];
    for (const t of types) {
      const res = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
        token,
        body: {
          name: t.name,
          price: { amount: t.amount, currency: 'EUR' },
          capacity: 50,
          tax_rate: t.tax_rate,
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      typeIds.push(res.body.id);
    }
    await call('POST', `/api/events/${e.body.id}/publish`, { token });
    return { eventId: e.body.id as string, eventName: e.body.name as string, typeIds };
  }

  const buy = (body: Record<string, unknown>) =>
    call('POST', '/api/tickets/purchase', {
      token,
      body: { buyer: { name: 'Gina Gauge', email: 'gina@example.com' }, payment_method: 'manual', ...body },
    });

  /** Every event GA4 received about an order (purchase, refund: transaction_id; others: by client). */
  const eventsOf = (orderId: string, name?: string) =>
    ga.events(name).filter((e) => e.params?.transaction_id === orderId);

  it('keeps the settings, never answers the secret, and refuses what is not a GA4 stream', async () => {
    const shown = await call('GET', '/api/org/integrations/google-analytics', { token });
    expect(shown.body).toMatchObject({
      object: 'google_analytics_settings',
      measurement_id: ga.measurementId,
      api_secret_last4: ga.apiSecret.slice(-4),
      enabled: true,
    });
    expect(JSON.stringify(shown.body)).not.toContain(ga.apiSecret);
    for (const body of [
      { measurement_id: 'UA-12345-1', api_secret: 'abcdefgh1234' },
      { measurement_id: ga.measurementId },
      { measurement_id: ga.measurementId, api_secret: 'short' },
      { measurement_id: ga.measurementId, api_secret: 'abcdefgh1234', extra: 1 },
    ]) {
      const bad = await call('PUT', '/api/org/integrations/google-analytics', { token, body });
      expect(bad.status, JSON.stringify(body)).toBe(422);
      expect(bad.body.code).toBe('validation_failed');
    }
    // Another organization has none, and its test says so.
    const other = (await signUp(s.url, 'Otto Other')).token;
    expect(
      (await call('GET', '/api/org/integrations/google-analytics', { token: other })).body,
    ).toMatchObject({
      measurement_id: null,
      enabled: false,
    });
    const untested = await call('POST', '/api/org/integrations/google-analytics/test', { token: other });
    expect(untested.status).toBe(409);
  });

  it("tests the stream against GA4's validation server: valid, and a wrong secret told apart", async () => {
    const ok = await call('POST', '/api/org/integrations/google-analytics/test', { token });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ object: 'google_analytics_test', valid: true, validation_messages: [] });
    expect(ok.body.sent.events[0].name).toBe('purchase');
    expect(JSON.stringify(ok.body.sent)).not.toContain(ga.apiSecret);
    expect(ga.debugHits.at(-1)?.apiSecret).toBe(ga.apiSecret);

    const { token: other } = await signUp(s.url, 'Wanda Wrong');
    await call('PUT', '/api/org/integrations/google-analytics', {
      token: other,
      body: { measurement_id: ga.measurementId, api_secret: 'not-the-secret-1' },
    });
    const wrong = await call('POST', '/api/org/integrations/google-analytics/test', { token: other });
    expect(wrong.body.valid).toBe(false);
    expect(wrong.body.validation_messages[0]).toMatchObject({ validation_code: 'VALUE_INVALID' });
  });

  it("sends a purchase once, in the buyer's session: items, value, tax, currency and our dimensions", async () => {
    const { eventId, eventName, typeIds } = await onSale([
      { name: 'Standing', amount: 2500, tax_rate: 1900 },
      { name: 'Balcony', amount: 4000, tax_rate: 700 },
    ]);
    const order = await buy({
      event: eventId,
      items: [
        { ticket_type: typeIds[0], quantity: 2 },
        { ticket_type: typeIds[1], quantity: 1 },
      ],
      analytics: { client_id: '1234567890.1700000000', session_id: '1700000123', user_id: 'member-42' },
      attribution: { source: 'newsletter' },
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const purchase = await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === order.body.id);
    expect(purchase.clientId).toBe('1234567890.1700000000');
    expect(purchase.userId).toBe('member-42');
    expect(purchase.problems).toEqual([]);
    expect(purchase.hit.accepted).toBe(true);
    // 2 × 25.00 at 19 % and 1 × 40.00 at 7 %: tax 7.98 + 2.62.
    expect(purchase.params).toMatchObject({
      transaction_id: order.body.id,
      currency: 'EUR',
      value: 90,
      tax: 10.6,
      session_id: '1700000123',
      event_id: eventId,
      sales_channel: 'box_office',
      source: 'newsletter',
    });
    expect(
      [...purchase.params.items].sort((a: { price: number }, b: { price: number }) => a.price - b.price),
    ).toEqual([
      { item_id: typeIds[0], item_name: 'Standing', item_category: eventName, price: 25, quantity: 2 },
      { item_id: typeIds[1], item_name: 'Balcony', item_category: eventName, price: 40, quantity: 1 },
    ]);
    // Backdated to when it was paid.
    expect(
      Math.abs(Number(purchase.timestampMicros) / 1000 - Date.parse(order.body.created_at)),
    ).toBeLessThan(1000);
    // Once: a while later, still one.
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsOf(order.body.id, 'purchase')).toHaveLength(1);
    expect(ga.problems()).toEqual([]);
  });

  it('sends refunds: a ticket (its item), an amount (no items), the rest (every item) — one client throughout', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Seat', amount: 3000 }]);
    const order = await buy({ event: eventId, items: [{ ticket_type: typeIds[0], quantity: 3 }] });
    const id = order.body.id as string;
    const purchase = await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === id);
    // No client id from a checkout (a box-office sale): a stable pseudonymous one.
    expect(purchase.clientId).toBe(pseudonymousClientId(id));
    expect(purchase.clientId).toMatch(/^\d+\.\d+$/);
    const full = await call('GET', `/api/orders/${id}`, { token });
    const ticket = full.body.tickets[0].id;

    const one = await call('POST', `/api/tickets/${ticket}/refund`, { token, body: {} });
    expect(one.status, JSON.stringify(one.body)).toBe(201);
    const first = await ga.waitForEvent('refund', (e) => e.params?.refund_id === one.body.id);
    expect(first.clientId).toBe(purchase.clientId);
    expect(first.params).toMatchObject({ transaction_id: id, currency: 'EUR', value: 30 });
    expect(first.params.items).toEqual([
      expect.objectContaining({ item_id: typeIds[0], price: 30, quantity: 1 }),
    ]);

    const part = await call('POST', `/api/orders/${id}/refund`, { token, body: { amount: 1000 } });
    expect(part.status, JSON.stringify(part.body)).toBe(201);
    const partial = await ga.waitForEvent('refund', (e) => e.params?.refund_id === part.body.id);
    expect(partial.params).toMatchObject({ transaction_id: id, value: 10 });
    expect(partial.params.items).toBeUndefined();
    expect(ga.problems()).toEqual([]);
  });

  it('sends every item when the whole order is refunded at once', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Floor', amount: 1500 }]);
    const order = await buy({ event: eventId, items: [{ ticket_type: typeIds[0], quantity: 2 }] });
    const refund = await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    expect(refund.status).toBe(201);
    const event = await ga.waitForEvent('refund', (e) => e.params?.refund_id === refund.body.id);
    expect(event.params).toMatchObject({ value: 30 });
    expect(event.params.items).toEqual([
      expect.objectContaining({ item_id: typeIds[0], quantity: 2, price: 15 }),
    ]);
  });

  it('sends a purchase with a discount code: the coupon, and per item the price paid and the discount', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Club', amount: 5000, tax_rate: 1900 }]);
    const code = `GA${Date.now()}`;
    const v = await call('POST', '/api/vouchers', {
      token,
      body: { code, event: eventId, discount: { percent: 20 } },
    });
    expect(v.status).toBe(201);
    const order = await buy({
      event: eventId,
      items: [{ ticket_type: typeIds[0], quantity: 2 }],
      voucher: code,
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const purchase = await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === order.body.id);
    // 2 × 40.00 paid (50.00 less 10.00), tax 19 % of 80.00 = 12.77.
    expect(purchase.params).toMatchObject({ value: 80, tax: 12.77, coupon: code, currency: 'EUR' });
    expect(purchase.params.items).toEqual([
      expect.objectContaining({ item_id: typeIds[0], price: 40, discount: 10, quantity: 2, coupon: code }),
    ]);
    expect(purchase.problems).toEqual([]);
    const refund = await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    const back = await ga.waitForEvent('refund', (e) => e.params?.refund_id === refund.body.id);
    expect(back.params).toMatchObject({ value: 80, coupon: code });
  });

  it('sends nothing about a buyer who declined analytics', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Quiet', amount: 2000 }]);
    const order = await buy({
      event: eventId,
      items: [{ ticket_type: typeIds[0], quantity: 1 }],
      analytics: { client_id: '555.666' },
      analytics_consent: false,
    });
    expect(order.status).toBe(201);
    await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    // An order that consented, sold after it, arrives: the declined one would have come first.
    const after = await buy({ event: eventId, items: [{ ticket_type: typeIds[0], quantity: 1 }] });
    await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === after.body.id);
    await new Promise((r) => setTimeout(r, 200));
    expect(eventsOf(order.body.id)).toEqual([]);
    expect(ga.events().filter((e) => e.clientId === '555.666')).toEqual([]);
    const queued = await s.db.kysely
      .selectFrom('outbox')
      .select('id')
      .where('channel', '=', 'ga4')
      .where('payload', 'like', `%${order.body.id}%`)
      .execute();
    expect(queued).toEqual([]);
  });

  it('retries while Google Analytics fails, and sends each event once', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Retry', amount: 1000 }]);
    ga.failNext(2, 503);
    const order = await buy({ event: eventId, items: [{ ticket_type: typeIds[0], quantity: 1 }] });
    await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === order.body.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsOf(order.body.id, 'purchase')).toHaveLength(1);
    const row = await s.db.kysely
      .selectFrom('outbox')
      .select(['status', 'attempts'])
      .where('channel', '=', 'ga4')
      .where('kind', '=', 'purchase')
      .where('payload', 'like', `%${order.body.id}%`)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'sent', attempts: 3 });
  });

  it('sends begin_checkout when a Stripe hold is made, and the purchase when Stripe says it is paid', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Online', amount: 4200 }]);
    const order = await buy({
      event: eventId,
      items: [{ ticket_type: typeIds[0], quantity: 2 }],
      payment_method: 'stripe',
      analytics: { client_id: '777.888', session_id: '42' },
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const checkout = await ga.waitForEvent('begin_checkout', (e) => e.clientId === '777.888');
    expect(checkout.params).toMatchObject({
      currency: 'EUR',
      value: 84,
      session_id: '42',
      sales_channel: 'online',
    });
    expect(checkout.params.transaction_id).toBeUndefined();
    expect(eventsOf(order.body.id, 'purchase')).toEqual([]);
    await stripe.succeedPaymentIntent(order.body.payment.payment_intent_id);
    const purchase = await ga.waitForEvent('purchase', (e) => e.params?.transaction_id === order.body.id);
    expect(purchase.clientId).toBe('777.888');
    expect(purchase.params).toMatchObject({ value: 84, items: [expect.objectContaining({ quantity: 2 })] });
    expect(ga.problems()).toEqual([]);
  });

  it("sends ticket_checked_in at a ticket's first entry, in the buyer's session", async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Door', amount: 1200 }]);
    const order = await buy({
      event: eventId,
      items: [{ ticket_type: typeIds[0], quantity: 1 }],
      analytics: { client_id: '999.111' },
    });
    const ticket = order.body.tickets[0];
    for (const device of ['door-1', 'door-2'])
      await call('POST', '/api/tickets/validate', { token, body: { code: ticket.code, device_id: device } });
    const entry = await ga.waitForEvent('ticket_checked_in', (e) => e.params?.ticket_id === ticket.id);
    expect(entry.clientId).toBe('999.111');
    expect(entry.params).toMatchObject({
      event_id: eventId,
      ticket_type: typeIds[0],
      ticket_type_name: 'Door',
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(ga.events('ticket_checked_in').filter((e) => e.params?.ticket_id === ticket.id)).toHaveLength(1);
    expect(ga.problems()).toEqual([]);
  });

  it('sends nothing once turned off, and drops what waited when removed', async () => {
    const { token: own } = await signUp(s.url, 'Olga Off');
    const put = (enabled: boolean) =>
      call('PUT', '/api/org/integrations/google-analytics', {
        token: own,
        body: { measurement_id: ga.measurementId, api_secret: ga.apiSecret, enabled },
      });
    await put(false);
    const e = await call('POST', '/api/events', { token: own, body: sampleEvent({ name: 'Off' }) });
    const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
      token: own,
      body: { name: 'GA', price: { amount: 1000, currency: 'EUR' }, capacity: 5 },
    });
    await call('POST', `/api/events/${e.body.id}/publish`, { token: own });
    const order = await call('POST', '/api/tickets/purchase', {
      token: own,
      body: {
        event: e.body.id,
        items: [{ ticket_type: t.body.id, quantity: 1 }],
        buyer: { name: 'Nils', email: 'nils@example.com' },
        payment_method: 'manual',
      },
    });
    expect(order.status).toBe(201);
    const removed = await call('DELETE', '/api/org/integrations/google-analytics', { token: own });
    expect(removed.body).toMatchObject({ measurement_id: null });
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsOf(order.body.id)).toEqual([]);
    const audit = await call('GET', '/api/audit-log?action=integration.', { token: own });
    expect(audit.body.data.map((a: { action: string }) => a.action)).toEqual([
      'integration.google_analytics.deleted',
      'integration.google_analytics.set',
    ]);
  });
});
