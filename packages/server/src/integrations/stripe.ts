import Stripe from 'stripe';
import type { Config } from '../config.js';
import { ApiError } from '../http/errors.js';

/** What the selling code needs from an online payment provider. Stripe is the one we have. */
export interface PaymentProvider {
  readonly name: 'stripe';
  /** A PaymentIntent (or a hosted Checkout Session) for an order; safe to repeat for the same order. */
  createPayment(p: {
    orderId: string;
    amount: number;
    currency: string;
    email: string;
    description: string;
    checkout?: { successUrl: string; cancelUrl: string };
  }): Promise<{
    paymentIntentId: string | null;
    clientSecret: string | null;
    checkoutSessionId: string | null;
    checkoutUrl: string | null;
  }>;
  /** Refunds part or all of a payment; `refundId` makes repeats of one refund safe. */
  refund(p: { refundId: string; orderId: string; paymentIntentId: string; amount: number }): Promise<{
    id: string;
    status: 'pending' | 'succeeded' | 'failed';
  }>;
  /** Checks the signature on a webhook's raw body and parses it; throws a 400 ApiError if it is bad or stale. */
  parseWebhook(rawBody: Buffer, signature: string | undefined): Stripe.Event;
  /**
   * The balance transaction of a payment (its PaymentIntent's latest charge) or a refund: null while
   * there is none yet.
   */
  balanceOf(kind: 'payment' | 'refund', id: string): Promise<Balance | null>;
  /** The balance transactions a payout paid out (all pages), with what each came from. */
  payoutTransactions(payoutId: string): AsyncIterable<PayoutTransaction>;
  /** Every balance transaction created in [from, to) (all pages), with what each came from. */
  transactionsBetween(from: Date, to: Date): AsyncIterable<PayoutTransaction>;
}

/** One balance transaction of a payout, and what it came from (a charge's PaymentIntent, a refund). */
export interface PayoutTransaction {
  id: string;
  type: string;
  amount: number;
  fee: number;
  net: number;
  currency: string;
  source: string | null;
  paymentIntentId: string | null;
  refundId: string | null;
  /** A charge's own amount and currency (before conversion), and whether it is disputed. */
  charge: { amount: number; currency: string; disputed: boolean } | null;
}

/** What Stripe kept of a payment or refund, and what it pays out, in the settlement currency. */
export interface Balance {
  id: string;
  fee: number;
  net: number;
  currency: string;
  exchangeRate: number | null;
}

function balanceFrom(bt: string | Stripe.BalanceTransaction | null | undefined): Balance | null {
  if (!bt || typeof bt === 'string') return null;
  return {
    id: bt.id,
    fee: bt.fee,
    net: bt.net,
    currency: bt.currency,
    exchangeRate: bt.exchange_rate ?? null,
  };
}

/** Stripe through its real SDK. `STRIPE_API_URL` points it elsewhere (tests use a local fake). */
export class StripePayments implements PaymentProvider {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;

  constructor(
    private readonly config: Required<Pick<Config['stripe'], 'secretKey' | 'webhookSecret'>> & {
      apiUrl: string;
    },
  ) {
    const api = new URL(config.apiUrl);
    this.stripe = new Stripe(config.secretKey, {
      host: api.hostname,
      port: Number(api.port || (api.protocol === 'http:' ? 80 : 443)),
      protocol: api.protocol === 'http:' ? 'http' : 'https',
      // Our own idempotency keys make retries safe; the SDK's back-off stays short so a request
      // thread is not held for long.
      maxNetworkRetries: 1,
      timeout: 20_000,
      telemetry: false,
    });
  }

  async createPayment(p: Parameters<PaymentProvider['createPayment']>[0]) {
    const metadata = { order_id: p.orderId };
    // Derived from the order, so a retry after a lost answer finds the same PaymentIntent, not a second one.
    const idempotencyKey = `order-${p.orderId}`;
    try {
      if (p.checkout) {
        const session = await this.stripe.checkout.sessions.create(
          {
            mode: 'payment',
            customer_email: p.email,
            success_url: p.checkout.successUrl,
            cancel_url: p.checkout.cancelUrl,
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: p.currency.toLowerCase(),
                  unit_amount: p.amount,
                  product_data: { name: p.description },
                },
              },
            ],
            metadata,
            payment_intent_data: { metadata },
          },
          { idempotencyKey },
        );
        return {
          paymentIntentId: null,
          clientSecret: null,
          checkoutSessionId: session.id,
          checkoutUrl: session.url,
        };
      }
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: p.amount,
          currency: p.currency.toLowerCase(),
          receipt_email: p.email,
          description: p.description,
          metadata,
          automatic_payment_methods: { enabled: true },
        },
        { idempotencyKey },
      );
      return {
        paymentIntentId: intent.id,
        clientSecret: intent.client_secret,
        checkoutSessionId: null,
        checkoutUrl: null,
      };
    } catch (err) {
      throw providerError(err);
    }
  }

  async refund(p: Parameters<PaymentProvider['refund']>[0]) {
    try {
      const refund = await this.stripe.refunds.create(
        {
          payment_intent: p.paymentIntentId,
          amount: p.amount,
          metadata: { refund_id: p.refundId, order_id: p.orderId },
        },
        { idempotencyKey: `refund-${p.refundId}` },
      );
      const status =
        refund.status === 'succeeded'
          ? 'succeeded'
          : refund.status === 'failed' || refund.status === 'canceled'
            ? 'failed'
            : 'pending';
      return { id: refund.id, status } as const;
    } catch (err) {
      throw providerError(err);
    }
  }

  payoutTransactions(payoutId: string): AsyncIterable<PayoutTransaction> {
    return this.transactions({ payout: payoutId });
  }

  transactionsBetween(from: Date, to: Date): AsyncIterable<PayoutTransaction> {
    return this.transactions({
      created: { gte: Math.floor(from.getTime() / 1000), lt: Math.floor(to.getTime() / 1000) },
    });
  }

  private async *transactions(filter: Stripe.BalanceTransactionListParams): AsyncIterable<PayoutTransaction> {
    // The SDK pages through them (auto-pagination), 100 at a time, each with its source expanded.
    for await (const t of this.stripe.balanceTransactions.list({
      ...filter,
      limit: 100,
      expand: ['data.source'],
    })) {
      const source = t.source;
      const sourceId = typeof source === 'string' ? source : (source?.id ?? null);
      const charge =
        typeof source === 'object' && source?.object === 'charge' ? (source as Stripe.Charge) : null;
      const refund =
        typeof source === 'object' && source?.object === 'refund' ? (source as Stripe.Refund) : null;
      const intent = charge?.payment_intent ?? refund?.payment_intent;
      yield {
        id: t.id,
        type: t.type,
        amount: t.amount,
        fee: t.fee,
        net: t.net,
        currency: t.currency,
        source: sourceId,
        paymentIntentId: typeof intent === 'string' ? intent : (intent?.id ?? null),
        refundId: sourceId?.startsWith('re_') ? sourceId : null,
        charge: charge
          ? { amount: charge.amount, currency: charge.currency, disputed: charge.disputed }
          : null,
      };
    }
  }

  async balanceOf(kind: 'payment' | 'refund', id: string): Promise<Balance | null> {
    if (kind === 'payment') {
      const intent = await this.stripe.paymentIntents.retrieve(id, {
        expand: ['latest_charge.balance_transaction'],
      });
      const charge = intent.latest_charge;
      return typeof charge === 'object' && charge ? balanceFrom(charge.balance_transaction) : null;
    }
    const refund = await this.stripe.refunds.retrieve(id, { expand: ['balance_transaction'] });
    return balanceFrom(refund.balance_transaction);
  }

  parseWebhook(rawBody: Buffer, signature: string | undefined): Stripe.Event {
    if (!signature) throw new ApiError(400, 'invalid_signature', 'Missing Stripe-Signature header.');
    try {
      return this.stripe.webhooks.constructEvent(rawBody, signature, this.config.webhookSecret);
    } catch (err) {
      throw new ApiError(400, 'invalid_signature', `Webhook signature rejected: ${(err as Error).message}`);
    }
  }
}

/** Stripe refused (4xx: our request or the payment's state) or failed (network, 5xx: worth retrying). */
export class PaymentProviderError extends ApiError {
  constructor(
    readonly retryable: boolean,
    detail: string,
    readonly stripeCode?: string,
  ) {
    super(
      retryable ? 502 : 402,
      retryable ? 'payment_provider_unavailable' : 'payment_provider_refused',
      detail,
    );
  }
}

function providerError(err: unknown): PaymentProviderError {
  if (err instanceof Stripe.errors.StripeError) {
    const retryable =
      err instanceof Stripe.errors.StripeConnectionError ||
      err instanceof Stripe.errors.StripeAPIError ||
      err instanceof Stripe.errors.StripeRateLimitError ||
      (err.statusCode ?? 500) >= 500;
    return new PaymentProviderError(retryable, `Stripe: ${err.message}`, err.code);
  }
  return new PaymentProviderError(true, `Stripe could not be reached: ${(err as Error).message}`);
}

export function paymentProvider(config: Config): PaymentProvider | null {
  const { secretKey, webhookSecret, apiUrl } = config.stripe;
  return secretKey && webhookSecret ? new StripePayments({ secretKey, webhookSecret, apiUrl }) : null;
}
