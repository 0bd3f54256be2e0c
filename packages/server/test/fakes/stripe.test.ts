import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeStripe, parseForm, startFakeStripe } from './stripe.js';

/** A webhook endpoint: keeps the raw bytes and the signature header of everything posted to it. */
interface Receiver {
  url: string;
  received: Array<{ raw: string; header: string }>;
  /** Status to answer with. */
  status: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const receiver = { received, status: 200 } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        raw: Buffer.concat(chunks).toString('utf8'),
        header: String(req.headers['stripe-signature']),
      });
      res.writeHead(receiver.status, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/stripe`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

let fake: FakeStripe;
let receiver: Receiver;
let stripe: Stripe;

beforeEach(async () => {
  receiver = await startReceiver();
  fake = await startFakeStripe({ webhookUrl: receiver.url });
  stripe = new Stripe(fake.secretKey, {
    host: '127.0.0.1',
    port: fake.port,
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
  });
});

afterEach(async () => {
  await fake.close();
  await receiver.close();
});

async function paidIntent(amount = 5000): Promise<Stripe.PaymentIntent> {
  const pi = await stripe.paymentIntents.create({ amount, currency: 'eur', metadata: { order_id: 'ord_1' } });
  await fake.succeedPaymentIntent(pi.id);
  return pi;
}

describe('fake Stripe wire format', () => {
  it('parses bracket-nested form bodies like Stripe', () => {
    expect(
      parseForm(
        'metadata[order_id]=ord_1&line_items[0][price_data][currency]=eur&line_items[0][quantity]=2' +
          '&line_items[1][quantity]=1&expand[]=latest_charge&expand[]=customer&note=a+b%26c&__proto__[x]=1',
      ),
    ).toEqual({
      metadata: { order_id: 'ord_1' },
      line_items: [{ price_data: { currency: 'eur' }, quantity: '2' }, { quantity: '1' }],
      expand: ['latest_charge', 'customer'],
      note: 'a b&c',
    });
  });

  it('creates a payment intent with metadata, replays it for the same idempotency key, and retrieves it', async () => {
    const params = {
      amount: 2500,
      currency: 'EUR',
      metadata: { order_id: 'ord_123', tenant: 'org_9' },
      automatic_payment_methods: { enabled: true },
    };
    const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-ord_123' });
    expect(first.id).toMatch(/^pi_\w{24}$/);
    expect(first.client_secret).toMatch(new RegExp(`^${first.id}_secret_\\w+$`));
    expect(first.status).toBe('requires_payment_method');
    expect(first.currency).toBe('eur'); // Stripe answers in lower case
    expect(first.metadata).toEqual({ order_id: 'ord_123', tenant: 'org_9' });

    const again = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-ord_123' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.paymentIntents.size).toBe(1);

    // What went over the wire is what Stripe would have seen.
    const sent = fake.requests.find((r) => r.method === 'POST' && r.path === '/v1/payment_intents')!;
    expect(sent.idempotencyKey).toBe('order-ord_123');
    expect(sent.body).toEqual({
      amount: '2500',
      currency: 'EUR',
      metadata: { order_id: 'ord_123', tenant: 'org_9' },
      automatic_payment_methods: { enabled: 'true' },
    });

    const err = await stripe.paymentIntents
      .create({ ...params, amount: 9900 }, { idempotencyKey: 'order-ord_123' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    const got = await stripe.paymentIntents.retrieve(first.id);
    expect(got).toMatchObject({ id: first.id, amount: 2500, metadata: { order_id: 'ord_123' } });
    expect(got.lastResponse.requestId).toMatch(/^req_/);
  });

  it('keys every POST even without an idempotency key of ours (the SDK adds stripe-node-retry-…)', async () => {
    await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    expect(fake.requests.at(-1)!.idempotencyKey).toMatch(/^stripe-node-retry-/);
  });

  it('answers Stripe errors that the SDK turns into its error classes', async () => {
    const missing = await stripe.paymentIntents.retrieve('pi_nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });

    const unknown = await stripe.paymentIntents
      .create({ amount: 1000, currency: 'eur', metdata: { x: '1' } } as Stripe.PaymentIntentCreateParams)
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'metdata' });

    const small = await stripe.paymentIntents
      .create({ amount: 10, currency: 'eur' })
      .catch((e: unknown) => e);
    expect(small).toMatchObject({ statusCode: 400, code: 'amount_too_small' });

    const declined = await stripe.paymentIntents
      .create({
        amount: 1000,
        currency: 'eur',
        confirm: true,
        payment_method: 'pm_card_visa_chargeDeclinedInsufficientFunds',
      })
      .catch((e: unknown) => e);
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(declined).toMatchObject({
      statusCode: 402,
      code: 'card_declined',
      decline_code: 'insufficient_funds',
    });

    const paid = await paidIntent();
    const cancel = await stripe.paymentIntents.cancel(paid.id).catch((e: unknown) => e);
    expect(cancel).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
  });

  it('rejects a wrong API key with 401', async () => {
    const wrong = new Stripe('sk_test_wrong_key_0000', fake.config);
    const err = await wrong.paymentIntents.create({ amount: 1000, currency: 'eur' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err).toMatchObject({ statusCode: 401, rawType: 'invalid_request_error' });
    expect((err as Error).message).toMatch(/^Invalid API Key provided: sk_test_/);
    expect(fake.paymentIntents.size).toBe(0);
  });
});

describe('fake Stripe checkout and refunds', () => {
  it('creates, retrieves, completes and expires checkout sessions', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        {
          price_data: { currency: 'eur', unit_amount: 2500, product_data: { name: 'General admission' } },
          quantity: 2,
        },
        {
          price_data: { currency: 'eur', unit_amount: 500, product_data: { name: 'Cloakroom' } },
          quantity: 1,
        },
      ],
      success_url: 'https://tickets.example/orders/ord_1?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://tickets.example/orders/ord_1/cancel',
      metadata: { order_id: 'ord_1' },
      payment_intent_data: { metadata: { order_id: 'ord_1' } },
    });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session).toMatchObject({
      amount_total: 5500,
      currency: 'eur',
      status: 'open',
      payment_status: 'unpaid',
    });
    expect(session.url).toBe(`${fake.url}/c/pay/${session.id}`);
    expect(session.payment_intent).toBeNull(); // as in Stripe: only set once paid

    const pi = fake.paymentIntentOf(session.id);
    expect(pi).toMatchObject({ amount: 5500, metadata: { order_id: 'ord_1' } });
    const items = await stripe.checkout.sessions.listLineItems(session.id);
    expect(items.data.map((i) => [i.description, i.quantity, i.amount_total])).toEqual([
      ['General admission', 2, 5000],
      ['Cloakroom', 1, 500],
    ]);

    const deliveries = await fake.completeCheckoutSession(session.id);
    expect(deliveries.map((d) => [d.type, d.status])).toEqual([
      ['payment_intent.succeeded', 200],
      ['checkout.session.completed', 200],
    ]);
    const done = await stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] });
    expect(done.status).toBe('complete');
    expect((done.payment_intent as Stripe.PaymentIntent).status).toBe('succeeded');

    const other = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        { price_data: { currency: 'eur', unit_amount: 900, product_data: { name: 'x' } }, quantity: 1 },
      ],
    });
    const expired = await stripe.checkout.sessions.expire(other.id);
    expect(expired.status).toBe('expired');
    await fake.settled();
    expect(fake.lastEvents.at(-1)!.type).toBe('checkout.session.expired');
    const again = await stripe.checkout.sessions.expire(other.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });

  it('refunds partially, then the rest, and refuses to refund more', async () => {
    const pi = await paidIntent(5000);
    const partial = await stripe.refunds.create({
      payment_intent: pi.id,
      amount: 2000,
      reason: 'requested_by_customer',
    });
    expect(partial).toMatchObject({ amount: 2000, status: 'succeeded', payment_intent: pi.id });
    expect(partial.id).toMatch(/^re_/);

    const tooMuch = await stripe.refunds
      .create({ payment_intent: pi.id, amount: 3001 })
      .catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooMuch).toMatchObject({ code: 'amount_too_large', param: 'amount', statusCode: 400 });

    const rest = await stripe.refunds.create({ payment_intent: pi.id, metadata: { refund_id: 'ref_2' } });
    expect(rest.amount).toBe(3000);
    expect((await stripe.refunds.retrieve(rest.id)).metadata).toEqual({ refund_id: 'ref_2' });

    const over = await stripe.refunds.create({ payment_intent: pi.id, amount: 1 }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(over).toMatchObject({ code: 'charge_already_refunded', statusCode: 400 });

    const charge = await stripe.charges.retrieve(rest.charge as string);
    expect(charge).toMatchObject({ amount_refunded: 5000, refunded: true });

    // Refunds made through the API are announced by webhooks too — integrations must not count them twice.
    await fake.settled();
    expect(fake.lastEvents.filter((d) => d.type === 'charge.refunded')).toHaveLength(2);
  });

  it('starts refunds pending when told to, and reports their outcome later', async () => {
    const pi = await paidIntent(3000);
    fake.setRefundStatus('pending');
    const refund = await stripe.refunds.create({ payment_intent: pi.id });
    expect(refund.status).toBe('pending');
    const [updated, failed] = await fake.refundEvent(refund.id, 'failed');
    expect(updated!.type).toBe('refund.updated');
    expect(updated!.event!.data.previous_attributes).toEqual({ status: 'pending' });
    expect(failed!.type).toBe('refund.failed');
    // A failed refund gives the amount back.
    const retry = await stripe.refunds.create({ payment_intent: pi.id });
    expect(retry.amount).toBe(3000);
  });

  it('refuses refunds on a disputed charge', async () => {
    const pi = await paidIntent();
    const [created] = await fake.dispute(pi.id);
    expect(created!.type).toBe('charge.dispute.created');
    const err = await stripe.refunds.create({ payment_intent: pi.id }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'charge_disputed' });
  });
});

describe('fake Stripe webhooks', () => {
  it('signs webhooks so that stripe.webhooks.constructEvent verifies the raw body', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 4200,
      currency: 'eur',
      metadata: { order_id: 'ord_7' },
    });
    await fake.succeedPaymentIntent(pi.id);
    await fake.settled();

    const types = receiver.received.map((r) => JSON.parse(r.raw).type);
    expect(types).toEqual(['payment_intent.created', 'payment_intent.succeeded']);
    const { raw, header } = receiver.received[1]!;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const event = stripe.webhooks.constructEvent(raw, header, fake.webhookSecret);
    expect(event.type).toBe('payment_intent.succeeded');
    const object = event.data.object as Stripe.PaymentIntent;
    expect(object).toMatchObject({
      id: pi.id,
      status: 'succeeded',
      amount_received: 4200,
      metadata: { order_id: 'ord_7' },
    });
    expect(event).toMatchObject({ object: 'event', livemode: false, api_version: Stripe.API_VERSION });

    // Re-serialising the parsed body breaks the signature: receivers must verify the raw bytes.
    expect(() =>
      stripe.webhooks.constructEvent(JSON.stringify(JSON.parse(raw)), header, fake.webhookSecret),
    ).toThrow(Stripe.errors.StripeSignatureVerificationError);
  });

  it('redelivers, reorders and forges deliveries on request', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const [succeeded] = await fake.succeedPaymentIntent(pi.id, { amount: 999, currency: 'USD' });
    expect((succeeded!.event!.data.object as { amount: number; currency: string }).amount).toBe(999);

    const again = await fake.resend(succeeded!.eventId!);
    expect(again.raw).toBe(succeeded!.raw);
    expect(stripe.webhooks.constructEvent(again.raw, again.header, fake.webhookSecret).id).toBe(
      succeeded!.eventId,
    );

    const stale = await fake.resend(succeeded!.eventId!, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(() => stripe.webhooks.constructEvent(stale.raw, stale.header, fake.webhookSecret)).toThrow(
      /tolerance/,
    );

    const forged = await fake.resend(succeeded!.eventId!, { secret: 'whsec_attacker' });
    expect(() => stripe.webhooks.constructEvent(forged.raw, forged.header, fake.webhookSecret)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );

    const old = fake.createEvent('payment_intent.payment_failed', {
      ...fake.paymentIntents.get(pi.id)!,
      status: 'requires_payment_method',
    });
    const late = await fake.deliver(old);
    expect(late.status).toBe(200);
    expect(receiver.received.at(-1)!.raw).toBe(late.raw);

    receiver.status = 500;
    const refused = await fake.deliver('{"not":"an event"}', { header: 't=1,v1=00' });
    expect(refused).toMatchObject({ status: 500, event: { not: 'an event' }, header: 't=1,v1=00' });
  });

  it('records events without a webhook URL and serves them from /v1/events', async () => {
    fake.setWebhookUrl(null);
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const [failed] = await fake.failPaymentIntent(pi.id);
    expect(failed).toMatchObject({ url: null, status: null, type: 'payment_intent.payment_failed' });
    const event = await stripe.events.retrieve(failed!.eventId!);
    expect((event.data.object as Stripe.PaymentIntent).last_payment_error?.decline_code).toBe(
      'generic_decline',
    );
  });
});

describe('fake Stripe failure injection', () => {
  it('fails the next requests with the status asked for', async () => {
    fake.failNext(1, 500);
    const err = await stripe.paymentIntents
      .create({ amount: 1000, currency: 'eur' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(fake.paymentIntents.size).toBe(0);

    fake.failNext(1, 429);
    const limited = await stripe.paymentIntents
      .create({ amount: 1000, currency: 'eur' })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);

    expect((await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' })).status).toBe(
      'requires_payment_method',
    );
  });

  it('loses a response after the work is done; a retry with the same key replays it', async () => {
    const pi = await paidIntent(2000);
    fake.failNext(1, 503, { when: 'after', path: '/v1/refunds' });
    const lost = await stripe.refunds
      .create({ payment_intent: pi.id, amount: 500 }, { idempotencyKey: 'refund-ref_1' })
      .catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(Stripe.errors.StripeAPIError);
    const retried = await stripe.refunds.create(
      { payment_intent: pi.id, amount: 500 },
      { idempotencyKey: 'refund-ref_1' },
    );
    expect(retried.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.refunds.size).toBe(1);
  });

  it('drops the connection — and the SDK retries that once even with maxNetworkRetries 0', async () => {
    fake.failNext(1, 'disconnect', { when: 'after' });
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' });
    const posts = fake.requests.filter((r) => r.path === '/v1/payment_intents');
    expect(posts).toHaveLength(2);
    expect(posts[0]!.idempotencyKey).toBe(posts[1]!.idempotencyKey);
    expect(posts[1]!.replayed).toBe(true);
    expect(fake.paymentIntents.size).toBe(1);
    expect(fake.paymentIntents.has(pi.id)).toBe(true);
  });
});

describe('fake Stripe balance transactions and payouts', () => {
  const fee = (amount: number) => Math.round(amount * 0.029) + 30;

  it("books a payment's charge with Stripe's fee, readable from the PaymentIntent by expanding", async () => {
    const pi = await paidIntent(5000);
    const got = await stripe.paymentIntents.retrieve(pi.id, {
      expand: ['latest_charge.balance_transaction'],
    });
    const charge = got.latest_charge as Stripe.Charge;
    const txn = charge.balance_transaction as Stripe.BalanceTransaction;
    expect(txn.id).toMatch(/^txn_\w{24}$/);
    expect(txn).toMatchObject({
      object: 'balance_transaction',
      type: 'charge',
      reporting_category: 'charge',
      source: charge.id,
      amount: 5000,
      currency: 'eur',
      fee: 175, // 2.9% of 5000 = 145, + 30
      net: 4825,
      exchange_rate: null,
      status: 'pending',
      balance_type: 'payments',
    });
    expect(fee(5000)).toBe(txn.fee);
    expect(txn.fee_details).toEqual([
      {
        amount: 175,
        application: null,
        currency: 'eur',
        description: 'Stripe processing fees',
        type: 'stripe_fee',
      },
    ]);
    expect(txn.available_on).toBeGreaterThan(txn.created);
    expect(txn.available_on % 86_400).toBe(0);

    // The same object by id, from the charge, and with its source expanded.
    const byId = await stripe.balanceTransactions.retrieve(txn.id, { expand: ['source'] });
    expect((byId.source as Stripe.Charge).payment_intent).toBe(pi.id);
    const fromCharge = await stripe.charges.retrieve(charge.id, { expand: ['balance_transaction'] });
    expect((fromCharge.balance_transaction as Stripe.BalanceTransaction).net).toBe(4825);
    // Without expand it stays an id, as before.
    expect((await stripe.charges.retrieve(charge.id)).balance_transaction).toBe(txn.id);

    const bad = await stripe.paymentIntents
      .retrieve(pi.id, { expand: ['latest_charge.nope'] })
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ statusCode: 400, param: 'expand' });
    const missing = await stripe.balanceTransactions.retrieve('txn_nope').catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('takes the fee from the options or per charge, and makes funds available when told', async () => {
    fake.setBalanceOptions({ feeFor: (amount) => Math.round(amount * 0.015) + 25, availableAfterDays: 0 });
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' });
    await fake.succeedPaymentIntent(pi.id);
    const charge = fake.charges.get(fake.paymentIntents.get(pi.id)!.latest_charge!)!;
    expect(fake.balanceTransactions.get(charge.balance_transaction!)).toMatchObject({
      fee: 55,
      net: 1945,
      status: 'available',
    });

    fake.setBalanceOptions({ availableAfterDays: 2 });
    const other = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur' });
    await fake.succeedPaymentIntent(other.id, { fee: 0 });
    const txnId = fake.charges.get(fake.paymentIntents.get(other.id)!.latest_charge!)!.balance_transaction!;
    const txn = await stripe.balanceTransactions.retrieve(txnId);
    expect(txn).toMatchObject({ fee: 0, fee_details: [], net: 2000, status: 'pending' });
    fake.makeAvailable([txnId]);
    const now = await stripe.balanceTransactions.retrieve(txnId);
    expect(now.status).toBe('available');
    expect(now.available_on).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it("books refunds as negative transactions, and a failed refund's money coming back", async () => {
    const pi = await paidIntent(5000);
    const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 2000 });
    expect(refund.balance_transaction).toMatch(/^txn_/);
    const expanded = await stripe.refunds.retrieve(refund.id, { expand: ['balance_transaction'] });
    expect(expanded.balance_transaction).toMatchObject({
      type: 'refund',
      reporting_category: 'refund',
      source: refund.id,
      amount: -2000,
      fee: 0,
      net: -2000,
      currency: 'eur',
      exchange_rate: null,
    });

    fake.setRefundStatus('pending');
    const pending = await stripe.refunds.create({ payment_intent: pi.id, amount: 1000 });
    await fake.refundEvent(pending.id, 'failed');
    const failed = await stripe.refunds.retrieve(pending.id, { expand: ['failure_balance_transaction'] });
    expect(failed.failure_balance_transaction).toMatchObject({
      type: 'refund_failure',
      reporting_category: 'refund_failure',
      source: pending.id,
      amount: 1000,
      net: 1000,
    });

    const bySource = await stripe.balanceTransactions.list({ source: refund.id });
    expect(bySource.data.map((t) => t.id)).toEqual([refund.balance_transaction]);
  });

  it('settles in another currency with the exchange rate', async () => {
    const usd = await startFakeStripe({ settlementCurrency: 'eur', exchangeRate: 0.9 });
    try {
      const client = new Stripe(usd.secretKey, usd.config);
      const pi = await client.paymentIntents.create({ amount: 10000, currency: 'usd' });
      await usd.succeedPaymentIntent(pi.id);
      const charge = (
        await client.paymentIntents.retrieve(pi.id, { expand: ['latest_charge.balance_transaction'] })
      ).latest_charge as Stripe.Charge;
      expect(charge).toMatchObject({ amount: 10000, currency: 'usd' });
      expect(charge.balance_transaction).toMatchObject({
        amount: 9000,
        currency: 'eur',
        exchange_rate: 0.9,
        fee: fee(9000), // 291, on the settled amount
        net: 9000 - fee(9000),
        fee_details: [{ amount: 291, currency: 'eur', type: 'stripe_fee' }],
      });
      const refund = await client.refunds.create(
        { payment_intent: pi.id, amount: 3333 },
        { idempotencyKey: 'r1' },
      );
      const txn = await client.balanceTransactions.retrieve(refund.balance_transaction as string);
      expect(txn).toMatchObject({ amount: -3000, net: -3000, currency: 'eur', exchange_rate: 0.9 });

      // A charge already in the settlement currency is not converted.
      const eur = await usd.createCharge({ amount: 1000, currency: 'EUR' });
      expect(eur.balanceTransaction).toMatchObject({ amount: 1000, currency: 'eur', exchange_rate: null });
    } finally {
      await usd.close();
    }
  });

  it('lists newest first with filters and cursor pagination the SDK auto-paginates', async () => {
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { balanceTransaction } = await fake.createCharge({ amount: 1000 + i, currency: 'eur' });
      made.push(balanceTransaction.id);
    }
    const refund = await fake.refundOutOfBand(fake.balanceTransactions.get(made[0]!)!.source, 500);
    made.push(refund.balanceTransaction.id);

    const first = await stripe.balanceTransactions.list();
    expect(first).toMatchObject({ object: 'list', has_more: true, url: '/v1/balance_transactions' });
    expect(first.data).toHaveLength(10);
    expect(first.data[0]!.id).toBe(made.at(-1));

    const before = fake.requests.length;
    const all = await stripe.balanceTransactions.list({ limit: 5 }).autoPagingToArray({ limit: 100 });
    expect(all.map((t) => t.id)).toEqual([...made].reverse());
    const pages = fake.requests.slice(before).filter((r) => r.path === '/v1/balance_transactions');
    expect(pages.map((r) => r.query.starting_after ?? null)).toEqual([null, made[8], made[3]]);

    const seen: string[] = [];
    for await (const t of stripe.balanceTransactions.list({ type: 'charge', limit: 4 })) seen.push(t.id);
    expect(seen).toEqual(made.slice(0, 12).reverse());

    // Backwards from the oldest: still pages of the ones just newer, listed newest first.
    const back = await stripe.balanceTransactions.list({ ending_before: made[0], limit: 3 });
    expect(back.data.map((t) => t.id)).toEqual([made[3], made[2], made[1]]);
    expect(back.has_more).toBe(true);
    const backAll = await stripe.balanceTransactions
      .list({ ending_before: made[0], limit: 5 })
      .autoPagingToArray({ limit: 100 });
    expect(backAll.map((t) => t.id)).toEqual(made.slice(1));

    const created = fake.balanceTransactions.get(made[0]!)!.created;
    expect(
      (await stripe.balanceTransactions.list({ created: { gte: created, lte: created + 60 }, limit: 100 }))
        .data,
    ).toHaveLength(13);
    expect((await stripe.balanceTransactions.list({ created: { gt: created + 60 } })).data).toEqual([]);
    expect((await stripe.balanceTransactions.list({ type: 'refund' })).data.map((t) => t.id)).toEqual([
      refund.balanceTransaction.id,
    ]);

    const sourced = await stripe.balanceTransactions.list({ limit: 1, expand: ['data.source'] });
    expect((sourced.data[0]!.source as Stripe.Refund).object).toBe('refund');

    const tooMany = await stripe.balanceTransactions.list({ limit: 101 }).catch((e: unknown) => e);
    expect(tooMany).toMatchObject({ statusCode: 400, param: 'limit' });
    const unknownCursor = await stripe.balanceTransactions
      .list({ starting_after: 'txn_nope' })
      .catch((e: unknown) => e);
    expect(unknownCursor).toMatchObject({ statusCode: 400, code: 'resource_missing' });
  });

  it('pays out what is in the balance, and lists the transactions of a payout', async () => {
    const a = await paidIntent(5000);
    await paidIntent(3000);
    const refund = await stripe.refunds.create({ payment_intent: a.id, amount: 1000 });
    const txns = [...fake.balanceTransactions.values()];
    expect(txns.map((t) => t.type)).toEqual(['charge', 'charge', 'refund']);
    const expected = 5000 - fee(5000) + 3000 - fee(3000) - 1000;

    const { payout, deliveries } = await fake.createPayout();
    expect(deliveries).toEqual([]);
    expect(payout.id).toMatch(/^po_\w{24}$/);
    expect(payout).toMatchObject({
      object: 'payout',
      amount: expected,
      currency: 'eur',
      status: 'paid',
      automatic: true,
      failure_code: null,
      reconciliation_status: 'completed',
    });
    expect(payout.arrival_date).toBeGreaterThan(payout.created);

    const listed = await stripe.balanceTransactions
      .list({ payout: payout.id })
      .autoPagingToArray({ limit: 100 });
    expect(listed.map((t) => t.type).sort()).toEqual(['charge', 'charge', 'payout', 'refund']);
    expect(listed.filter((t) => t.type !== 'payout').every((t) => t.status === 'available')).toBe(true);
    const own = listed.find((t) => t.type === 'payout')!;
    expect(own).toMatchObject({
      id: payout.balance_transaction,
      amount: -expected,
      net: -expected,
      fee: 0,
      source: payout.id,
      reporting_category: 'payout',
    });
    // What a reconciliation adds up: the payout equals the nets of what it paid out.
    expect(listed.filter((t) => t.type !== 'payout').reduce((s, t) => s + t.net, 0)).toBe(payout.amount);
    expect(fake.payoutOf(refund.balance_transaction as string)?.id).toBe(payout.id);

    // Nothing is left to pay out; a later payment goes into the next payout only.
    await expect(fake.createPayout()).rejects.toThrow(/positive amount/);
    await paidIntent(2000);
    const next = await fake.createPayout({ amount: 1, arrivalDate: 1_900_000_000 });
    expect(next.payout).toMatchObject({ amount: 1, arrival_date: 1_900_000_000 }); // a deliberate mismatch
    expect(
      (await stripe.balanceTransactions.list({ payout: next.payout.id })).data.map((t) => t.type).sort(),
    ).toEqual(['charge', 'payout']);
    const unknown = await stripe.balanceTransactions.list({ payout: 'po_nope' }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'payout' });
  });

  it('lists and retrieves payouts, including failed ones whose money goes into the next payout', async () => {
    await paidIntent(5000);
    const paid = (await fake.createPayout()).payout;
    await paidIntent(4000);
    const failed = (await fake.createPayout({ status: 'failed', failureCode: 'account_closed' })).payout;
    expect(failed).toMatchObject({
      status: 'failed',
      failure_code: 'account_closed',
      failure_message: 'The bank account has been closed.',
    });
    const back = await stripe.balanceTransactions.retrieve(failed.failure_balance_transaction!);
    expect(back).toMatchObject({
      type: 'payout_failure',
      reporting_category: 'payout_reversal',
      amount: failed.amount,
    });
    const retry = (await fake.createPayout({ status: 'in_transit' })).payout;
    expect(retry.amount).toBe(failed.amount);
    expect(
      (await stripe.balanceTransactions.list({ payout: retry.id })).data.map((t) => t.type).sort(),
    ).toEqual(['payout', 'payout_failure']);

    const got = await stripe.payouts.retrieve(paid.id, { expand: ['balance_transaction'] });
    expect(got).toMatchObject({ id: paid.id, amount: 5000 - fee(5000), status: 'paid' });
    expect((got.balance_transaction as Stripe.BalanceTransaction).amount).toBe(-(5000 - fee(5000)));
    const missing = await stripe.payouts.retrieve('po_nope').catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing' });

    const all = await stripe.payouts.list();
    expect(all.data.map((p) => p.id)).toEqual([retry.id, failed.id, paid.id]);
    expect((await stripe.payouts.list({ status: 'failed' })).data.map((p) => p.id)).toEqual([failed.id]);
    expect(
      (await stripe.payouts.list({ created: { gte: paid.created } }).autoPagingToArray({ limit: 10 })).length,
    ).toBe(3);
    expect((await stripe.payouts.list({ created: { lt: paid.created } })).data).toEqual([]);
    const paged = await stripe.payouts.list({ limit: 1 }).autoPagingToArray({ limit: 10 });
    expect(paged.map((p) => p.id)).toEqual([retry.id, failed.id, paid.id]);

    await fake.settlePayout(retry.id, 'paid');
    expect((await stripe.payouts.retrieve(retry.id)).status).toBe('paid');
    expect(() => fake.settlePayout(retry.id, 'failed')).toThrow(/is paid/);
  });

  it('sends payout.paid and payout.failed, signed like every webhook', async () => {
    await paidIntent(5000);
    await fake.settled();
    receiver.received.length = 0;
    const { payout, deliveries } = await fake.createPayout({ deliver: true });
    expect(deliveries.map((d) => [d.type, d.status])).toEqual([['payout.paid', 200]]);
    const { raw, header } = receiver.received[0]!;
    const event = stripe.webhooks.constructEvent(raw, header, fake.webhookSecret);
    expect(event.type).toBe('payout.paid');
    expect(event.data.object).toMatchObject({ id: payout.id, object: 'payout', amount: payout.amount });

    await paidIntent(3000);
    const pending = (await fake.createPayout({ status: 'pending' })).payout;
    const [failed] = await fake.settlePayout(pending.id, 'failed', { failureCode: 'no_account' });
    const parsed = stripe.webhooks.constructEvent(failed!.raw, failed!.header, fake.webhookSecret);
    expect(parsed.type).toBe('payout.failed');
    expect(parsed.data.object).toMatchObject({
      id: pending.id,
      status: 'failed',
      failure_code: 'no_account',
    });
  });

  it('books disputes as adjustments, and a won dispute as their reversal', async () => {
    const pi = await paidIntent(5000);
    const [created] = await fake.dispute(pi.id);
    const dispute = created!.event!.data.object as Stripe.Dispute;
    expect(dispute.balance_transactions).toMatchObject([
      {
        type: 'adjustment',
        reporting_category: 'dispute',
        amount: -5000,
        fee: 1500,
        net: -6500,
        source: dispute.id,
      },
    ]);
    await fake.closeDispute(dispute.id, 'won');
    const closed = await stripe.disputes.retrieve(dispute.id);
    expect(closed.balance_transactions.map((t) => [t.reporting_category, t.amount, t.net])).toEqual([
      ['dispute', -5000, -6500],
      ['dispute_reversal', 5000, 5000],
    ]);
    expect((await stripe.balanceTransactions.list({ type: 'adjustment' })).data).toHaveLength(2);
  });

  it('makes charges and refunds out of band (no order, no webhook unless asked) that show in the lists', async () => {
    await fake.settled();
    const sent = fake.lastEvents.length;
    const { charge, paymentIntent, balanceTransaction } = await fake.createCharge({
      amount: 7000,
      currency: 'eur',
      metadata: { note: 'dashboard' },
    });
    expect(charge).toMatchObject({ status: 'succeeded', amount: 7000, metadata: { note: 'dashboard' } });
    expect(paymentIntent).toMatchObject({ status: 'succeeded', latest_charge: charge.id });
    expect(balanceTransaction).toMatchObject({ source: charge.id, amount: 7000, fee: fee(7000) });

    const { refund, balanceTransaction: refundTxn } = await fake.refundOutOfBand(charge.id, 2500);
    expect(refund).toMatchObject({ amount: 2500, charge: charge.id, payment_intent: paymentIntent.id });
    expect(refundTxn).toMatchObject({ source: refund.id, amount: -2500, type: 'refund' });
    expect((await stripe.charges.retrieve(charge.id)).amount_refunded).toBe(2500);
    await fake.settled();
    expect(fake.lastEvents.length).toBe(sent);

    const listed = await stripe.balanceTransactions.list();
    expect(listed.data.map((t) => t.id)).toEqual([refundTxn.id, balanceTransaction.id]);
    expect((await stripe.refunds.list({ charge: charge.id })).data.map((r) => r.id)).toEqual([refund.id]);

    // Asked to, they send what Stripe sends for such a payment and refund.
    const rest = await fake.refundOutOfBand(charge.id, undefined, { deliver: true });
    expect(rest.refund.amount).toBe(4500);
    expect(rest.deliveries.map((d) => d.type)).toEqual(['refund.created', 'charge.refunded']);
    const other = await fake.createCharge({ amount: 1000, currency: 'eur', deliver: true });
    expect(other.deliveries.map((d) => d.type)).toEqual(['payment_intent.succeeded']);
    await expect(fake.refundOutOfBand(charge.id, 1)).rejects.toThrow(/0 is refundable/);
  });
});
