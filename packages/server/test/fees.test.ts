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

  it("records Stripe's payouts and links their transactions to each organization's orders and refunds", async () => {
    // Another organization selling through the same Stripe account.
    const other = (await signUp(s.url, 'Otto Other')).token;
    const ev = (await call('POST', '/api/events', { token: other, body: sampleEvent({ name: 'Other' }) }))
      .body.id;
    const tt = (
      await call('POST', `/api/events/${ev}/ticket-types`, {
        token: other,
        body: { name: 'GA', price: { amount: 5000, currency: 'EUR' }, capacity: 5 },
      })
    ).body.id;
    await call('POST', `/api/events/${ev}/publish`, { token: other });
    const theirs = await call('POST', '/api/tickets/purchase', {
      token: other,
      body: {
        event: ev,
        items: [{ ticket_type: tt, quantity: 1 }],
        buyer: { name: 'O', email: 'o@example.com' },
        payment_method: 'stripe',
      },
    });
    await stripe.succeedPaymentIntent(theirs.body.payment.payment_intent_id);
    const mine = await payOnline(1);
    await waitFor(
      () => order(mine),
      (o) => o.stripe !== null,
    );
    const { payout } = await stripe.createPayout({ currency: 'eur', deliver: true });
    const shown = await waitFor(
      async () =>
        (await call('GET', '/api/payouts', { token })).body.data as { id: string; lines_loaded: boolean }[],
      (d) => d.some((p) => p.id === payout.id && p.lines_loaded),
    );
    const listed = shown.find((p) => p.id === payout.id)!;
    expect(listed).toMatchObject({ status: 'paid', currency: 'EUR', amount: payout.amount });
    const one = (await call('GET', `/api/payouts/${payout.id}`, { token })).body;
    // Ours: every payment and refund of this organization in it, with their fees, adding up.
    const lines = one.lines as {
      type: string;
      order_id: string | null;
      refund_id: string | null;
      amount: number;
      fee: number;
      net: number;
    }[];
    expect(lines.some((l) => l.order_id === mine && l.type === 'charge')).toBe(true);
    expect(lines.some((l) => l.type === 'refund' && l.refund_id !== null)).toBe(true);
    expect(lines.every((l) => l.order_id !== theirs.body.id)).toBe(true);
    expect(one.totals).toEqual({
      gross: lines.reduce((n, l) => n + l.amount, 0),
      fees: lines.reduce((n, l) => n + l.fee, 0),
      net: lines.reduce((n, l) => n + l.net, 0),
      lines: lines.length,
    });
    const theirView = (await call('GET', `/api/payouts/${payout.id}`, { token: other })).body;
    expect(theirView.lines.map((l: { order_id: string }) => l.order_id)).toEqual([theirs.body.id]);
    // An organization with nothing in it does not see it.
    const none = (await signUp(s.url, 'Nina None')).token;
    expect((await call('GET', `/api/payouts/${payout.id}`, { token: none })).status).toBe(404);
    expect((await call('GET', '/api/payouts', { token: none })).body.data).toEqual([]);
    // In the database: each transaction linked once.
    const rows = await s.db.kysely
      .selectFrom('payout_lines')
      .select('balance_transaction_id')
      .where('payout_id', '=', payout.id)
      .execute();
    expect(new Set(rows.map((r) => r.balance_transaction_id)).size).toBe(rows.length);
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

describe.each(DIALECTS)('%s: reconciling with Stripe', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  it('finds one of each mismatch, and matches the rest', async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Reconciled' }) })).body
      .id;
    const tt = (
      await call('POST', `/api/events/${ev}/ticket-types`, {
        token,
        body: { name: 'GA', price: { amount: 2000, currency: 'EUR' }, capacity: 50 },
      })
    ).body.id;
    await call('POST', `/api/events/${ev}/publish`, { token });
    const buy = async () =>
      (
        await call('POST', '/api/tickets/purchase', {
          token,
          body: {
            event: ev,
            items: [{ ticket_type: tt, quantity: 1 }],
            buyer: { name: 'R', email: 'r@example.com' },
            payment_method: 'stripe',
          },
        })
      ).body as { id: string; payment: { payment_intent_id: string } };
    // Matched: paid, and refunded in part through tickets.
    const good = await buy();
    await stripe.succeedPaymentIntent(good.payment.payment_intent_id);
    const refund = await call('POST', `/api/orders/${good.id}/refund`, { token, body: { amount: 500 } });
    expect(refund.status).toBe(201);
    // Disputed.
    const disputed = await buy();
    await stripe.succeedPaymentIntent(disputed.payment.payment_intent_id);
    await stripe.dispute(disputed.payment.payment_intent_id);
    // Charged a different amount (the order stays unpaid and flagged).
    const short = await buy();
    await stripe.succeedPaymentIntent(short.payment.payment_intent_id, { amount: 100 });
    // A refund made in Stripe's dashboard.
    const dashboard = await buy();
    await stripe.succeedPaymentIntent(dashboard.payment.payment_intent_id);
    const charge = [...stripe.charges.values()].find(
      (c) => c.payment_intent === dashboard.payment.payment_intent_id,
    )!;
    const outside = await stripe.refundOutOfBand(charge.id, 300);
    // A charge made outside tickets.
    const foreign = await stripe.createCharge({ amount: 1234, currency: 'eur' });
    // A paid order Stripe has no charge for, and a refund Stripe never made (records changed by hand).
    const ghost = await buy();
    await s.db.kysely
      .updateTable('orders')
      .set({ status: 'paid', paid_at: new Date().toISOString() })
      .where('id', '=', ghost.id)
      .execute();
    await s.db.kysely
      .updateTable('refunds')
      .set({ provider_ref: 're_never_made' })
      .where('id', '=', refund.body.id)
      .execute();

    const today = new Date().toISOString().slice(0, 10);
    const rec = await call('POST', '/api/reconciliations', { token, body: { from: today, to: today } });
    expect(rec.status, JSON.stringify(rec.body)).toBe(201);
    const kinds = (
      rec.body.lines as { kind: string; order_id: string | null; stripe_id: string | null }[]
    ).map((l) => [l.kind, l.order_id ?? l.stripe_id]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['disputed', disputed.id],
        ['amount_mismatch', short.id],
        ['refund_not_recorded', dashboard.id],
        ['charge_without_order', foreign.charge.id],
        ['order_without_charge', ghost.id],
        ['refund_not_in_stripe', good.id],
        // (The refund whose record was changed by hand: the one Stripe made is now unknown here, too.)
        ['refund_not_recorded', good.id],
      ]),
    );
    // A match is not a line.
    expect(kinds.filter(([, id]) => id === good.id)).toHaveLength(2);
    expect(rec.body.lines.find((l: { kind: string }) => l.kind === 'refund_not_recorded')).toMatchObject({
      stripe_id: outside.refund.id,
      amount: 300,
      currency: 'EUR',
    });
    expect(rec.body.matched).toBeGreaterThanOrEqual(2);
    const again = await call('GET', `/api/reconciliations/${rec.body.id}`, { token });
    expect(again.body).toEqual(rec.body);
    const other = (await signUp(s.url, 'Olaf Other')).token;
    expect((await call('GET', `/api/reconciliations/${rec.body.id}`, { token: other })).status).toBe(404);
    const backwards = await call('POST', '/api/reconciliations', {
      token,
      body: { from: today, to: '2020-01-01' },
    });
    expect(backwards.status).toBe(422);
    // The nightly run, for the day just reconciled: once, and the owner is told.
    const { Reconciliations } = await import('../src/modules/payments/reconcile.js');
    const { paymentProvider } = await import('../src/integrations/stripe.js');
    const nightly = new Reconciliations(s.db, paymentProvider(s.config));
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    expect(await nightly.nightly(tomorrow)).toBe(1);
    expect(await nightly.nightly(tomorrow)).toBe(0);
    const told = await waitFor(
      async () =>
        (await call('GET', '/api/messages?template=reconciliation_mismatches', { token })).body.data as {
          status: string;
        }[],
      (m) => m.length === 1 && m[0]!.status === 'sent',
    );
    expect(told).toHaveLength(1);
    // The records changed by hand are put back (the server's invariants are checked when it stops).
    await s.db.kysely
      .updateTable('orders')
      .set({ status: 'pending', paid_at: null })
      .where('id', '=', ghost.id)
      .execute();
  });
});
