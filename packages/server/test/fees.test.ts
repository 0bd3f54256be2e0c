import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer, waitFor } from './harness.js';

// Stripe's fee and net of each payment and refund, read from its balance transactions (the real
// `stripe` package against the fake) by a job after the payment was applied.
describe.each(DIALECTS)('%s: Stripe fees', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
      TICKETS_HOLD_SWEEP_SECONDS: '1',
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    eventId = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Fees' }) })).body.id;
    typeId = (
      await call('POST', `/api/events/${eventId}/ticket-types`, {
        token,
        body: { name: 'GA', price: { amount: 3000, currency: 'EUR' }, capacity: 50 },
      })
    ).body.id;
    await call('POST', `/api/events/${eventId}/publish`, { token });
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  const payOnline = async (quantity: number) => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Fay Fee', email: 'fay@example.com' },
        payment_method: 'stripe',
      },
    });
    expect(res.status).toBe(201);
    await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
    return res.body.id as string;
  };
  const order = async (id: string) => (await call('GET', `/api/orders/${id}`, { token })).body;

  it("records a payment's fee and net, and a refund's, from Stripe's balance transactions", async () => {
    const id = await payOnline(2);
    const paid = await waitFor(
      () => order(id),
      (o) => o.stripe !== null,
    );
    // 2.9 % + 30 of 60.00.
    const charge = [...stripe.charges.values()].find((c) => c.amount === 6000 && c.metadata?.order_id === id);
    expect(paid.stripe).toEqual({
      balance_transaction: charge?.balance_transaction,
      fee: 204,
      net: 5796,
      currency: 'EUR',
      exchange_rate: null,
    });
    const refund = await call('POST', `/api/orders/${id}/refund`, { token, body: { amount: 1000 } });
    expect(refund.status).toBe(201);
    const recorded = await waitFor(
      async () => (await call('GET', `/api/refunds/${refund.body.id}`, { token })).body,
      (r) => r.stripe !== null,
    );
    expect(recorded.stripe).toMatchObject({ fee: 0, net: -1000, currency: 'EUR' });
    expect(recorded.stripe.balance_transaction).toMatch(/^txn_/);
    // Recorded once, in the database as the API shows it.
    const row = await s.db.kysely
      .selectFrom('orders')
      .select(['stripe_fee', 'stripe_net', 'settlement_currency', 'balance_transaction_id'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      stripe_fee: 204,
      stripe_net: 5796,
      settlement_currency: 'eur',
      balance_transaction_id: charge?.balance_transaction,
    });
  });

  it('records the settlement currency and exchange rate of a payment settled in another currency', async () => {
    stripe.setBalanceOptions({ settlementCurrency: 'usd', exchangeRate: 1.1 });
    try {
      const id = await payOnline(1);
      const paid = await waitFor(
        () => order(id),
        (o) => o.stripe !== null,
      );
      // 30.00 EUR → 33.00 USD; 2.9 % + 30 of that.
      expect(paid.stripe).toMatchObject({ currency: 'USD', exchange_rate: 1.1, fee: 126, net: 3174 });
    } finally {
      stripe.setBalanceOptions({ settlementCurrency: 'eur', exchangeRate: 1 });
    }
  });

  it('shows each fee as a row of the revenue report, money out in the settlement currency', async () => {
    const id = await payOnline(1);
    await waitFor(
      () => order(id),
      (o) => o.stripe !== null,
    );
    const res = await fetch(`${s.url}/api/reports/revenue?event=${eventId}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/csv' },
    });
    const rows = parse(await res.text(), { columns: true }) as Record<string, string>[];
    const mine = rows.filter((r) => r.order_id === id).map((r) => [r.type, r.currency, r.gross, r.method]);
    expect(mine).toEqual([
      ['payment', 'EUR', '30.00', 'stripe'],
      ['fee', 'EUR', '-1.17', 'stripe'],
      ['invoice', 'EUR', '30.00', 'stripe'],
    ]);
    const fee = rows.find((r) => r.order_id === id && r.type === 'fee')!;
    expect(fee.related_document).toMatch(/^txn_/);
  });
});
