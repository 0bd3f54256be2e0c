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
