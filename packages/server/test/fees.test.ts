import { routes } from '@tickets/sdk';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { paymentProvider } from '../src/integrations/stripe.js';
import { GIVE_UP, nextTryAt, RETRY_MAX_MS } from '../src/modules/payments/fees.js';
import { Reconciliations } from '../src/modules/payments/reconcile.js';
import { type FakePayout, type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
  waitFor,
} from './harness.js';

describe("the Stripe jobs' patience", () => {
  it('waits a minute after the first failure, twice as long each time up to 6 hours, and gives up after about 3 days', () => {
    const now = new Date('2030-01-01T00:00:00.000Z');
    const wait = (attempts: number) => Date.parse(nextTryAt(attempts, now)!) - now.getTime();
    expect([1, 2, 3, 4].map(wait)).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(wait(10)).toBe(RETRY_MAX_MS);
    expect(wait(GIVE_UP - 1)).toBe(RETRY_MAX_MS);
    expect(nextTryAt(GIVE_UP, now)).toBeNull();
    // The last try comes after every wait before it.
    let span = 0;
    for (let n = 1; n < GIVE_UP; n++) span += wait(n);
    expect(span / 3600_000).toBeGreaterThanOrEqual(72);
    expect(span / 3600_000).toBeLessThan(80);
  });
});

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
      ...stripeEnv(stripe),
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

  it('shows the fee Stripe gives back with a refund as money back, taken off the fees', async () => {
    // Stripe reports a refund's returned fee as a negative fee (and net = amount − fee).
    stripe.setBalanceOptions({ refundFeeFor: () => -50 });
    try {
      const id = await payOnline(1);
      await waitFor(
        () => order(id),
        (o) => o.stripe !== null,
      );
      const refund = await call('POST', `/api/orders/${id}/refund`, { token, body: { amount: 1000 } });
      expect(refund.status).toBe(201);
      const recorded = await waitFor(
        async () => (await call('GET', `/api/refunds/${refund.body.id}`, { token })).body,
        (r) => r.stripe !== null,
      );
      expect(recorded.stripe).toMatchObject({ fee: -50, net: -950 });
      const res = await fetch(`${s.url}/api/reports/revenue?event=${eventId}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/csv' },
      });
      const rows = parse(await res.text(), { columns: true }) as Record<string, string>[];
      const fees = rows.filter((r) => r.order_id === id && r.type === 'fee');
      expect(fees.map((r) => [r.refund_id || null, r.gross])).toEqual([
        [null, '-1.17'],
        [refund.body.id, '0.50'],
      ]);
      // What the fees cost this order in all: 1.17 kept, 0.50 of it given back.
      expect(fees.reduce((n, r) => n + Math.round(Number(r.gross) * 100), 0)).toBe(-67);
    } finally {
      stripe.setBalanceOptions({ refundFeeFor: () => 0 });
    }
  });

  it('keeps reading newer fees while fifty payments have no balance transaction at Stripe', async () => {
    const { eventId: ev, typeIds } = await eventOnSale(s.url, token, { name: 'Stuck' }, [
      { name: 'GA', amount: 1000, capacity: 100 },
    ]);
    const buy = async () => {
      const res = await call('POST', '/api/tickets/purchase', {
        token,
        body: {
          event: ev,
          items: [{ ticket_type: typeIds[0], quantity: 1 }],
          buyer: { name: 'S', email: 's@example.com' },
          payment_method: 'stripe',
        },
      });
      expect(res.status).toBe(201);
      return res.body as { id: string; payment: { payment_intent_id: string } };
    };
    // A whole batch of the oldest payments that Stripe answers for without a balance transaction.
    const stuck: { id: string; intent: string }[] = [];
    for (let i = 0; i < 5; i++)
      stuck.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, async () => {
            const o = await buy();
            await stripe.succeedPaymentIntent(o.payment.payment_intent_id, { balanceTransaction: false });
            return { id: o.id, intent: o.payment.payment_intent_id };
          }),
        )),
      );
    const fresh = await buy();
    await stripe.succeedPaymentIntent(fresh.payment.payment_intent_id);
    const read = await waitFor(
      () => order(fresh.id),
      (o) => o.stripe !== null,
    );
    expect(read.stripe.fee).toBe(59);
    // Each stuck one counted its tries and waits before the next.
    const rows = await s.db.kysely
      .selectFrom('orders')
      .select(['fee_attempts', 'fee_next_try_at', 'balance_transaction_id'])
      .where(
        'id',
        'in',
        stuck.map((o) => o.id),
      )
      .execute();
    expect(rows).toHaveLength(50);
    for (const r of rows) {
      expect(r.balance_transaction_id).toBeNull();
      expect(r.fee_attempts).toBeGreaterThanOrEqual(1);
      expect(Date.parse(r.fee_next_try_at!)).toBeGreaterThan(Date.now());
    }
    // One that has been tried for days is given up, and no longer asked for.
    await s.db.kysely
      .updateTable('orders')
      .set({ fee_attempts: GIVE_UP - 1, fee_next_try_at: null })
      .where('id', '=', stuck[0]!.id)
      .execute();
    const given = await waitFor(
      () =>
        s.db.kysely
          .selectFrom('orders')
          .select(['fee_attempts', 'fee_next_try_at'])
          .where('id', '=', stuck[0]!.id)
          .executeTakeFirstOrThrow(),
      (r) => r.fee_attempts === GIVE_UP,
    );
    expect(given.fee_next_try_at).toBeNull();
    const asked = () =>
      stripe.requests.filter((r) => r.path === `/v1/payment_intents/${stuck[0]!.intent}`).length;
    const before = asked();
    await new Promise((r) => setTimeout(r, 2500));
    expect(asked()).toBe(before);
  });

  it('links newer payouts while Stripe keeps failing to list an older one, and never asks for a manual one', async () => {
    // Payouts Stripe will not list (it does not know them): older than any other, five (one run's worth).
    const template = (id: string, arrival: number) => ({
      id,
      object: 'payout',
      amount: 1000,
      arrival_date: arrival,
      automatic: true,
      created: arrival - 2 * 86_400,
      currency: 'eur',
      failure_code: null,
      failure_message: null,
      status: 'paid',
    });
    const gone = Array.from({ length: 5 }, (_, i) => `po_gone${i}${Date.now()}`);
    for (const [i, id] of gone.entries()) {
      const d = await stripe.deliver(
        stripe.createEvent('payout.paid', template(id, Date.UTC(2020, 0, 1 + i) / 1000)),
      );
      expect(d.status).toBe(200);
    }
    // A manual payout, older than the automatic one after it.
    const first = await payOnline(1);
    await waitFor(
      () => order(first),
      (o) => o.stripe !== null,
    );
    const manual = (
      await stripe.createPayout({
        currency: 'eur',
        deliver: true,
        automatic: false,
        arrivalDate: Date.UTC(2021, 0, 1) / 1000,
      })
    ).payout;
    const second = await payOnline(1);
    await waitFor(
      () => order(second),
      (o) => o.stripe !== null,
    );
    const { payout } = await stripe.createPayout({ currency: 'eur', deliver: true });
    await waitFor(
      () =>
        s.db.kysely
          .selectFrom('payouts')
          .select('lines_loaded_at')
          .where('id', '=', payout.id)
          .executeTakeFirst(),
      (p) => Boolean(p?.lines_loaded_at),
    );
    const mine = (await call('GET', `/api/payouts/${payout.id}`, { token })).body;
    expect(mine.lines.map((l: { order_id: string }) => l.order_id)).toContain(second);
    const rows = await s.db.kysely
      .selectFrom('payouts')
      .select(['id', 'lines_attempts', 'lines_next_try_at', 'lines_loaded_at', 'automatic'])
      .where('id', 'in', [...gone, manual.id])
      .execute();
    for (const r of rows.filter((r) => r.id !== manual.id)) {
      expect(r.lines_loaded_at).toBeNull();
      expect(r.lines_attempts).toBeGreaterThanOrEqual(1);
      expect(Date.parse(r.lines_next_try_at!)).toBeGreaterThan(Date.now());
    }
    expect(rows.find((r) => r.id === manual.id)).toMatchObject({
      automatic: 0,
      lines_attempts: 0,
      lines_loaded_at: null,
    });
    expect(
      stripe.requests.filter((r) => r.path === '/v1/balance_transactions' && r.query.payout === manual.id),
    ).toEqual([]);
  });

  it('links a payout of hundreds of transactions, looking its orders and refunds up by index', async () => {
    const id = await payOnline(1);
    await waitFor(
      () => order(id),
      (o) => o.stripe !== null,
    );
    const refund = await call('POST', `/api/orders/${id}/refund`, { token, body: { amount: 500 } });
    expect(refund.status).toBe(201);
    for (let i = 0; i < 450; i++) await stripe.createCharge({ amount: 1000 + i, currency: 'eur' });
    const { payout } = await stripe.createPayout({ currency: 'eur', deliver: true });
    await waitFor(
      () =>
        s.db.kysely
          .selectFrom('payouts')
          .select('lines_loaded_at')
          .where('id', '=', payout.id)
          .executeTakeFirst(),
      (p) => Boolean(p?.lines_loaded_at),
    );
    const lines = await s.db.kysely
      .selectFrom('payout_lines')
      .select(['type', 'order_id', 'refund_id', 'org_id'])
      .where('payout_id', '=', payout.id)
      .execute();
    const listed = [...stripe.balanceTransactions.keys()].filter((t) => stripe.payoutOf(t)?.id === payout.id);
    expect(lines).toHaveLength(listed.length);
    expect(lines.length).toBeGreaterThan(450);
    expect(lines.filter((l) => l.org_id !== null)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'charge', order_id: id, refund_id: null }),
        expect.objectContaining({ type: 'refund', order_id: id, refund_id: refund.body.id }),
      ]),
    );
    // The lookups it makes, each through an index (Postgres told to avoid a scan where it can: with
    // these few rows it would rather scan, which says nothing about a big table).
    const indexed = {
      orders: ['balance_transaction_id', 'payment_intent_id'],
      refunds: ['balance_transaction_id', 'provider_ref'],
    } as const;
    for (const [table, columns] of Object.entries(indexed))
      for (const column of columns) {
        const lookup = sql`select id from ${sql.table(table)} where ${sql.ref(column)} in ('a', 'b')`;
        const plan =
          dialect === 'sqlite'
            ? (await sql<{ detail: string }>`explain query plan ${lookup}`.execute(s.db.kysely)).rows
                .map((r) => r.detail)
                .join('\n')
            : await s.db.kysely.connection().execute(async (c) => {
                await sql`set enable_seqscan = off`.execute(c);
                try {
                  const { rows } = await sql<Record<string, string>>`explain ${lookup}`.execute(c);
                  return rows.map((r) => r['QUERY PLAN']).join('\n');
                } finally {
                  await sql`reset enable_seqscan`.execute(c);
                }
              });
        expect(plan, `${table}.${column}`).toMatch(/index/i);
      }
  });

  it("keeps a payout's furthest stage whatever order Stripe's events come in, and records a new one once when they race", async () => {
    // (Amounts given: what they pay out is not the point here.)
    const { payout } = await stripe.createPayout({ currency: 'eur', status: 'in_transit', amount: 1000 });
    const as = (status: string, extra: Partial<FakePayout> = {}) => ({ ...payout, status, ...extra });
    const stored = () =>
      s.db.kysely
        .selectFrom('payouts')
        .select(['status', 'failure_code'])
        .where('id', '=', payout.id)
        .executeTakeFirst();
    const send = async (type: string, object: object) => {
      const d = await stripe.deliver(stripe.createEvent(type, object));
      expect(d.status, d.responseBody ?? '').toBe(200);
    };
    await send('payout.paid', as('paid'));
    await send('payout.updated', as('in_transit'));
    expect(await stored()).toMatchObject({ status: 'paid' });
    // The bank sent it back: a paid payout fails later, and a late `paid` does not undo that.
    await send('payout.failed', as('failed', { failure_code: 'account_closed' }));
    await send('payout.paid', as('paid'));
    expect(await stored()).toEqual({ status: 'failed', failure_code: 'account_closed' });

    // A new payout's events delivered at once (several server processes may get them together).
    const fresh = (await stripe.createPayout({ currency: 'eur', status: 'pending', amount: 1000 })).payout;
    const events = [
      ...Array.from({ length: 4 }, () =>
        stripe.createEvent('payout.created', { ...fresh, status: 'pending' }),
      ),
      ...Array.from({ length: 4 }, () =>
        stripe.createEvent('payout.updated', { ...fresh, status: 'in_transit' }),
      ),
    ];
    const answers = await Promise.all(
      events.map((e) => {
        const raw = JSON.stringify(e, null, 2);
        return fetch(`${s.url}/api/webhooks/stripe`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': stripe.sign(raw) },
          body: raw,
        });
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(events.map(() => 200));
    const rows = await s.db.kysely
      .selectFrom('payouts')
      .select('status')
      .where('id', '=', fresh.id)
      .execute();
    expect(rows).toEqual([{ status: 'in_transit' }]);
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
      ...stripeEnv(stripe),
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  const DAY = 24 * 3600_000;
  const dayOf = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);
  /** An organization with an event on sale, and a way to buy and pay one ticket of it through Stripe. */
  const seller = async (as: string, name = 'Seller') => {
    const { eventId, typeIds } = await eventOnSale(s.url, as, { name }, [
      { name: 'GA', amount: 2000, capacity: 50 },
    ]);
    return async (pay = true) => {
      const res = await call('POST', '/api/tickets/purchase', {
        token: as,
        body: {
          event: eventId,
          items: [{ ticket_type: typeIds[0], quantity: 1 }],
          buyer: { name: 'R', email: 'r@example.com' },
          payment_method: 'stripe',
        },
      });
      expect(res.status).toBe(201);
      const o = res.body as { id: string; payment: { payment_intent_id: string } };
      if (pay) await stripe.succeedPaymentIntent(o.payment.payment_intent_id);
      const charge = [...stripe.charges.values()].find(
        (c) => c.payment_intent === o.payment.payment_intent_id,
      );
      return { id: o.id, intent: o.payment.payment_intent_id, charge };
    };
  };
  const reconcile = async (from: string, to = from, as = token) => {
    const rec = await call('POST', '/api/reconciliations', { token: as, body: { from, to } });
    expect(rec.status, JSON.stringify(rec.body)).toBe(201);
    return rec.body as {
      matched: number;
      lines: {
        kind: string;
        order_id: string | null;
        refund_id: string | null;
        stripe_id: string | null;
        amount: number | null;
      }[];
    };
  };
  /** Moves a Stripe transaction to another moment (unix seconds), as if Stripe had made it then. */
  const createdAt = (txn: string, iso: string) => {
    stripe.balanceTransactions.get(txn)!.created = Date.parse(iso) / 1000;
  };

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
        // (Shown: this is the only organization selling through Stripe here, so far.)
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

  it("compares a refund's amount with Stripe's, and needs the right to write to reconcile", async () => {
    expect(routes.reconciliations.create.auth).toBe('orders:write');
    const buy = await seller(token, 'Refunds');
    const o = await buy();
    const refund = await call('POST', `/api/orders/${o.id}/refund`, { token, body: { amount: 500 } });
    expect(refund.status).toBe(201);
    // Stripe refunded 300 of it.
    const made = [...stripe.refunds.values()].find((r) => r.metadata.refund_id === refund.body.id)!;
    const txn = stripe.balanceTransactions.get(made.balance_transaction!)!;
    txn.amount = -300;
    txn.net = -300;
    const rec = await reconcile(dayOf(0));
    expect(rec.lines.filter((l) => l.refund_id === refund.body.id)).toEqual([
      expect.objectContaining({
        kind: 'amount_mismatch',
        order_id: o.id,
        amount: 300,
        expected_amount: 500,
        stripe_id: made.id,
      }),
    ]);
  });

  it("does not report a payment or refund at a day's edge as missing on either day", async () => {
    const other = (await signUp(s.url, 'Edgar Edge')).token;
    const buy = await seller(other, 'Edges');
    const [today, yesterday, tomorrow] = [dayOf(0), dayOf(-1), dayOf(1)];
    // Paid today; Stripe's transaction just after midnight, tomorrow.
    const late = await buy();
    createdAt(late.charge!.balance_transaction!, `${tomorrow}T00:00:01.000Z`);
    // Paid today; Stripe's transaction a second before midnight, yesterday.
    const early = await buy();
    createdAt(early.charge!.balance_transaction!, `${yesterday}T23:59:59.000Z`);
    // A refund made in Stripe's dashboard, tomorrow just after midnight.
    const refunded = await buy();
    const outside = await stripe.refundOutOfBand(refunded.charge!.id, 700);
    createdAt(outside.balanceTransaction.id, `${tomorrow}T00:00:01.000Z`);

    const ours = [late.id, early.id, refunded.id];
    const linesOf = (rec: Awaited<ReturnType<typeof reconcile>>) =>
      rec.lines.filter((l) => l.order_id !== null && ours.includes(l.order_id));
    const onToday = await reconcile(today, today, other);
    expect(linesOf(onToday)).toEqual([]);
    // Each of Stripe's is compared on its own day, once.
    expect(onToday.matched).toBe(1);
    const onYesterday = await reconcile(yesterday, yesterday, other);
    expect(linesOf(onYesterday)).toEqual([]);
    expect(onYesterday.matched).toBe(1);
    const onTomorrow = await reconcile(tomorrow, tomorrow, other);
    expect(onTomorrow.matched).toBe(1);
    // The dashboard refund is reported on the day Stripe made it.
    expect(linesOf(onTomorrow)).toEqual([
      expect.objectContaining({ kind: 'refund_not_recorded', order_id: refunded.id, amount: 700 }),
    ]);
  });

  it('shows a charge no order came from to nobody once two organizations sell through Stripe', async () => {
    // The edge test's organization sells through this Stripe account too: the account's charge could be
    // either's (or the account holder's), and neither sees the other's amounts.
    const edge = await s.db.kysely
      .selectFrom('orders')
      .select('org_id')
      .distinct()
      .where('payment_method', '=', 'stripe')
      .execute();
    expect(edge.length).toBeGreaterThanOrEqual(2);
    const foreign = await stripe.createCharge({ amount: 4321, currency: 'eur' });
    const refund = await stripe.refundOutOfBand(foreign.charge.id, 1000);
    const ids = [foreign.charge.id, refund.refund.id];
    const onToday = await reconcile(dayOf(0));
    expect(onToday.lines.filter((l) => ids.includes(l.stripe_id ?? ''))).toEqual([]);
    const other = (await signUp(s.url, 'Oscar Other')).token;
    await (await seller(other, 'Other'))(false);
    const theirs = await reconcile(dayOf(0), dayOf(0), other);
    expect(theirs.lines.filter((l) => ids.includes(l.stripe_id ?? ''))).toEqual([]);
  });

  it('reconciles every organization at night on one read of Stripe, and one failing does not stop the rest', async () => {
    const orgs = await Promise.all(
      ['Nora Night', 'Nick Night'].map(async (name) => {
        const t = (await signUp(s.url, name)).token;
        const buy = await seller(t, name);
        const o = await buy();
        const org = await s.db.kysely
          .selectFrom('orders')
          .select('org_id')
          .where('id', '=', o.id)
          .executeTakeFirstOrThrow();
        return org.org_id;
      }),
    );
    const [failing, fine] = orgs as [string, string];
    const nightly = new Reconciliations(s.db, paymentProvider(s.config));
    const tomorrow = new Date(Date.now() + DAY);
    const proto = Reconciliations.prototype as unknown as {
      compare: (orgId: string, ...rest: unknown[]) => Promise<unknown>;
    };
    const compare = proto.compare;
    const spy = vi.spyOn(proto, 'compare').mockImplementation(function (
      this: unknown,
      orgId: string,
      ...rest: unknown[]
    ) {
      if (orgId === failing) return Promise.reject(new Error('the database went away'));
      return compare.call(this, orgId, ...rest);
    });
    const lists = () => stripe.requests.filter((r) => r.path === '/v1/balance_transactions').length;
    const before = lists();
    try {
      await expect(nightly.nightly(tomorrow)).rejects.toThrow(failing);
    } finally {
      spy.mockRestore();
    }
    // Stripe's transactions of the day (and of a day either side) read once, for all of them.
    expect(lists() - before).toBe(3);
    const done = await s.db.kysely
      .selectFrom('reconciliations')
      .select('org_id')
      .where('created_by', 'is', null)
      .where('org_id', 'in', orgs)
      .execute();
    expect(done).toEqual([{ org_id: fine }]);
    // The next hour's run does the one that failed.
    expect(await nightly.nightly(tomorrow)).toBe(1);
  });
});
