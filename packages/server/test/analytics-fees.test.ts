import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StripePayments } from '../src/integrations/stripe.js';
import { recordStripeFees } from '../src/modules/payments/fees.js';
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

// Stripe's fees in the analytics: the revenue series and an event's money (issue 16). The fees job is
// run by the test (the server's runs hourly here), so "not recorded yet" can be seen.
describe.each(DIALECTS)('%s: Stripe fees in the analytics', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let payments: StripePayments;
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
      TICKETS_HOLD_SWEEP_SECONDS: '3600',
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    payments = new StripePayments({
      secretKey: stripe.secretKey,
      webhookSecret: stripe.webhookSecret,
      apiUrl: stripe.url,
    });
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  async function organizer(currency = 'EUR') {
    const { token } = await signUp(s.url);
    const eventId = (
      await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Fee night', currency }) })
    ).body.id as string;
    const typeId = (
      await call('POST', `/api/events/${eventId}/ticket-types`, {
        token,
        body: { name: 'GA', price: { amount: 3000, currency }, capacity: 50 },
      })
    ).body.id as string;
    await call('POST', `/api/events/${eventId}/publish`, { token });
    const buy = async (method: 'stripe' | 'manual', quantity: number) => {
      const res = await call('POST', '/api/tickets/purchase', {
        token,
        body: {
          event: eventId,
          items: [{ ticket_type: typeId, quantity }],
          buyer: { name: 'Fay Fee', email: 'fay@example.com' },
          payment_method: method,
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      if (method === 'stripe') await stripe.succeedPaymentIntent(res.body.payment.payment_intent_id);
      return res.body.id as string;
    };
    const revenue = async () => (await call('GET', '/api/analytics/revenue', { token })).body;
    const money = async () => (await call('GET', `/api/events/${eventId}/analytics`, { token })).body.money;
    return { token, eventId, buy, revenue, money };
  }

  it('shows fees as unknown until recorded, then takes them off the net, refunds included', async () => {
    const o = await organizer();
    await o.buy('stripe', 2); // 60.00: 2.9 % + 30 = 204
    await o.buy('manual', 1); // no fee
    let totals = (await o.revenue()).totals;
    expect(totals).toEqual([{ currency: 'EUR', gross: 9000, refunds: 0, fees: null, net: 9000 }]);
    expect((await o.money()).fees).toBeNull();

    await recordStripeFees(s.db, payments, log);
    totals = (await o.revenue()).totals;
    expect(totals).toEqual([{ currency: 'EUR', gross: 9000, refunds: 0, fees: 204, net: 8796 }]);
    expect(await o.money()).toMatchObject({ gross: 9000, fees: 204 });
    // The series adds up to the totals.
    const series = (await o.revenue()).series.filter((p: { currency: string }) => p.currency === 'EUR');
    expect(series.reduce((sum: number, p: { fees: number }) => sum + p.fees, 0)).toBe(204);

    // A refund: its own balance transaction's fee (0 with Stripe's usual pricing) counts when it was made.
    stripe.setBalanceOptions({ feeFor: () => 204 });
    const paid = await o.buy('stripe', 1); // 30.00: fee 204
    stripe.setBalanceOptions({ feeFor: undefined });
    await recordStripeFees(s.db, payments, log);
    const refund = await call('POST', `/api/orders/${paid}/refund`, { token: o.token, body: {} });
    expect(refund.status).toBe(201);
    await recordStripeFees(s.db, payments, log);
    const refundFee = await s.db.kysely
      .selectFrom('refunds')
      .select('stripe_fee')
      .where('id', '=', refund.body.id)
      .executeTakeFirstOrThrow();
    totals = (await o.revenue()).totals;
    expect(totals[0]).toMatchObject({
      gross: 12000,
      refunds: 3000,
      fees: 408 + Number(refundFee.stripe_fee),
    });
    expect(totals[0].net).toBe(12000 - 3000 - totals[0].fees);
  });

  it("converts a fee settled in another currency back at the payment's exchange rate", async () => {
    const o = await organizer('GBP');
    stripe.setBalanceOptions({ settlementCurrency: 'eur', exchangeRate: 1.2, feeFor: () => 120 });
    try {
      await o.buy('stripe', 1); // 30.00 GBP settles as 36.00 EUR, fee 1.20 EUR = 1.00 GBP
      await recordStripeFees(s.db, payments, log);
    } finally {
      stripe.setBalanceOptions({ settlementCurrency: undefined, exchangeRate: undefined, feeFor: undefined });
    }
    const totals = (await o.revenue()).totals;
    expect(totals).toEqual([{ currency: 'GBP', gross: 3000, refunds: 0, fees: 100, net: 2900 }]);
    expect((await o.money()).fees).toBe(100);
  });
});
