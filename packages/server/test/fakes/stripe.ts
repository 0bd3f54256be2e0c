/**
 * A local stand-in for the Stripe API (api.stripe.com) and for Stripe's webhook sender, so the real `stripe` SDK is
 * tested without the internet (DESIGN.md principle 4, INTEGRATIONS.md "Stripe").
 *
 * Point the SDK at it with `new Stripe(fake.secretKey, fake.config)`, i.e.
 * `{ host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0, telemetry: false }`.
 *
 * What it imitates, and where it knowingly differs from Stripe, is said next to each part. In short:
 * - v1 wire format: form-encoded bodies with bracket nesting in, pretty-printed JSON out, `Request-Id` headers,
 *   `Authorization: Bearer sk_…`, errors as `{ error: { type, code, message, param, doc_url } }`.
 * - Idempotency keys (replay with `Idempotent-Replayed: true`, `idempotency_error` on reuse with other params).
 * - Payment intents, refunds, checkout sessions (mode=payment), charges, disputes and events, with the state rules
 *   an integration trips over (over-refunds, refunds of disputed charges, cancelling a succeeded intent, …).
 * - The money side (groundwork for reading fees and payouts and reconciling): balance transactions (`txn_…`) for
 *   every succeeded charge (type `charge`, Stripe-like fee 2.9% + 30 by default, `net`, optional settlement in
 *   another currency with `exchange_rate`), every refund (type `refund`, negative), refund failures
 *   (`refund_failure`), disputes (type `adjustment`, reporting category `dispute` / `dispute_reversal`) and payouts
 *   (`payout` / `payout_failure`); `GET /v1/balance_transactions[/:id]` and `GET /v1/payouts[/:id]` with Stripe's
 *   list filters and cursor pagination; nested `expand[]` such as `latest_charge.balance_transaction` and
 *   `data.source`. Payouts are made by tests (`createPayout`), as are "dashboard" charges and refunds that no order
 *   knows about (`createCharge`, `refundOutOfBand`). Where it differs: fees are one `stripe_fee` line (no separate
 *   tax or FX fee), the fee is computed on the settled amount, the exchange rate is fixed per fake, and balance
 *   transactions become `available` by the clock (`availableAfterDays`, default 2) or when a test says so
 *   (`makeAvailable`, `createPayout`) — no balance holds, reserves or payout schedules.
 * - Webhooks signed exactly like Stripe (`Stripe-Signature: t=…,v1=…`, signed by the SDK's own helper), sent as
 *   pretty-printed JSON, one attempt each, in order; tests drive duplicates, reordering and bad signatures.
 * Nothing here is a mock of the SDK: it is a real HTTP server on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

/** A parsed form body: Stripe's `a[b][0][c]=v` nesting, where all-numeric keys become arrays (as `qs` does). */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export type Metadata = Record<string, string>;

export type PaymentIntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'canceled'
  | 'succeeded';

export interface LastPaymentError {
  type: 'card_error';
  code: string;
  decline_code?: string;
  message: string;
  charge?: string;
  doc_url?: string;
}

export interface FakePaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  automatic_payment_methods: { enabled: boolean; allow_redirects?: string } | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
  capture_method: string;
  client_secret: string;
  confirmation_method: string;
  created: number;
  currency: string;
  customer: string | null;
  description: string | null;
  last_payment_error: LastPaymentError | null;
  latest_charge: string | null;
  livemode: false;
  metadata: Metadata;
  next_action: null;
  payment_method: string | null;
  payment_method_types: string[];
  receipt_email: string | null;
  statement_descriptor: string | null;
  statement_descriptor_suffix: string | null;
  status: PaymentIntentStatus;
}

export interface FakeCharge {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  balance_transaction: string | null;
  captured: boolean;
  created: number;
  currency: string;
  disputed: boolean;
  failure_code: string | null;
  failure_message: string | null;
  livemode: false;
  metadata: Metadata;
  paid: boolean;
  payment_intent: string;
  payment_method: string | null;
  refunded: boolean;
  status: 'succeeded' | 'failed' | 'pending';
}

export type RefundStatus = 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';

export interface FakeRefund {
  id: string;
  object: 'refund';
  amount: number;
  balance_transaction: string | null;
  charge: string;
  created: number;
  currency: string;
  /** Set when the refund failed: the `refund_failure` balance transaction that gave the money back. */
  failure_balance_transaction?: string;
  failure_reason?: string;
  metadata: Metadata;
  payment_intent: string;
  reason: string | null;
  receipt_number: null;
  status: RefundStatus;
}

export interface FakeCheckoutSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: string | null;
  customer_details: { email: string | null } | null;
  customer_email: string | null;
  expires_at: number;
  livemode: false;
  locale: string | null;
  metadata: Metadata;
  mode: 'payment';
  /** Null until the session completes, as in Stripe since API version 2022-08-01 (see `paymentIntentOf`). */
  payment_intent: string | null;
  payment_method_types: string[];
  payment_status: 'unpaid' | 'paid' | 'no_payment_required';
  status: 'open' | 'complete' | 'expired';
  success_url: string | null;
  ui_mode: 'hosted';
  url: string | null;
}

export interface FakeLineItem {
  id: string;
  object: 'item';
  amount_discount: number;
  amount_subtotal: number;
  amount_tax: number;
  amount_total: number;
  currency: string;
  description: string;
  metadata: Metadata;
  price: {
    id: string;
    object: 'price';
    currency: string;
    unit_amount: number;
    product: string;
    type: 'one_time';
  };
  quantity: number;
}

export interface FakeDispute {
  id: string;
  object: 'dispute';
  amount: number;
  /** The funds withdrawn (and, when won, reinstated), as full objects — as Stripe embeds them. */
  balance_transactions: FakeBalanceTransaction[];
  charge: string;
  created: number;
  currency: string;
  is_charge_refundable: boolean;
  livemode: false;
  metadata: Metadata;
  payment_intent: string;
  reason: string;
  status: 'needs_response' | 'under_review' | 'won' | 'lost';
}

export type BalanceTransactionType =
  | 'charge'
  | 'refund'
  | 'refund_failure'
  | 'adjustment'
  | 'payout'
  | 'payout_failure';

export interface FakeFeeDetail {
  amount: number;
  application: string | null;
  currency: string;
  description: string | null;
  type: 'stripe_fee' | 'application_fee' | 'tax';
}

/** https://docs.stripe.com/api/balance_transactions/object — amounts in the settlement currency, minor units. */
export interface FakeBalanceTransaction {
  id: string;
  object: 'balance_transaction';
  /** Gross, signed: positive for charges, negative for refunds, dispute withdrawals and payouts. */
  amount: number;
  /** Unix seconds (midnight UTC) when the funds become available. */
  available_on: number;
  balance_type: 'payments';
  created: number;
  currency: string;
  description: string | null;
  /** Presentment → settlement rate; null when the charge was in the settlement currency. */
  exchange_rate: number | null;
  fee: number;
  fee_details: FakeFeeDetail[];
  /** `amount - fee`. */
  net: number;
  reporting_category:
    | 'charge'
    | 'refund'
    | 'refund_failure'
    | 'dispute'
    | 'dispute_reversal'
    | 'payout'
    | 'payout_reversal';
  /** The charge, refund, dispute or payout id (expandable). */
  source: string;
  status: 'pending' | 'available';
  type: BalanceTransactionType;
}

export type PayoutStatus = 'pending' | 'in_transit' | 'paid' | 'failed' | 'canceled';

/** https://docs.stripe.com/api/payouts/object — an automatic payout to the (fake) bank account. */
export interface FakePayout {
  id: string;
  object: 'payout';
  amount: number;
  application_fee: null;
  application_fee_amount: null;
  arrival_date: number;
  automatic: boolean;
  /** The payout's own balance transaction (type `payout`, negative). */
  balance_transaction: string;
  created: number;
  currency: string;
  description: string | null;
  destination: string;
  /** For a failed payout: the `payout_failure` transaction that put the money back into the balance. */
  failure_balance_transaction: string | null;
  failure_code: string | null;
  failure_message: string | null;
  livemode: false;
  metadata: Metadata;
  method: 'standard' | 'instant';
  original_payout: null;
  payout_method: null;
  reconciliation_status: 'completed' | 'in_progress' | 'not_applicable';
  reversed_by: null;
  source_type: 'card';
  statement_descriptor: string | null;
  status: PayoutStatus;
  trace_id: null;
  type: 'bank_account';
}

/** How the fake books money. All optional; can be changed later with `setBalanceOptions`. */
export interface BalanceOptions {
  /**
   * Stripe's fee for a charge, in minor units of the settlement currency, given the settled amount. Default
   * `defaultStripeFee`: 2.9% + 30, rounded. A per-charge `fee` (on `succeedPaymentIntent`/`createCharge`) wins.
   */
  feeFor?: (amount: number, currency: string) => number;
  /** The account's balance currency. Default: each charge settles in its own currency (no conversion). */
  settlementCurrency?: string;
  /** Presentment → settlement rate when they differ (a number, or per pair). Default 1. */
  exchangeRate?: number | ((from: string, to: string) => number);
  /** Days until a transaction's funds are available (`available_on`, midnight UTC). Default 2; 0 = at once. */
  availableAfterDays?: number;
  /** Stripe's fee for a dispute, in minor units of the settlement currency. Default 1500. */
  disputeFee?: number;
  /**
   * Stripe's fee on a refund made through the API, in minor units of the settlement currency, given the refund's
   * settled (negative) amount. Default 0. Negative when Stripe gives part of the payment's fee back, as it
   * reports it then. A per-refund `fee` (on `refundOutOfBand`) wins.
   */
  refundFeeFor?: (amount: number, currency: string) => number;
}

export interface CreatePayoutOptions {
  /** Default: the sum of the included transactions' `net` (a different amount makes a mismatch). */
  amount?: number;
  /** Default: the settlement currency, else the currency of the oldest transaction not yet paid out. */
  currency?: string;
  /** Unix seconds. Default: midnight UTC two days after creation. */
  arrivalDate?: number;
  /** Default 'paid'. 'pending'/'in_transit' can be settled later with `settlePayout`. */
  status?: 'pending' | 'in_transit' | 'paid' | 'failed';
  /** For a failed payout. Default 'could_not_process'. */
  failureCode?: string;
  /** The transactions paid out. Default: every transaction in that currency not yet paid out (pending or not). */
  transactions?: string[];
  metadata?: Metadata;
  /** Send `payout.paid` / `payout.failed` (`payout.created` for pending/in_transit). Default false. */
  deliver?: boolean;
  /**
   * Default true. False: a manual payout (made in the Dashboard or by `POST /v1/payouts`), whose transactions
   * Stripe will not list by payout (`?payout=` answers 400, as Stripe does).
   */
  automatic?: boolean;
}

/** A Stripe event as sent to webhooks and served by `GET /v1/events/:id`. */
export interface FakeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: object; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** One webhook POST (or the record that there was no URL to post to). */
export interface WebhookDelivery {
  /** The event sent; null when a test delivered a raw payload that is not JSON. */
  event: FakeEvent | null;
  eventId: string | null;
  type: string | null;
  /** The exact bytes posted: what `constructEvent` must be given. */
  raw: string;
  /** The `Stripe-Signature` header sent. */
  header: string;
  /** Null when no webhook URL was set: the event is recorded but not posted. */
  url: string | null;
  /** The receiver's HTTP status, or null when nothing answered. */
  status: number | null;
  responseBody: string | null;
  error: string | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: FormObject;
  /** The parsed form body (POST) — what the SDK actually put on the wire. */
  body: FormObject;
  idempotencyKey: string | null;
  stripeVersion: string | null;
  requestId: string;
  /** The status the fake answered with (0 when the connection was dropped on purpose). */
  status: number;
  replayed: boolean;
  /** True when `failNext` decided this response. */
  injected: boolean;
}

export interface DeliverOptions {
  /** Send this `Stripe-Signature` verbatim instead of signing (tampered, stale or missing signatures). */
  header?: string;
  /** Sign with this unix time (seconds), e.g. ten minutes ago to test the 300 s tolerance. */
  timestamp?: number;
  /** Sign with another secret. */
  secret?: string;
  /** Post to this URL instead of the configured one. */
  url?: string;
}

export interface FailOptions {
  /**
   * 'before' (default): the request never reaches the API logic — nothing is created and nothing is stored
   * under its idempotency key, so a retry with the same key runs for real.
   * 'after': the request is executed (and its result stored under the key), but the caller gets the error:
   * a lost response. A retry with the same key replays the stored result.
   */
  when?: 'before' | 'after';
  /** Adds `Stripe-Should-Retry: true|false`, which the SDK obeys when it has retries left. */
  shouldRetry?: boolean;
  /** Only requests whose path starts with this are failed, e.g. '/v1/refunds'. */
  path?: string;
}

/** Also takes `BalanceOptions`: fees, settlement currency and exchange rate, availability. */
export interface StartFakeStripeOptions extends BalanceOptions {
  /** Where events are posted. Without it, events are only recorded in `lastEvents`. */
  webhookUrl?: string;
  webhookSecret?: string;
  secretKey?: string;
  /** Event types the webhook endpoint is subscribed to, as on a Stripe webhook endpoint. Default `['*']`. */
  enabledEvents?: string[];
  /** Status of newly created refunds (card refunds succeed at once in test mode; some methods stay pending). */
  refundStatus?: 'succeeded' | 'pending';
  /** How long a webhook receiver may take before the delivery counts as failed. Default 10 s. */
  webhookTimeoutMs?: number;
}

export interface FakeStripe {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly host: '127.0.0.1';
  readonly secretKey: string;
  readonly publishableKey: string;
  readonly webhookSecret: string;
  /** The SDK config that points `new Stripe(secretKey, config)` here. */
  readonly config: {
    host: '127.0.0.1';
    port: number;
    protocol: 'http';
    maxNetworkRetries: number;
    telemetry: false;
  };

  /** Every API request received, in order. */
  readonly requests: RecordedRequest[];
  readonly paymentIntents: Map<string, FakePaymentIntent>;
  readonly charges: Map<string, FakeCharge>;
  readonly refunds: Map<string, FakeRefund>;
  readonly checkoutSessions: Map<string, FakeCheckoutSession>;
  readonly disputes: Map<string, FakeDispute>;
  /** Every balance transaction, by id, oldest first. */
  readonly balanceTransactions: Map<string, FakeBalanceTransaction>;
  readonly payouts: Map<string, FakePayout>;
  /** Every event created (sent or not), by id. */
  readonly events: Map<string, FakeEvent>;
  /** Every webhook delivery attempt, in order, with its raw body and signature header. */
  readonly lastEvents: WebhookDelivery[];

  /** The payment intent behind a checkout session (Stripe only exposes it once the session completes). */
  paymentIntentOf(checkoutSessionId: string): FakePaymentIntent;

  /**
   * The customer paid: marks the intent succeeded with a charge and sends `payment_intent.succeeded`; for a
   * checkout session's intent also completes the session and sends `checkout.session.completed`.
   * `amount`/`currency` override what was paid (to test mismatches against the order); `fee` overrides Stripe's fee
   * on its balance transaction.
   */
  succeedPaymentIntent(
    id: string,
    opts?: {
      amount?: number;
      currency?: string;
      fee?: number;
      /** False: the charge has no balance transaction (`balance_transaction: null`), none is booked. */
      balanceTransaction?: boolean;
    },
  ): Promise<WebhookDelivery[]>;
  /** `succeedPaymentIntent` for the intent behind a checkout session. */
  completeCheckoutSession(
    id: string,
    opts?: { amount?: number; currency?: string; fee?: number },
  ): Promise<WebhookDelivery[]>;
  /** The card was declined: back to `requires_payment_method` with `last_payment_error`; `payment_intent.payment_failed`. */
  failPaymentIntent(
    id: string,
    opts?: { code?: string; declineCode?: string; message?: string },
  ): Promise<WebhookDelivery[]>;
  /** The session timed out: status `expired`; `checkout.session.expired`. */
  expireCheckoutSession(id: string): Promise<WebhookDelivery[]>;
  /** The cardholder disputed the charge: `charge.dispute.created` (and the charge becomes non-refundable). */
  dispute(paymentIntentId: string, opts?: { reason?: string; amount?: number }): Promise<WebhookDelivery[]>;
  /** The dispute was decided: `charge.dispute.closed`. */
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<WebhookDelivery[]>;
  /**
   * A refund changed status later (pending → succeeded/failed): `refund.updated`, plus `refund.failed` when it
   * failed (the amount becomes refundable again). `opts.type` sends that event type instead, e.g.
   * `'charge.refunded'` (its object is the charge).
   */
  refundEvent(refundId: string, status: RefundStatus, opts?: { type?: string }): Promise<WebhookDelivery[]>;
  /** Status of refunds created from now on. */
  setRefundStatus(status: 'succeeded' | 'pending'): void;

  /** Changes how money is booked from now on (merged into the current options; existing transactions stay). */
  setBalanceOptions(opts: BalanceOptions): void;
  /**
   * A payment made outside the integration (the Dashboard, another system): a succeeded payment intent and charge
   * with its balance transaction, tied to no order. No webhook unless `deliver` (then `payment_intent.succeeded`,
   * as for any payment).
   */
  createCharge(opts: {
    amount: number;
    currency: string;
    metadata?: Metadata;
    description?: string;
    fee?: number;
    deliver?: boolean;
  }): Promise<{
    paymentIntent: FakePaymentIntent;
    charge: FakeCharge;
    balanceTransaction: FakeBalanceTransaction;
    deliveries: WebhookDelivery[];
  }>;
  /**
   * A refund made in the Dashboard (default: the whole unrefunded amount), with its balance transaction and the
   * same checks as the API. Status as `setRefundStatus`. No webhook unless `deliver`; then what an API refund sends:
   * `refund.created` and `charge.refunded`.
   */
  refundOutOfBand(
    chargeId: string,
    amount?: number,
    opts?: { reason?: string; metadata?: Metadata; fee?: number; deliver?: boolean },
  ): Promise<{
    refund: FakeRefund;
    balanceTransaction: FakeBalanceTransaction;
    deliveries: WebhookDelivery[];
  }>;
  /**
   * Stripe paid out (or tried to pay out) the balance: a payout of the given transactions (default: all not yet paid
   * out in that currency), each marked with it and made available, plus the payout's own `payout` transaction
   * (negative). A failed payout also gets a `payout_failure` transaction (positive, not paid out: the next payout
   * takes it, as Stripe does).
   */
  createPayout(opts?: CreatePayoutOptions): Promise<{ payout: FakePayout; deliveries: WebhookDelivery[] }>;
  /** A pending/in-transit payout arrived or failed: `payout.paid` / `payout.failed` (`payout.updated` for in_transit) unless `deliver: false`. */
  settlePayout(
    payoutId: string,
    status: 'in_transit' | 'paid' | 'failed',
    opts?: { failureCode?: string; deliver?: boolean },
  ): Promise<WebhookDelivery[]>;
  /** The payout a balance transaction was paid out in, if any. */
  payoutOf(balanceTransactionId: string): FakePayout | null;
  /** Makes transactions (default: all) `available` now, as if their `available_on` had passed. */
  makeAvailable(balanceTransactionIds?: string[]): void;
  /** The next `n` API requests fail with `status` (500, 503, 429, 409, …) or a dropped connection. */
  failNext(n: number, status: number | 'disconnect', opts?: FailOptions): void;
  setWebhookUrl(url: string | null): void;

  /** Builds (and records) an event without sending it — for out-of-order or forged deliveries. */
  createEvent(type: string, object: object, previousAttributes?: Record<string, unknown>): FakeEvent;
  /** Posts an event (or any raw payload) to the webhook URL, signed unless `opts.header` is given. */
  deliver(event: FakeEvent | string, opts?: DeliverOptions): Promise<WebhookDelivery>;
  /** Delivers an already-sent event again, byte for byte, freshly signed (as Stripe's retries are). */
  resend(eventId: string, opts?: DeliverOptions): Promise<WebhookDelivery>;
  /** A `Stripe-Signature` header for `payload`, made by the SDK's `generateTestHeaderString`. */
  sign(payload: string, opts?: { timestamp?: number; secret?: string }): string;
  /** Resolves when every queued webhook delivery (including ones caused by API calls) has finished. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------------------------------

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** `a[b][0]` → `['a', 'b', '0']`; `a[]` → `['a', '']` (append). Malformed brackets are a plain key. */
function keyPath(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const rest = key.slice(open);
  const segments = [...rest.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1] ?? '');
  if (segments.map((s) => `[${s}]`).join('') !== rest) return [key];
  return [key.slice(0, open), ...segments];
}

function toArrays(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = toArrays(value[k]!);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => value[k]!);
  }
  return value;
}

/**
 * Parses a form body the way Stripe reads it. The SDK (its own encoder since 20.3, no longer `qs`) writes nested params as
 * `metadata[order_id]=…` and arrays as `line_items[0][quantity]=1`, leaving brackets unescaped; `null` becomes
 * `key=` (which is how Stripe unsets a metadata key).
 */
export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const path = keyPath(decodeComponent(eq < 0 ? pair : pair.slice(0, eq)));
    const value = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1));
    if (path.some((s) => FORBIDDEN_KEYS.has(s)) || path[0] === '') continue;
    let node = root;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i] === '' ? String(Object.keys(node).length) : path[i]!;
      if (i === path.length - 1) {
        node[segment] = value;
      } else {
        const next = node[segment];
        if (next === undefined || typeof next === 'string' || Array.isArray(next)) {
          const child: FormObject = {};
          node[segment] = child;
          node = child;
        } else {
          node = next;
        }
      }
    }
  }
  for (const k of Object.keys(root)) root[k] = toArrays(root[k]!);
  return root;
}

/** Parameters compared for idempotency regardless of the order they were written in. */
function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(',')}}`;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function random(length: number): string {
  let out = '';
  for (const b of randomBytes(length)) out += ALNUM[b % ALNUM.length];
  return out;
}
/** Stripe ids: a type prefix and 24 base-62 characters (`pi_3Q…`, `re_…`, `evt_…`). */
const newId = (prefix: string) => `${prefix}_${random(24)}`;
const now = () => Math.floor(Date.now() / 1000);

/** Stripe's error envelope. The SDK maps status → class: 400/404 invalid request (or idempotency), 401, 402 card, 429 rate limit, else API error. */
interface StripeErrorBody {
  type: 'invalid_request_error' | 'card_error' | 'api_error' | 'idempotency_error';
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: object;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
  ) {
    super(body.message);
  }
}

function invalid(message: string, extra: Partial<StripeErrorBody> = {}, status = 400): ApiError {
  const body: StripeErrorBody = { type: 'invalid_request_error', message, ...extra };
  if (body.code && !body.doc_url)
    body.doc_url = `https://stripe.com/docs/error-codes/${body.code.replace(/_/g, '-')}`;
  return new ApiError(status, body);
}

const missing = (param: string) =>
  invalid(`Missing required param: ${param}.`, { code: 'parameter_missing', param });

/** 404 for an id in the URL; 400 (same code) for an id given as a parameter — as Stripe answers. */
function noSuch(kind: string, id: string, param?: string): ApiError {
  return param
    ? invalid(`No such ${kind}: '${id}'`, { code: 'resource_missing', param })
    : invalid(`No such ${kind}: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
}

// ---------------------------------------------------------------------------------------------------------------
// Parameter readers (Stripe rejects unknown parameters, so a typo in the integration fails here as it would there)
// ---------------------------------------------------------------------------------------------------------------

// Top-level parameters as declared by the SDK's own *Params types (stripe 23.x).
const words = (s: string) => s.split(/\s+/);
const PI_CREATE = words(
  'amount currency allowed_payment_method_types amount_details application_fee_amount ' +
    'automatic_payment_methods capture_method confirm confirmation_method confirmation_token customer ' +
    'customer_account description error_on_requires_action excluded_payment_method_types expand hooks ' +
    'mandate mandate_data metadata off_session on_behalf_of payment_details payment_method ' +
    'payment_method_configuration payment_method_data payment_method_options payment_method_types ' +
    'radar_options receipt_email return_url setup_future_usage shipping statement_descriptor ' +
    'statement_descriptor_suffix transfer_data transfer_group use_stripe_sdk',
);
const PI_UPDATE = words(
  'amount currency customer description expand metadata payment_method payment_method_types ' +
    'receipt_email setup_future_usage shipping statement_descriptor statement_descriptor_suffix ' +
    'transfer_group',
);
const PI_CONFIRM = words(
  'capture_method error_on_requires_action expand mandate mandate_data off_session payment_method ' +
    'payment_method_data payment_method_options receipt_email return_url setup_future_usage shipping ' +
    'use_stripe_sdk',
);
const REFUND_CREATE = words(
  'amount charge currency customer expand instructions_email metadata origin payment_intent reason ' +
    'refund_application_fee reverse_transfer',
);
const SESSION_CREATE = words(
  'adaptive_pricing after_expiration allow_promotion_codes allowed_payment_method_types ' +
    'automatic_tax billing_address_collection branding_settings cancel_url client_reference_id ' +
    'consent_collection currency custom_fields custom_text customer customer_account ' +
    'customer_creation customer_email customer_update discounts excluded_payment_method_types expand ' +
    'expires_at integration_identifier invoice_creation line_items locale managed_payments metadata ' +
    'mode name_collection optional_items origin_context payment_intent_data payment_method_collection ' +
    'payment_method_configuration payment_method_data payment_method_options payment_method_types ' +
    'permissions phone_number_collection redirect_on_completion return_url ' +
    'saved_payment_method_options setup_intent_data shipping_address_collection shipping_options ' +
    'submit_type subscription_data success_url tax_id_collection ui_mode wallet_options',
);
const LINE_ITEM = words('adjustable_quantity metadata price price_data quantity tax_rates');
const PRICE_DATA = words(
  'currency product product_data recurring tax_behavior unit_amount unit_amount_decimal',
);
const PRODUCT_DATA = words('description images metadata name tax_code tax_details unit_label');
const PAYMENT_INTENT_DATA = words(
  'application_fee_amount capture_method description metadata on_behalf_of receipt_email ' +
    'setup_future_usage shipping statement_descriptor statement_descriptor_suffix transfer_data ' +
    'transfer_group',
);

function allowOnly(params: FormObject, allowed: readonly string[], prefix = ''): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) {
      const param = prefix ? `${prefix}[${key}]` : key;
      throw invalid(`Received unknown parameter: ${param}`, { code: 'parameter_unknown', param });
    }
  }
}

function str(params: FormObject, key: string, param = key): string | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`Invalid string: ${param}`, { param });
  return v;
}

function int(params: FormObject, key: string, param = key): number | undefined {
  const v = str(params, key, param);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v))
    throw invalid(`Invalid integer: ${v}`, { code: 'parameter_invalid_integer', param });
  return Number(v);
}

function bool(params: FormObject, key: string, param = key): boolean | undefined {
  const v = str(params, key, param);
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw invalid(`Invalid boolean: ${v}`, { param });
  return v === 'true';
}

function obj(params: FormObject, key: string, param = key): FormObject | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string' || Array.isArray(v)) throw invalid(`Invalid object`, { param });
  return v;
}

function list(params: FormObject, key: string, param = key): FormValue[] | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (!Array.isArray(v)) throw invalid(`Invalid array`, { param });
  return v;
}

function oneOf<T extends string>(params: FormObject, key: string, values: readonly T[]): T | undefined {
  const v = str(params, key);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    const choices = values.length > 1 ? `${values.slice(0, -1).join(', ')}, or ${values.at(-1)}` : values[0];
    throw invalid(`Invalid ${key}: must be one of ${choices}`, { param: key });
  }
  return v as T;
}

function currencyParam(params: FormObject, key: string, param = key): string | undefined {
  const v = str(params, key, param);
  if (v === undefined) return undefined;
  // Stripe accepts any case and answers in lower case — an integration comparing with 'EUR' must normalise.
  if (!/^[a-zA-Z]{3}$/.test(v)) throw invalid(`Invalid currency: ${v.toLowerCase()}.`, { param });
  return v.toLowerCase();
}

/** Stripe's per-currency minimum charge (in minor units); 50 covers eur/usd/chf/… and most others. */
const MINIMUM_AMOUNT: Record<string, number> = { gbp: 30, jpy: 50, huf: 17500, dkk: 250, nok: 300, sek: 300 };
const MAXIMUM_AMOUNT = 99_999_999;
const money = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency}`;

function checkAmount(amount: number, currency: string, param: string): void {
  const min = MINIMUM_AMOUNT[currency] ?? 50;
  if (amount < min) {
    throw invalid(`Amount must be at least ${money(min, currency)}`, { code: 'amount_too_small', param });
  }
  if (amount > MAXIMUM_AMOUNT) {
    throw invalid(`Amount must be no more than ${money(MAXIMUM_AMOUNT, currency)}`, {
      code: 'amount_too_large',
      param,
    });
  }
}

/** Stripe's standard card pricing, 2.9% + 30 minor units, rounded: the fake's default fee for a charge. */
export function defaultStripeFee(amount: number, _currency?: string): number {
  return Math.round(amount * 0.029) + 30;
}

/** `created=123` (exact) or `created[gte]=…&created[lt]=…`, as a predicate. */
function rangeParam(params: FormObject, key: string): ((value: number) => boolean) | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string') {
    const exact = int(params, key)!;
    return (x) => x === exact;
  }
  if (Array.isArray(v)) throw invalid('Invalid object', { param: key });
  allowOnly(v, ['gt', 'gte', 'lt', 'lte'], key);
  const gt = int(v, 'gt', `${key}[gt]`);
  const gte = int(v, 'gte', `${key}[gte]`);
  const lt = int(v, 'lt', `${key}[lt]`);
  const lte = int(v, 'lte', `${key}[lte]`);
  return (x) =>
    (gt === undefined || x > gt) &&
    (gte === undefined || x >= gte) &&
    (lt === undefined || x < lt) &&
    (lte === undefined || x <= lte);
}

interface ListPage<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/**
 * Stripe's cursor pagination over `all` (newest first): `limit` (1–100, default 10), `starting_after` (older than
 * that object) or `ending_before` (newer than it; still listed newest first, as the SDK's backwards auto-pagination
 * expects). The cursors must be objects of that kind; `keep` applies the list's filters.
 */
function paginate<T extends { id: string }>(
  all: T[],
  keep: (item: T) => boolean,
  params: FormObject,
  url: string,
  kind: string,
): ListPage<T> {
  const limit = int(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalid(
      limit < 1
        ? 'This value must be greater than or equal to 1.'
        : 'This value must be less than or equal to 100.',
      { code: 'parameter_invalid_integer', param: 'limit' },
    );
  }
  const after = str(params, 'starting_after');
  const before = str(params, 'ending_before');
  if (after && before) {
    throw invalid('You may only specify one of these parameters: ending_before, starting_after.', {
      param: 'ending_before',
    });
  }
  const position = (id: string, param: string) => {
    const i = all.findIndex((x) => x.id === id);
    if (i < 0) throw noSuch(kind, id, param);
    return i;
  };
  if (before) {
    const newer = all.slice(0, position(before, 'ending_before')).filter(keep);
    return {
      object: 'list',
      data: newer.slice(Math.max(0, newer.length - limit)),
      has_more: newer.length > limit,
      url,
    };
  }
  const rest = (after ? all.slice(position(after, 'starting_after') + 1) : all).filter(keep);
  return { object: 'list', data: rest.slice(0, limit), has_more: rest.length > limit, url };
}

/** Stripe's payout failure codes (https://docs.stripe.com/api/payouts/failures) and their messages. */
const PAYOUT_FAILURES: Record<string, string> = {
  account_closed: 'The bank account has been closed.',
  account_frozen: 'The bank account has been frozen.',
  bank_account_restricted:
    'The bank account has restrictions on either the type, or the number, of payouts allowed.',
  could_not_process: 'The bank could not process this payout.',
  insufficient_funds: 'Your Stripe account has insufficient funds to cover the payout.',
  invalid_account_number: 'The routing number seems correct, but the account number is invalid.',
  no_account:
    'The bank account details on file are probably incorrect. No bank account could be located with those details.',
};

/**
 * Stripe metadata: up to 50 keys, keys ≤ 40 characters, values ≤ 500 characters, all strings. On update a key set
 * to '' is removed, and `metadata=''` clears everything.
 */
function metadataParam(
  params: FormObject,
  key: string,
  current: Metadata = {},
  param = key,
): Metadata | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (v === '') return {};
  if (typeof v === 'string' || Array.isArray(v)) throw invalid('Invalid object', { param });
  const out: Metadata = { ...current };
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string')
      throw invalid(`Invalid value for metadata key '${k}'`, { param: `${param}[${k}]` });
    if (k.length > 40)
      throw invalid(`Metadata keys can have up to 40 characters.`, { param: `${param}[${k}]` });
    if (value.length > 500) {
      throw invalid(
        `Metadata values can have up to 500 characters, but you passed in a value that is ${value.length} characters.`,
        {
          param: `${param}[${k}]`,
        },
      );
    }
    if (value === '') delete out[k];
    else out[k] = value;
  }
  if (Object.keys(out).length > 50) throw invalid('You can have up to 50 metadata keys.', { param });
  return out;
}

function urlParam(params: FormObject, key: string): string | undefined {
  const v = str(params, key);
  if (v === undefined) return undefined;
  try {
    new URL(v);
  } catch {
    throw invalid('Not a valid URL', { code: 'url_invalid', param: key });
  }
  return v;
}

// Stripe's documented test payment methods: `pm_card_visa` succeeds, `pm_card_visa_chargeDeclined…` declines.
const DECLINES: Record<string, { code: string; decline_code: string; message: string }> = {
  '': { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  InsufficientFunds: {
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  LostCard: { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' },
  StolenCard: { code: 'card_declined', decline_code: 'stolen_card', message: 'Your card was declined.' },
  Fraudulent: { code: 'card_declined', decline_code: 'fraudulent', message: 'Your card was declined.' },
  ExpiredCard: { code: 'expired_card', decline_code: 'expired_card', message: 'Your card has expired.' },
  IncorrectCvc: {
    code: 'incorrect_cvc',
    decline_code: 'incorrect_cvc',
    message: "Your card's security code is incorrect.",
  },
  ProcessingError: {
    code: 'processing_error',
    decline_code: 'processing_error',
    message: 'An error occurred while processing your card. Try again in a little bit.',
  },
};

function declineFor(paymentMethod: string) {
  const m = /chargeDeclined(\w*)$/.exec(paymentMethod);
  if (!m) return null;
  return DECLINES[m[1] ?? ''] ?? DECLINES['']!;
}

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

interface Call {
  method: string;
  params: FormObject;
  requestId: string;
  idempotencyKey: string | null;
  /** Events the call caused; sent after the response, as Stripe does. */
  emitted: FakeEvent[];
}

interface StoredResult {
  method: string;
  path: string;
  params: string;
  status: number;
  body: string;
  requestId: string;
}

interface FailureRule {
  remaining: number;
  status: number | 'disconnect';
  when: 'before' | 'after';
  shouldRetry: boolean | undefined;
  path: string | undefined;
}

type Handler = (call: Call, id: string) => object;

const MAX_BODY = 1024 * 1024;

export async function startFakeStripe(opts: StartFakeStripeOptions = {}): Promise<FakeStripe> {
  const secretKey = opts.secretKey ?? `sk_test_fake${random(24)}`;
  const publishableKey = `pk_test_fake${random(24)}`;
  const webhookSecret = opts.webhookSecret ?? `whsec_${random(32)}`;
  const enabledEvents = opts.enabledEvents ?? ['*'];
  const webhookTimeoutMs = opts.webhookTimeoutMs ?? 10_000;
  let webhookUrl: string | null = opts.webhookUrl ?? null;
  let refundStatus: 'succeeded' | 'pending' = opts.refundStatus ?? 'succeeded';

  const requests: RecordedRequest[] = [];
  const paymentIntents = new Map<string, FakePaymentIntent>();
  const charges = new Map<string, FakeCharge>();
  const refunds = new Map<string, FakeRefund>();
  const checkoutSessions = new Map<string, FakeCheckoutSession>();
  const lineItems = new Map<string, FakeLineItem[]>();
  const sessionIntent = new Map<string, string>();
  const intentSession = new Map<string, string>();
  const disputes = new Map<string, FakeDispute>();
  const balanceTransactions = new Map<string, FakeBalanceTransaction>();
  const payouts = new Map<string, FakePayout>();
  /** Balance transaction id → the payout it was paid out in (Stripe keeps this off the object; `?payout=` reads it). */
  const txnPayout = new Map<string, string>();
  const bankAccount = newId('ba');
  const balance: BalanceOptions = {};
  const setBalance = (o: BalanceOptions) => {
    for (const key of [
      'feeFor',
      'settlementCurrency',
      'exchangeRate',
      'availableAfterDays',
      'disputeFee',
      'refundFeeFor',
    ] as const) {
      if (o[key] !== undefined) Object.assign(balance, { [key]: o[key] });
    }
  };
  setBalance(opts);
  const events = new Map<string, FakeEvent>();
  const eventRaw = new Map<string, string>();
  const lastEvents: WebhookDelivery[] = [];
  const idempotency = new Map<string, StoredResult>();
  const failures: FailureRule[] = [];
  const inFlight = new Set<AbortController>();
  let deliveries: Promise<unknown> = Promise.resolve();
  let baseUrl = '';
  let closed = false;

  // --- events and webhooks ----------------------------------------------------------------------------------

  function createEvent(
    type: string,
    object: object,
    previousAttributes?: Record<string, unknown>,
    call?: Call,
  ): FakeEvent {
    const event: FakeEvent = {
      id: newId('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      // A snapshot: the event carries the object as it was when the event happened.
      data: previousAttributes
        ? { object: structuredClone(object), previous_attributes: previousAttributes }
        : { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: call?.requestId ?? null, idempotency_key: call?.idempotencyKey ?? null },
      type,
    };
    events.set(event.id, event);
    // Stripe posts pretty-printed JSON; a receiver that re-serialises the parsed body breaks the signature.
    eventRaw.set(event.id, JSON.stringify(event, null, 2));
    return event;
  }

  const subscribed = (type: string) =>
    enabledEvents.includes('*') ||
    enabledEvents.includes(type) ||
    enabledEvents.some((e) => e.endsWith('.*') && type.startsWith(e.slice(0, -1)));

  function sign(payload: string, o: { timestamp?: number; secret?: string } = {}): string {
    return Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: o.secret ?? webhookSecret,
      ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
    });
  }

  async function post(raw: string, header: string, url: string | null): Promise<WebhookDelivery> {
    let event: FakeEvent | null = null;
    try {
      event = JSON.parse(raw) as FakeEvent;
    } catch {}
    const delivery: WebhookDelivery = {
      event,
      eventId: typeof event?.id === 'string' ? event.id : null,
      type: typeof event?.type === 'string' ? event.type : null,
      raw,
      header,
      url,
      status: null,
      responseBody: null,
      error: null,
    };
    lastEvents.push(delivery);
    if (!url) return delivery;
    if (closed) {
      delivery.error = 'fake Stripe closed before delivery';
      return delivery;
    }
    const abort = new AbortController();
    inFlight.add(abort);
    const timer = setTimeout(
      () => abort.abort(new Error(`webhook timed out after ${webhookTimeoutMs} ms`)),
      webhookTimeoutMs,
    );
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Stripe-Signature': header,
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Cache-Control': 'no-cache',
          Accept: '*/*; q=0.5, application/xml',
        },
        body: raw,
        signal: abort.signal,
      });
      delivery.status = res.status;
      delivery.responseBody = await res.text();
    } catch (err) {
      delivery.error =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    } finally {
      clearTimeout(timer);
      inFlight.delete(abort);
    }
    return delivery;
  }

  /** All deliveries go through one queue, so events arrive in the order they happened. */
  function enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = deliveries.then(task);
    deliveries = result.catch(() => undefined);
    return result;
  }

  function deliver(event: FakeEvent | string, o: DeliverOptions = {}): Promise<WebhookDelivery> {
    const raw =
      typeof event === 'string' ? event : (eventRaw.get(event.id) ?? JSON.stringify(event, null, 2));
    return enqueue(() => {
      const header = o.header ?? sign(raw, o);
      return post(raw, header, o.url ?? webhookUrl);
    });
  }

  /** Sends the events a change caused, to the endpoint if it subscribes to them. */
  function send(list: FakeEvent[]): Promise<WebhookDelivery[]> {
    // Queued at once (the queue keeps them in order), so `settled()` sees them all.
    return Promise.all(list.filter((e) => subscribed(e.type)).map((e) => deliver(e)));
  }

  // --- balance: transactions and payouts ------------------------------------------------------------------------

  const DAY = 86_400;
  const midnight = (t: number) => Math.floor(t / DAY) * DAY;

  /** An amount in the presentment currency, in the balance's currency (a fixed rate; rounded half away from 0). */
  function settle(
    amount: number,
    currency: string,
  ): { amount: number; currency: string; rate: number | null } {
    const to = balance.settlementCurrency?.toLowerCase();
    if (!to || to === currency) return { amount, currency, rate: null };
    const rate =
      typeof balance.exchangeRate === 'function'
        ? balance.exchangeRate(currency, to)
        : (balance.exchangeRate ?? 1);
    return { amount: Math.sign(amount) * Math.round(Math.abs(amount) * rate), currency: to, rate };
  }

  function newTxn(p: {
    id?: string;
    type: BalanceTransactionType;
    category: FakeBalanceTransaction['reporting_category'];
    source: string;
    /** Already in the settlement currency. */
    amount: number;
    currency: string;
    rate: number | null;
    fee: number;
    feeDescription?: string;
    description: string | null;
    /** Payouts and their failures move available funds: available at once. */
    availableNow?: boolean;
  }): FakeBalanceTransaction {
    const created = now();
    const availableOn = p.availableNow
      ? created
      : midnight(created + (balance.availableAfterDays ?? 2) * DAY);
    const txn: FakeBalanceTransaction = {
      id: p.id ?? newId('txn'),
      object: 'balance_transaction',
      amount: p.amount,
      available_on: availableOn,
      balance_type: 'payments',
      created,
      currency: p.currency,
      description: p.description,
      exchange_rate: p.rate,
      fee: p.fee,
      fee_details:
        p.fee === 0
          ? []
          : [
              {
                amount: p.fee,
                application: null,
                currency: p.currency,
                description: p.feeDescription ?? 'Stripe processing fees',
                type: 'stripe_fee',
              },
            ],
      net: p.amount - p.fee,
      reporting_category: p.category,
      source: p.source,
      status: availableOn <= created ? 'available' : 'pending',
      type: p.type,
    };
    balanceTransactions.set(txn.id, txn);
    return txn;
  }

  /** The charge's `balance_transaction` id (set when it succeeded) becomes a real transaction. */
  function bookCharge(charge: FakeCharge, description: string | null, fee?: number): FakeBalanceTransaction {
    const s = settle(charge.amount, charge.currency);
    return newTxn({
      id: charge.balance_transaction ?? undefined,
      type: 'charge',
      category: 'charge',
      source: charge.id,
      amount: s.amount,
      currency: s.currency,
      rate: s.rate,
      fee: fee ?? (balance.feeFor ?? defaultStripeFee)(s.amount, s.currency),
      description,
    });
  }

  /** Stripe books a refund when it is created (pending ones too); a failure is booked back separately. */
  function bookRefund(refund: FakeRefund, fee?: number): FakeBalanceTransaction {
    const s = settle(-refund.amount, refund.currency);
    return newTxn({
      id: refund.balance_transaction ?? undefined,
      type: 'refund',
      category: 'refund',
      source: refund.id,
      amount: s.amount,
      currency: s.currency,
      rate: s.rate,
      fee: fee ?? balance.refundFeeFor?.(s.amount, s.currency) ?? 0,
      feeDescription: 'Stripe refund fees',
      description: 'REFUND FOR CHARGE',
    });
  }

  function bookRefundFailure(refund: FakeRefund): void {
    if (refund.failure_balance_transaction) return;
    const original = refund.balance_transaction
      ? balanceTransactions.get(refund.balance_transaction)
      : undefined;
    const s = original
      ? { amount: -original.amount, currency: original.currency, rate: original.exchange_rate }
      : settle(refund.amount, refund.currency);
    refund.failure_balance_transaction = newTxn({
      type: 'refund_failure',
      category: 'refund_failure',
      source: refund.id,
      amount: s.amount,
      currency: s.currency,
      rate: s.rate,
      fee: 0,
      description: 'REFUND FAILURE',
    }).id;
  }

  /** Pending transactions whose `available_on` has passed become available (checked on every request). */
  function refreshBalance(): void {
    const t = now();
    for (const txn of balanceTransactions.values()) {
      if (txn.status === 'pending' && txn.available_on <= t) txn.status = 'available';
    }
  }

  function makeTxnAvailable(txn: FakeBalanceTransaction): void {
    txn.status = 'available';
    txn.available_on = Math.min(txn.available_on, now());
  }

  function failPayout(po: FakePayout, code = 'could_not_process'): void {
    po.status = 'failed';
    po.failure_code = code;
    po.failure_message = PAYOUT_FAILURES[code] ?? 'The payout failed.';
    po.reconciliation_status = 'not_applicable';
    // The money comes back into the balance; that transaction is not part of this payout, so the next one takes it.
    po.failure_balance_transaction = newTxn({
      type: 'payout_failure',
      category: 'payout_reversal',
      source: po.id,
      amount: po.amount,
      currency: po.currency,
      rate: null,
      fee: 0,
      description: 'STRIPE PAYOUT FAILURE',
      availableNow: true,
    }).id;
  }

  const PAYOUT_EVENTS: Record<PayoutStatus, string> = {
    pending: 'payout.created',
    in_transit: 'payout.updated',
    paid: 'payout.paid',
    failed: 'payout.failed',
    canceled: 'payout.canceled',
  };

  // --- objects --------------------------------------------------------------------------------------------------

  function findIntent(id: string, param?: string): FakePaymentIntent {
    const pi = paymentIntents.get(id);
    if (!pi) throw noSuch('payment_intent', id, param);
    return pi;
  }

  function newIntent(p: {
    amount: number;
    currency: string;
    metadata: Metadata;
    description: string | null;
    receiptEmail: string | null;
    automatic: { enabled: boolean; allow_redirects?: string } | null;
    paymentMethodTypes: string[];
    customer: string | null;
  }): FakePaymentIntent {
    const id = newId('pi');
    const pi: FakePaymentIntent = {
      id,
      object: 'payment_intent',
      amount: p.amount,
      amount_capturable: 0,
      amount_received: 0,
      automatic_payment_methods: p.automatic,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: 'automatic_async',
      client_secret: `${id}_secret_${random(25)}`,
      confirmation_method: 'automatic',
      created: now(),
      currency: p.currency,
      customer: p.customer,
      description: p.description,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: p.metadata,
      next_action: null,
      payment_method: null,
      payment_method_types: p.paymentMethodTypes,
      receipt_email: p.receiptEmail,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: 'requires_payment_method',
    };
    paymentIntents.set(id, pi);
    return pi;
  }

  function newCharge(
    pi: FakePaymentIntent,
    status: FakeCharge['status'],
    paymentMethod: string,
    fee?: number,
    book = true,
  ): FakeCharge {
    const charge: FakeCharge = {
      id: newId('ch'),
      object: 'charge',
      amount: pi.amount,
      amount_captured: status === 'succeeded' ? pi.amount : 0,
      amount_refunded: 0,
      balance_transaction: status === 'succeeded' && book ? newId('txn') : null,
      captured: status === 'succeeded',
      created: now(),
      currency: pi.currency,
      disputed: false,
      failure_code: null,
      failure_message: null,
      livemode: false,
      metadata: { ...pi.metadata },
      paid: status === 'succeeded',
      payment_intent: pi.id,
      payment_method: paymentMethod,
      refunded: false,
      status,
    };
    charges.set(charge.id, charge);
    if (status === 'succeeded' && book) bookCharge(charge, pi.description, fee);
    return charge;
  }

  /** Payment succeeded: a charge, `payment_intent.succeeded`, and for Checkout `checkout.session.completed`. */
  function succeed(
    pi: FakePaymentIntent,
    paymentMethod: string,
    call?: Call,
    fee?: number,
    book = true,
  ): FakeEvent[] {
    const charge = newCharge(pi, 'succeeded', paymentMethod, fee, book);
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.latest_charge = charge.id;
    pi.payment_method = paymentMethod;
    pi.last_payment_error = null;
    const out = [createEvent('payment_intent.succeeded', pi, undefined, call)];
    const sessionId = intentSession.get(pi.id);
    const session = sessionId ? checkoutSessions.get(sessionId) : undefined;
    if (session && session.status === 'open') {
      session.status = 'complete';
      session.payment_status = 'paid';
      session.payment_intent = pi.id;
      session.amount_total = pi.amount;
      session.amount_subtotal = pi.amount;
      session.currency = pi.currency;
      session.customer_details = { email: session.customer_email };
      session.url = null;
      out.push(createEvent('checkout.session.completed', session, undefined, call));
    }
    return out;
  }

  function decline(
    pi: FakePaymentIntent,
    paymentMethod: string,
    reason: { code: string; decline_code?: string; message: string },
    call?: Call,
  ): FakeEvent[] {
    const charge = newCharge(pi, 'failed', paymentMethod);
    charge.failure_code = reason.code;
    charge.failure_message = reason.message;
    pi.status = 'requires_payment_method';
    pi.latest_charge = charge.id;
    pi.payment_method = null;
    pi.last_payment_error = {
      type: 'card_error',
      code: reason.code,
      ...(reason.decline_code ? { decline_code: reason.decline_code } : {}),
      message: reason.message,
      charge: charge.id,
      doc_url: `https://stripe.com/docs/error-codes/${reason.code.replace(/_/g, '-')}`,
    };
    return [createEvent('payment_intent.payment_failed', pi, undefined, call)];
  }

  function confirm(call: Call, pi: FakePaymentIntent, paymentMethod: string | undefined): void {
    if (pi.status !== 'requires_payment_method' && pi.status !== 'requires_confirmation') {
      throw invalid(
        `This PaymentIntent's status is ${pi.status}, but must be one of requires_payment_method or requires_confirmation to be confirmed.`,
        { code: 'payment_intent_unexpected_state', payment_intent: structuredClone(pi) },
      );
    }
    if (!paymentMethod) throw missing('payment_method');
    const reason = declineFor(paymentMethod);
    if (reason) {
      call.emitted.push(...decline(pi, paymentMethod, reason, call));
      // A decline is a 402 card_error that carries the (now failed) intent.
      throw new ApiError(402, { ...pi.last_payment_error!, payment_intent: structuredClone(pi) });
    }
    call.emitted.push(...succeed(pi, paymentMethod, call));
  }

  /**
   * `expand[]=latest_charge` and friends: replaces an id field by the object. Dotted paths go deeper, e.g.
   * `latest_charge.balance_transaction` (Stripe allows up to four levels).
   */
  function expand(object: object, params: FormObject): object {
    const paths = list(params, 'expand');
    const copy = structuredClone(object) as Record<string, unknown>;
    for (const p of paths ?? []) {
      if (typeof p === 'string' && p.includes('.')) {
        expandPath(copy, p.split('.'), p);
        continue;
      }
      const value = typeof p === 'string' ? copy[p] : undefined;
      const target = typeof value === 'string' ? lookup(value) : undefined;
      if (typeof p !== 'string' || !(p in copy) || (value !== null && !target)) {
        throw invalid(`This property cannot be expanded (${String(p)}).`, { param: 'expand' });
      }
      if (target) copy[p] = structuredClone(target);
    }
    return copy;
  }

  function expandPath(node: Record<string, unknown>, segments: string[], path: string): void {
    const cannot = () => invalid(`This property cannot be expanded (${path}).`, { param: 'expand' });
    const [head, ...rest] = segments;
    if (segments.length > 4 || !head || !(head in node)) throw cannot();
    let value = node[head];
    if (typeof value === 'string') {
      const target = lookup(value);
      if (!target) throw cannot();
      value = structuredClone(target);
      node[head] = value;
    }
    if (value === null || rest.length === 0) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw cannot();
    expandPath(value as Record<string, unknown>, rest, path);
  }

  /** `expand[]=data.source` on a list: expands each item. */
  function expandList<T extends object>(page: ListPage<T>, params: FormObject): object {
    const paths = (list(params, 'expand') ?? []).map((p) => {
      if (typeof p !== 'string' || !p.startsWith('data.')) {
        throw invalid(`This property cannot be expanded (${String(p)}).`, { param: 'expand' });
      }
      return p;
    });
    if (paths.length === 0) return page;
    const data = page.data.map((item) => {
      const copy = structuredClone(item) as Record<string, unknown>;
      for (const p of paths) expandPath(copy, p.slice(5).split('.'), p);
      return copy;
    });
    return { ...page, data };
  }

  function lookup(id: string): object | undefined {
    return (
      paymentIntents.get(id) ??
      charges.get(id) ??
      refunds.get(id) ??
      checkoutSessions.get(id) ??
      disputes.get(id) ??
      events.get(id) ??
      balanceTransactions.get(id) ??
      payouts.get(id)
    );
  }

  // --- endpoints --------------------------------------------------------------------------------------------

  const createPaymentIntent: Handler = (call) => {
    const p = call.params;
    allowOnly(p, PI_CREATE);
    const amount = int(p, 'amount');
    if (amount === undefined) throw missing('amount');
    const currency = currencyParam(p, 'currency');
    if (currency === undefined) throw missing('currency');
    checkAmount(amount, currency, 'amount');
    const automaticParam = obj(p, 'automatic_payment_methods');
    const types = list(p, 'payment_method_types');
    if (automaticParam && types) {
      throw invalid(
        'You may only specify one of these parameters: automatic_payment_methods, payment_method_types.',
        { param: 'automatic_payment_methods' },
      );
    }
    let automatic: FakePaymentIntent['automatic_payment_methods'] = null;
    if (automaticParam) {
      allowOnly(automaticParam, ['enabled', 'allow_redirects'], 'automatic_payment_methods');
      const enabled = bool(automaticParam, 'enabled', 'automatic_payment_methods[enabled]');
      if (enabled === undefined) throw missing('automatic_payment_methods[enabled]');
      const redirects = str(automaticParam, 'allow_redirects', 'automatic_payment_methods[allow_redirects]');
      automatic = redirects ? { enabled, allow_redirects: redirects } : { enabled };
    } else if (!types) {
      // Since API 2023-08-16 automatic payment methods are on unless payment_method_types is given.
      automatic = { enabled: true };
    }
    const pi = newIntent({
      amount,
      currency,
      metadata: metadataParam(p, 'metadata') ?? {},
      description: str(p, 'description') ?? null,
      receiptEmail: str(p, 'receipt_email') ?? null,
      automatic,
      paymentMethodTypes: types ? types.map(String) : ['card'],
      customer: str(p, 'customer') ?? null,
    });
    call.emitted.push(createEvent('payment_intent.created', pi, undefined, call));
    if (bool(p, 'confirm')) confirm(call, pi, str(p, 'payment_method'));
    return expand(pi, p);
  };

  const retrievePaymentIntent: Handler = (call, id) => {
    allowOnly(call.params, ['client_secret', 'expand']);
    return expand(findIntent(id), call.params);
  };

  const updatePaymentIntent: Handler = (call, id) => {
    const p = call.params;
    allowOnly(p, PI_UPDATE);
    const pi = findIntent(id);
    const amount = int(p, 'amount');
    const currency = currencyParam(p, 'currency');
    if ((amount !== undefined || currency !== undefined) && pi.status === 'succeeded') {
      throw invalid(
        `This PaymentIntent's amount could not be updated because it has a status of ${pi.status}.`,
        {
          code: 'payment_intent_unexpected_state',
        },
      );
    }
    if (amount !== undefined) checkAmount(amount, currency ?? pi.currency, 'amount');
    if (amount !== undefined) pi.amount = amount;
    if (currency !== undefined) pi.currency = currency;
    pi.metadata = metadataParam(p, 'metadata', pi.metadata) ?? pi.metadata;
    const description = str(p, 'description');
    if (description !== undefined) pi.description = description || null;
    return expand(pi, p);
  };

  const confirmPaymentIntent: Handler = (call, id) => {
    allowOnly(call.params, PI_CONFIRM);
    const pi = findIntent(id);
    confirm(call, pi, str(call.params, 'payment_method') ?? pi.payment_method ?? undefined);
    return expand(pi, call.params);
  };

  const CANCELABLE: PaymentIntentStatus[] = [
    'requires_payment_method',
    'requires_capture',
    'requires_confirmation',
    'requires_action',
    'processing',
  ];
  const cancelPaymentIntent: Handler = (call, id) => {
    allowOnly(call.params, ['cancellation_reason', 'expand']);
    const pi = findIntent(id);
    const reason = oneOf(call.params, 'cancellation_reason', [
      'abandoned',
      'duplicate',
      'fraudulent',
      'requested_by_customer',
    ]);
    if (!CANCELABLE.includes(pi.status)) {
      throw invalid(
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
        { code: 'payment_intent_unexpected_state', payment_intent: structuredClone(pi) },
      );
    }
    pi.status = 'canceled';
    pi.canceled_at = now();
    pi.cancellation_reason = reason ?? null;
    call.emitted.push(createEvent('payment_intent.canceled', pi, undefined, call));
    return expand(pi, call.params);
  };

  const createRefund: Handler = (call) => {
    const p = call.params;
    allowOnly(p, REFUND_CREATE);
    const intentId = str(p, 'payment_intent');
    const chargeId = str(p, 'charge');
    if (!intentId && !chargeId) {
      throw invalid(
        'One of the following params should be provided for this request: payment_intent or charge.',
        {
          code: 'parameter_missing',
        },
      );
    }
    let charge: FakeCharge | undefined;
    if (intentId) {
      const pi = findIntent(intentId, 'payment_intent');
      charge = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
      if (pi.status !== 'succeeded' || !charge) {
        throw invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, {
          code: 'payment_intent_unexpected_state',
          param: 'payment_intent',
        });
      }
    } else {
      charge = charges.get(chargeId!);
      if (!charge) throw noSuch('charge', chargeId!, 'charge');
      if (charge.status !== 'succeeded') {
        throw invalid(`Charge ${charge.id} has not succeeded and cannot be refunded.`, {
          code: 'charge_not_refundable',
        });
      }
    }
    if (charge.disputed) {
      throw invalid(
        `Charge ${charge.id} has been charged back; refunds are not possible while it is disputed.`,
        {
          code: 'charge_disputed',
        },
      );
    }
    const remaining = charge.amount - charge.amount_refunded;
    if (remaining <= 0)
      throw invalid(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
    const amount = int(p, 'amount') ?? remaining;
    if (amount < 1)
      throw invalid('This value must be greater than or equal to 1.', {
        code: 'parameter_invalid_integer',
        param: 'amount',
      });
    if (amount > remaining) {
      throw invalid(
        `Refund amount (${money(amount, charge.currency)}) is greater than unrefunded amount on charge (${money(remaining, charge.currency)})`,
        { code: 'amount_too_large', param: 'amount' },
      );
    }
    const reason = oneOf(p, 'reason', ['duplicate', 'fraudulent', 'requested_by_customer']);
    const refund = newRefund(charge, amount, reason ?? null, metadataParam(p, 'metadata') ?? {});
    call.emitted.push(createEvent('refund.created', refund, undefined, call));
    call.emitted.push(createEvent('charge.refunded', charge, undefined, call));
    return expand(refund, p);
  };

  /** A refund (checked by the caller) and its balance transaction. */
  function newRefund(
    charge: FakeCharge,
    amount: number,
    reason: string | null,
    metadata: Metadata,
    fee?: number,
  ): FakeRefund {
    const refund: FakeRefund = {
      id: newId('re'),
      object: 'refund',
      amount,
      balance_transaction: newId('txn'),
      charge: charge.id,
      created: now(),
      currency: charge.currency,
      metadata,
      payment_intent: charge.payment_intent,
      reason,
      receipt_number: null,
      status: refundStatus,
    };
    refunds.set(refund.id, refund);
    bookRefund(refund, fee);
    // Pending refunds count against the charge straight away; a failed refund gives the amount back.
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    return refund;
  }

  const retrieveRefund: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const refund = refunds.get(id);
    if (!refund) throw noSuch('refund', id);
    return expand(refund, call.params);
  };

  const listRefunds: Handler = (call) => {
    const p = call.params;
    allowOnly(p, [
      'charge',
      'payment_intent',
      'limit',
      'starting_after',
      'ending_before',
      'created',
      'expand',
    ]);
    const intentId = str(p, 'payment_intent');
    const chargeId = str(p, 'charge');
    const limit = int(p, 'limit') ?? 10;
    const all = [...refunds.values()]
      .filter((r) => (!intentId || r.payment_intent === intentId) && (!chargeId || r.charge === chargeId))
      .reverse(); // newest first, as Stripe lists
    return { object: 'list', data: all.slice(0, limit), has_more: all.length > limit, url: '/v1/refunds' };
  };

  const createCheckoutSession: Handler = (call) => {
    const p = call.params;
    allowOnly(p, SESSION_CREATE);
    const mode = str(p, 'mode');
    if (!mode) throw missing('mode');
    if (mode !== 'payment') {
      throw invalid(`The fake Stripe supports only mode=payment, not ${mode}.`, { param: 'mode' });
    }
    const items = list(p, 'line_items');
    if (!items || items.length === 0) throw missing('line_items');
    let currency: string | undefined;
    let total = 0;
    const stored: FakeLineItem[] = [];
    for (const [i, raw] of items.entries()) {
      const at = `line_items[${i}]`;
      if (typeof raw === 'string' || Array.isArray(raw)) throw invalid('Invalid object', { param: at });
      allowOnly(raw, LINE_ITEM, at);
      const price = str(raw, 'price', `${at}[price]`);
      if (price) throw noSuch('price', price, `${at}[price]`);
      const priceData = obj(raw, 'price_data', `${at}[price_data]`);
      if (!priceData) throw missing(`${at}[price_data]`);
      allowOnly(priceData, PRICE_DATA, `${at}[price_data]`);
      const itemCurrency = currencyParam(priceData, 'currency', `${at}[price_data][currency]`);
      if (!itemCurrency) throw missing(`${at}[price_data][currency]`);
      if (currency && itemCurrency !== currency) {
        throw invalid('All line items must use the same currency.', { param: `${at}[price_data][currency]` });
      }
      currency = itemCurrency;
      const unit = int(priceData, 'unit_amount', `${at}[price_data][unit_amount]`);
      if (unit === undefined) throw missing(`${at}[price_data][unit_amount]`);
      if (unit < 0) {
        throw invalid('This value must be greater than or equal to 0.', {
          code: 'parameter_invalid_integer',
          param: `${at}[price_data][unit_amount]`,
        });
      }
      const product = str(priceData, 'product', `${at}[price_data][product]`);
      if (product) throw noSuch('product', product, `${at}[price_data][product]`);
      const productData = obj(priceData, 'product_data', `${at}[price_data][product_data]`);
      if (!productData) throw missing(`${at}[price_data][product_data]`);
      allowOnly(productData, PRODUCT_DATA, `${at}[price_data][product_data]`);
      const name = str(productData, 'name', `${at}[price_data][product_data][name]`);
      if (!name) throw missing(`${at}[price_data][product_data][name]`);
      const quantity = int(raw, 'quantity', `${at}[quantity]`);
      if (quantity === undefined) throw missing(`${at}[quantity]`);
      if (quantity < 1) {
        throw invalid('This value must be greater than or equal to 1.', {
          code: 'parameter_invalid_integer',
          param: `${at}[quantity]`,
        });
      }
      total += unit * quantity;
      stored.push({
        id: newId('li'),
        object: 'item',
        amount_discount: 0,
        amount_subtotal: unit * quantity,
        amount_tax: 0,
        amount_total: unit * quantity,
        currency: itemCurrency,
        description: name,
        metadata: metadataParam(raw, 'metadata', {}, `${at}[metadata]`) ?? {},
        price: {
          id: newId('price'),
          object: 'price',
          currency: itemCurrency,
          unit_amount: unit,
          product: newId('prod'),
          type: 'one_time',
        },
        quantity,
      });
    }
    checkAmount(total, currency!, 'line_items');
    const created = now();
    const expiresAt = int(p, 'expires_at') ?? created + 24 * 3600;
    if (expiresAt < created + 30 * 60 || expiresAt > created + 24 * 3600) {
      throw invalid(
        'The `expires_at` timestamp must be at least 30 minutes and at most 24 hours after Checkout Session creation.',
        { param: 'expires_at' },
      );
    }
    const intentData = obj(p, 'payment_intent_data') ?? {};
    allowOnly(intentData, PAYMENT_INTENT_DATA, 'payment_intent_data');
    const customerEmail = str(p, 'customer_email') ?? null;
    const id = `cs_test_a1${random(56)}`;
    const session: FakeCheckoutSession = {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      cancel_url: urlParam(p, 'cancel_url') ?? null,
      client_reference_id: str(p, 'client_reference_id') ?? null,
      created,
      currency: currency!,
      customer: str(p, 'customer') ?? null,
      customer_details: null,
      customer_email: customerEmail,
      expires_at: expiresAt,
      livemode: false,
      locale: str(p, 'locale') ?? null,
      metadata: metadataParam(p, 'metadata') ?? {},
      mode: 'payment',
      payment_intent: null,
      payment_method_types: ['card'],
      payment_status: 'unpaid',
      status: 'open',
      success_url: urlParam(p, 'success_url') ?? null,
      ui_mode: 'hosted',
      // Stripe's page lives on checkout.stripe.com; the fake serves a stub page itself so nothing leaves the machine.
      url: `${baseUrl}/c/pay/${id}`,
    };
    // Checkout makes the intent when the customer pays; the fake makes it now, hidden until completion, so that
    // tests can drive it. payment_intent_data[metadata] goes to the intent; the session's metadata does not.
    const pi = newIntent({
      amount: total,
      currency: currency!,
      metadata: metadataParam(intentData, 'metadata', {}, 'payment_intent_data[metadata]') ?? {},
      description: str(intentData, 'description', 'payment_intent_data[description]') ?? null,
      receiptEmail: str(intentData, 'receipt_email', 'payment_intent_data[receipt_email]') ?? customerEmail,
      automatic: null,
      paymentMethodTypes: ['card'],
      customer: session.customer,
    });
    checkoutSessions.set(id, session);
    lineItems.set(id, stored);
    sessionIntent.set(id, pi.id);
    intentSession.set(pi.id, id);
    return expand(session, p);
  };

  function findSession(id: string): FakeCheckoutSession {
    const session = checkoutSessions.get(id);
    if (!session) throw noSuch('checkout.session', id);
    return session;
  }

  const retrieveCheckoutSession: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    return expand(findSession(id), call.params);
  };

  const listLineItems: Handler = (call, id) => {
    allowOnly(call.params, ['limit', 'starting_after', 'ending_before', 'expand']);
    findSession(id);
    const data = lineItems.get(id) ?? [];
    return { object: 'list', data, has_more: false, url: `/v1/checkout/sessions/${id}/line_items` };
  };

  function expireSession(session: FakeCheckoutSession, call?: Call): FakeEvent[] {
    session.status = 'expired';
    session.url = null;
    const pi = paymentIntents.get(sessionIntent.get(session.id) ?? '');
    if (pi && CANCELABLE.includes(pi.status)) {
      pi.status = 'canceled';
      pi.canceled_at = now();
      pi.cancellation_reason = 'abandoned';
    }
    return [createEvent('checkout.session.expired', session, undefined, call)];
  }

  const expireCheckoutSessionEndpoint: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const session = findSession(id);
    if (session.status !== 'open') {
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This session has a status of ${session.status}.`,
      );
    }
    call.emitted.push(...expireSession(session, call));
    return expand(session, call.params);
  };

  const retrieveCharge: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const charge = charges.get(id);
    if (!charge) throw noSuch('charge', id);
    return expand(charge, call.params);
  };

  const retrieveDispute: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const d = disputes.get(id);
    if (!d) throw noSuch('dispute', id);
    return expand(d, call.params);
  };

  const retrieveEvent: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const event = events.get(id);
    if (!event) throw noSuch('event', id);
    return event;
  };

  const retrieveBalanceTransaction: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const txn = balanceTransactions.get(id);
    if (!txn) throw noSuch('balance_transaction', id);
    return expand(txn, call.params);
  };

  const listBalanceTransactions: Handler = (call) => {
    const p = call.params;
    allowOnly(p, [
      'created',
      'currency',
      'ending_before',
      'expand',
      'limit',
      'payout',
      'source',
      'starting_after',
      'type',
    ]);
    const created = rangeParam(p, 'created');
    const currency = currencyParam(p, 'currency');
    const type = str(p, 'type');
    const source = str(p, 'source');
    const payout = str(p, 'payout');
    if (payout && !payouts.has(payout)) throw noSuch('payout', payout, 'payout');
    if (payout && !payouts.get(payout)!.automatic)
      throw invalid('Balance transaction history can only be filtered on automatic transfers, not manual.', {
        param: 'payout',
      });
    const page = paginate(
      [...balanceTransactions.values()].reverse(),
      (t) =>
        (!created || created(t.created)) &&
        (!currency || t.currency === currency) &&
        (!type || t.type === type) &&
        (!source || t.source === source) &&
        (!payout || txnPayout.get(t.id) === payout),
      p,
      '/v1/balance_transactions',
      'balance_transaction',
    );
    return expandList(page, p);
  };

  const retrievePayout: Handler = (call, id) => {
    allowOnly(call.params, ['expand']);
    const po = payouts.get(id);
    if (!po) throw noSuch('payout', id);
    return expand(po, call.params);
  };

  const listPayouts: Handler = (call) => {
    const p = call.params;
    allowOnly(p, [
      'arrival_date',
      'created',
      'destination',
      'ending_before',
      'expand',
      'limit',
      'starting_after',
      'status',
    ]);
    const created = rangeParam(p, 'created');
    const arrival = rangeParam(p, 'arrival_date');
    const destination = str(p, 'destination');
    const status = oneOf(p, 'status', ['pending', 'paid', 'failed', 'canceled']);
    const page = paginate(
      [...payouts.values()].reverse(),
      (po) =>
        (!created || created(po.created)) &&
        (!arrival || arrival(po.arrival_date)) &&
        (!destination || po.destination === destination) &&
        (!status || po.status === status),
      p,
      '/v1/payouts',
      'payout',
    );
    return expandList(page, p);
  };

  const routes: Array<[string, RegExp, Handler]> = [
    ['POST', /^\/v1\/payment_intents$/, createPaymentIntent],
    ['GET', /^\/v1\/payment_intents\/([^/]+)$/, retrievePaymentIntent],
    ['POST', /^\/v1\/payment_intents\/([^/]+)$/, updatePaymentIntent],
    ['POST', /^\/v1\/payment_intents\/([^/]+)\/confirm$/, confirmPaymentIntent],
    ['POST', /^\/v1\/payment_intents\/([^/]+)\/cancel$/, cancelPaymentIntent],
    ['POST', /^\/v1\/refunds$/, createRefund],
    ['GET', /^\/v1\/refunds$/, listRefunds],
    ['GET', /^\/v1\/refunds\/([^/]+)$/, retrieveRefund],
    ['POST', /^\/v1\/checkout\/sessions$/, createCheckoutSession],
    ['GET', /^\/v1\/checkout\/sessions\/([^/]+)$/, retrieveCheckoutSession],
    ['GET', /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/, listLineItems],
    ['POST', /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/, expireCheckoutSessionEndpoint],
    ['GET', /^\/v1\/charges\/([^/]+)$/, retrieveCharge],
    ['GET', /^\/v1\/disputes\/([^/]+)$/, retrieveDispute],
    ['GET', /^\/v1\/events\/([^/]+)$/, retrieveEvent],
    ['GET', /^\/v1\/balance_transactions$/, listBalanceTransactions],
    ['GET', /^\/v1\/balance_transactions\/([^/]+)$/, retrieveBalanceTransaction],
    ['GET', /^\/v1\/payouts$/, listPayouts],
    ['GET', /^\/v1\/payouts\/([^/]+)$/, retrievePayout],
  ];

  // --- HTTP -------------------------------------------------------------------------------------------------

  function failureBody(status: number): StripeErrorBody {
    if (status === 429) {
      return {
        type: 'invalid_request_error',
        code: 'rate_limit',
        message:
          'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
      };
    }
    if (status === 409) {
      return {
        type: 'invalid_request_error',
        code: 'lock_timeout',
        message:
          'This object cannot be accessed right now because another API request or Stripe process is currently accessing it.',
      };
    }
    return { type: 'api_error', message: "Something went wrong on Stripe's end. (fake: injected failure)" };
  }

  function takeFailure(path: string): FailureRule | undefined {
    const rule = failures.find((f) => f.remaining > 0 && (!f.path || path.startsWith(f.path)));
    if (!rule) return undefined;
    rule.remaining--;
    if (rule.remaining === 0) failures.splice(failures.indexOf(rule), 1);
    return rule;
  }

  function authorised(header: string | undefined): boolean {
    if (!header) return false;
    if (header.startsWith('Bearer ')) return header.slice(7) === secretKey;
    // Stripe also takes the key as the Basic-auth user name (curl -u sk_…:).
    if (header.startsWith('Basic '))
      return Buffer.from(header.slice(6), 'base64').toString().split(':')[0] === secretKey;
    return false;
  }

  function maskKey(header: string): string {
    const key = header.replace(/^(Bearer|Basic)\s+/, '');
    return key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}` : key;
  }

  async function readBody(req: IncomingMessage): Promise<string | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) return null;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function checkoutPage(res: ServerResponse, id: string): void {
    const session = checkoutSessions.get(id);
    if (!session) {
      res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>Something went wrong</h1>');
      return;
    }
    const html = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res
      .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      .end(
        `<!doctype html><title>Fake Stripe Checkout</title><h1>Pay ${html(money(session.amount_total, session.currency))}</h1><p id="status">${html(session.status)}</p>`,
      );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const page = /^\/c\/pay\/([^/]+)$/.exec(path);
    if (method === 'GET' && page) return checkoutPage(res, decodeURIComponent(page[1]!));

    const text = await readBody(req);
    const requestId = `req_${random(14)}`;
    const rawKey = req.headers['idempotency-key'];
    const idempotencyKey = method === 'POST' && typeof rawKey === 'string' && rawKey !== '' ? rawKey : null;
    const stripeVersion =
      typeof req.headers['stripe-version'] === 'string' ? req.headers['stripe-version'] : null;
    const record: RecordedRequest = {
      method,
      path,
      query: parseForm(url.search.slice(1)),
      body: method === 'GET' || method === 'DELETE' ? {} : parseForm(text ?? ''),
      idempotencyKey,
      stripeVersion,
      requestId,
      status: 0,
      replayed: false,
      injected: false,
    };
    requests.push(record);

    const respond = (status: number, body: string, extra: Record<string, string> = {}) => {
      record.status = status;
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'Request-Id': requestId,
        'Stripe-Version': stripeVersion ?? Stripe.API_VERSION,
        ...extra,
      };
      if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
      res.writeHead(status, headers).end(body);
    };
    const respondError = (status: number, error: StripeErrorBody, extra?: Record<string, string>) =>
      respond(status, JSON.stringify({ error }, null, 2), extra);

    const failure = takeFailure(path);
    if (failure) record.injected = true;
    const retryHeader: Record<string, string> =
      failure?.shouldRetry === undefined ? {} : { 'Stripe-Should-Retry': String(failure.shouldRetry) };
    if (failure?.status === 'disconnect' && failure.when === 'before') {
      req.socket.destroy();
      return;
    }
    if (failure && failure.status !== 'disconnect' && failure.when === 'before') {
      return respondError(failure.status, failureBody(failure.status), retryHeader);
    }

    const auth = req.headers.authorization;
    if (!authorised(auth)) {
      return respondError(401, {
        type: 'invalid_request_error',
        message: auth
          ? `Invalid API Key provided: ${maskKey(auth)}`
          : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
      });
    }
    if (text === null)
      return respondError(413, { type: 'invalid_request_error', message: 'Request too large.' });

    const params = method === 'POST' ? record.body : record.query;
    if (idempotencyKey) {
      const stored = idempotency.get(idempotencyKey);
      if (stored) {
        if (stored.path !== path || stored.method !== method) {
          return respondError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${method} ${path}'). Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          });
        }
        if (stored.params !== canonical(params)) {
          return respondError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          });
        }
        record.replayed = true;
        return respond(stored.status, stored.body, {
          'Idempotent-Replayed': 'true',
          'Original-Request': stored.requestId,
        });
      }
    }

    let route: [Handler, string] | undefined;
    let pathMatched = false;
    for (const [m, pattern, handler] of routes) {
      const match = pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (m === method) {
        route = [handler, decodeURIComponent(match[1] ?? '')];
        break;
      }
    }
    if (!route) {
      return respondError(404, {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.${pathMatched ? ' (wrong method)' : ''}`,
      });
    }

    refreshBalance();
    const call: Call = { method, params, requestId, idempotencyKey, emitted: [] };
    let status = 200;
    let body: string;
    try {
      body = JSON.stringify(route[0](call, route[1]), null, 2);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status = err.status;
      body = JSON.stringify({ error: err.body }, null, 2);
    }
    // Stripe stores the result once the endpoint has started executing: successes and card declines. Validation
    // failures are not stored, so a corrected retry with the same key… still fails with idempotency_error if the
    // params differ, but an identical retry runs again.
    if (idempotencyKey && (status < 400 || status === 402)) {
      idempotency.set(idempotencyKey, {
        method,
        path,
        params: canonical(params),
        status,
        body,
        requestId,
      });
    }
    if (failure?.status === 'disconnect') req.socket.destroy();
    else if (failure) respondError(failure.status, failureBody(failure.status), retryHeader);
    else respond(status, body);
    // Webhooks follow the API response, as with Stripe.
    if (call.emitted.length > 0) void send(call.emitted);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return;
      res
        .writeHead(500, { 'Content-Type': 'application/json' })
        .end(
          JSON.stringify({ error: { type: 'api_error', message: `fake Stripe crashed: ${String(err)}` } }),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  // --- test controls --------------------------------------------------------------------------------------------

  function paymentIntentOf(checkoutSessionId: string): FakePaymentIntent {
    const id = sessionIntent.get(checkoutSessionId);
    if (!id) throw new Error(`fake Stripe: no checkout session ${checkoutSessionId}`);
    return paymentIntents.get(id)!;
  }

  function intentForControl(id: string): FakePaymentIntent {
    const pi = paymentIntents.get(id);
    if (!pi) throw new Error(`fake Stripe: no payment intent ${id}`);
    return pi;
  }

  function chargeOf(paymentIntentId: string): FakeCharge {
    const pi = intentForControl(paymentIntentId);
    const charge = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
    if (pi.status !== 'succeeded' || !charge) throw new Error(`fake Stripe: ${pi.id} has not succeeded`);
    return charge;
  }

  const fake: FakeStripe = {
    url: baseUrl,
    port,
    host: '127.0.0.1',
    secretKey,
    publishableKey,
    webhookSecret,
    config: { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0, telemetry: false },
    requests,
    paymentIntents,
    charges,
    refunds,
    checkoutSessions,
    disputes,
    balanceTransactions,
    payouts,
    events,
    lastEvents,
    paymentIntentOf,

    succeedPaymentIntent(id, o = {}) {
      const pi = intentForControl(id);
      if (pi.status === 'succeeded' || pi.status === 'canceled') {
        throw new Error(`fake Stripe: ${id} is ${pi.status}; it cannot succeed`);
      }
      if (o.amount !== undefined) pi.amount = o.amount;
      if (o.currency !== undefined) pi.currency = o.currency.toLowerCase();
      return send(succeed(pi, 'pm_card_visa', undefined, o.fee, o.balanceTransaction !== false));
    },

    completeCheckoutSession(id, o) {
      const session = checkoutSessions.get(id);
      if (!session) throw new Error(`fake Stripe: no checkout session ${id}`);
      if (session.status !== 'open')
        throw new Error(`fake Stripe: checkout session ${id} is ${session.status}`);
      return fake.succeedPaymentIntent(paymentIntentOf(id).id, o);
    },

    failPaymentIntent(id, o = {}) {
      const pi = intentForControl(id);
      if (pi.status === 'succeeded' || pi.status === 'canceled') {
        throw new Error(`fake Stripe: ${id} is ${pi.status}; it cannot fail`);
      }
      const base = DECLINES['']!;
      return send(
        decline(pi, 'pm_card_visa_chargeDeclined', {
          code: o.code ?? base.code,
          decline_code: o.declineCode ?? base.decline_code,
          message: o.message ?? base.message,
        }),
      );
    },

    expireCheckoutSession(id) {
      const session = checkoutSessions.get(id);
      if (!session) throw new Error(`fake Stripe: no checkout session ${id}`);
      if (session.status !== 'open')
        throw new Error(`fake Stripe: checkout session ${id} is ${session.status}`);
      return send(expireSession(session));
    },

    dispute(paymentIntentId, o = {}) {
      const charge = chargeOf(paymentIntentId);
      charge.disputed = true;
      const d: FakeDispute = {
        id: newId('dp'),
        object: 'dispute',
        amount: o.amount ?? charge.amount - charge.amount_refunded,
        charge: charge.id,
        created: now(),
        currency: charge.currency,
        balance_transactions: [],
        is_charge_refundable: false,
        livemode: false,
        metadata: {},
        payment_intent: paymentIntentId,
        reason: o.reason ?? 'fraudulent',
        status: 'needs_response',
      };
      disputes.set(d.id, d);
      // The disputed amount and Stripe's dispute fee leave the balance at once.
      const s = settle(-d.amount, d.currency);
      d.balance_transactions.push(
        newTxn({
          type: 'adjustment',
          category: 'dispute',
          source: d.id,
          amount: s.amount,
          currency: s.currency,
          rate: s.rate,
          fee: balance.disputeFee ?? 1500,
          feeDescription: 'Dispute fee',
          description: `Chargeback withdrawal for ${charge.id}`,
        }),
      );
      return send([createEvent('charge.dispute.created', d)]);
    },

    closeDispute(disputeId, outcome) {
      const d = disputes.get(disputeId);
      if (!d) throw new Error(`fake Stripe: no dispute ${disputeId}`);
      const previous = { status: d.status };
      const withdrawal = d.balance_transactions.find((t) => t.reporting_category === 'dispute');
      if (outcome === 'won' && d.status !== 'won' && withdrawal) {
        // Winning gives the disputed amount back (the dispute fee stays with Stripe).
        d.balance_transactions.push(
          newTxn({
            type: 'adjustment',
            category: 'dispute_reversal',
            source: d.id,
            amount: -withdrawal.amount,
            currency: withdrawal.currency,
            rate: withdrawal.exchange_rate,
            fee: 0,
            description: `Chargeback reversal for ${d.charge}`,
          }),
        );
      }
      d.status = outcome;
      return send([createEvent('charge.dispute.closed', d, previous)]);
    },

    refundEvent(refundId, status, o = {}) {
      const refund = refunds.get(refundId);
      if (!refund) throw new Error(`fake Stripe: no refund ${refundId}`);
      const charge = charges.get(refund.charge)!;
      const previous = { status: refund.status };
      const wasCounted = refund.status !== 'failed' && refund.status !== 'canceled';
      const counts = status !== 'failed' && status !== 'canceled';
      if (wasCounted && !counts) charge.amount_refunded -= refund.amount;
      if (!wasCounted && counts) charge.amount_refunded += refund.amount;
      charge.refunded = charge.amount_refunded === charge.amount;
      refund.status = status;
      if (status === 'failed' && wasCounted) bookRefundFailure(refund);
      if (status === 'failed') refund.failure_reason = 'lost_or_stolen_card';
      else delete refund.failure_reason;
      if (o.type) {
        const object = o.type.startsWith('charge.') && !o.type.startsWith('charge.refund.') ? charge : refund;
        return send([createEvent(o.type, object)]);
      }
      const list = [createEvent('refund.updated', refund, previous)];
      if (status === 'failed') list.push(createEvent('refund.failed', refund));
      return send(list);
    },

    setRefundStatus(status) {
      refundStatus = status;
    },

    setBalanceOptions: setBalance,

    async createCharge(o) {
      const currency = o.currency.toLowerCase();
      checkAmount(o.amount, currency, 'amount');
      const pi = newIntent({
        amount: o.amount,
        currency,
        metadata: { ...(o.metadata ?? {}) },
        description: o.description ?? null,
        receiptEmail: null,
        automatic: null,
        paymentMethodTypes: ['card'],
        customer: null,
      });
      const emitted = succeed(pi, 'pm_card_visa', undefined, o.fee);
      const charge = charges.get(pi.latest_charge!)!;
      return {
        paymentIntent: pi,
        charge,
        balanceTransaction: balanceTransactions.get(charge.balance_transaction!)!,
        deliveries: o.deliver ? await send(emitted) : [],
      };
    },

    async refundOutOfBand(chargeId, amount, o = {}) {
      const charge = charges.get(chargeId);
      if (!charge) throw new Error(`fake Stripe: no charge ${chargeId}`);
      if (charge.status !== 'succeeded') throw new Error(`fake Stripe: charge ${chargeId} has not succeeded`);
      if (charge.disputed) throw new Error(`fake Stripe: charge ${chargeId} is disputed`);
      const remaining = charge.amount - charge.amount_refunded;
      const value = amount ?? remaining;
      if (!Number.isInteger(value) || value < 1 || value > remaining) {
        throw new Error(`fake Stripe: cannot refund ${value} of ${chargeId}; ${remaining} is refundable`);
      }
      const refund = newRefund(charge, value, o.reason ?? null, { ...(o.metadata ?? {}) }, o.fee);
      const deliveries = o.deliver
        ? await send([createEvent('refund.created', refund), createEvent('charge.refunded', charge)])
        : [];
      return {
        refund,
        balanceTransaction: balanceTransactions.get(refund.balance_transaction!)!,
        deliveries,
      };
    },

    async createPayout(o = {}) {
      refreshBalance();
      const unpaid = [...balanceTransactions.values()].filter((t) => !txnPayout.has(t.id));
      const currency = (
        o.currency ??
        balance.settlementCurrency ??
        unpaid[0]?.currency ??
        'eur'
      ).toLowerCase();
      const included = o.transactions
        ? o.transactions.map((id) => {
            const t = balanceTransactions.get(id);
            if (!t) throw new Error(`fake Stripe: no balance transaction ${id}`);
            const paidIn = txnPayout.get(id);
            if (paidIn) throw new Error(`fake Stripe: ${id} was already paid out in ${paidIn}`);
            if (t.currency !== currency) {
              throw new Error(`fake Stripe: ${id} is in ${t.currency}, the payout in ${currency}`);
            }
            return t;
          })
        : unpaid.filter((t) => t.currency === currency);
      const amount = o.amount ?? included.reduce((sum, t) => sum + t.net, 0);
      if (!Number.isInteger(amount) || amount < 1) {
        throw new Error(
          `fake Stripe: a payout needs a positive amount (its transactions add up to ${amount} ${currency})`,
        );
      }
      const status = o.status ?? 'paid';
      const created = now();
      const id = newId('po');
      const own = newTxn({
        type: 'payout',
        category: 'payout',
        source: id,
        amount: -amount,
        currency,
        rate: null,
        fee: 0,
        description: 'STRIPE PAYOUT',
        availableNow: true,
      });
      const po: FakePayout = {
        id,
        object: 'payout',
        amount,
        application_fee: null,
        application_fee_amount: null,
        arrival_date: o.arrivalDate ?? midnight(created + 2 * DAY),
        automatic: o.automatic ?? true,
        balance_transaction: own.id,
        created,
        currency,
        description: 'STRIPE PAYOUT',
        destination: bankAccount,
        failure_balance_transaction: null,
        failure_code: null,
        failure_message: null,
        livemode: false,
        metadata: { ...(o.metadata ?? {}) },
        method: 'standard',
        original_payout: null,
        payout_method: null,
        reconciliation_status: status === 'paid' ? 'completed' : 'in_progress',
        reversed_by: null,
        source_type: 'card',
        statement_descriptor: null,
        status,
        trace_id: null,
        type: 'bank_account',
      };
      payouts.set(id, po);
      for (const t of included) {
        txnPayout.set(t.id, id);
        makeTxnAvailable(t);
      }
      // Stripe lists the payout's own transaction under `?payout=` too.
      txnPayout.set(own.id, id);
      if (status === 'failed') failPayout(po, o.failureCode);
      const deliveries = o.deliver ? await send([createEvent(PAYOUT_EVENTS[status], po)]) : [];
      return { payout: po, deliveries };
    },

    settlePayout(payoutId, status, o = {}) {
      const po = payouts.get(payoutId);
      if (!po) throw new Error(`fake Stripe: no payout ${payoutId}`);
      if (po.status !== 'pending' && po.status !== 'in_transit') {
        throw new Error(`fake Stripe: payout ${payoutId} is ${po.status}`);
      }
      const previous = { status: po.status };
      if (status === 'failed') {
        failPayout(po, o.failureCode);
      } else {
        po.status = status;
        po.reconciliation_status = status === 'paid' ? 'completed' : 'in_progress';
      }
      if (o.deliver === false) return Promise.resolve([]);
      return send([createEvent(PAYOUT_EVENTS[status], po, status === 'in_transit' ? previous : undefined)]);
    },

    payoutOf(balanceTransactionId) {
      const id = txnPayout.get(balanceTransactionId);
      return id ? (payouts.get(id) ?? null) : null;
    },

    makeAvailable(ids) {
      for (const id of ids ?? [...balanceTransactions.keys()]) {
        const txn = balanceTransactions.get(id);
        if (!txn) throw new Error(`fake Stripe: no balance transaction ${id}`);
        makeTxnAvailable(txn);
      }
    },

    failNext(n, status, o = {}) {
      failures.push({
        remaining: n,
        status,
        when: o.when ?? 'before',
        shouldRetry: o.shouldRetry,
        path: o.path,
      });
    },

    setWebhookUrl(url) {
      webhookUrl = url;
    },

    createEvent: (type, object, previous) => createEvent(type, object, previous),
    deliver,
    resend(eventId, o = {}) {
      const raw = eventRaw.get(eventId);
      if (!raw) throw new Error(`fake Stripe: no event ${eventId}`);
      return deliver(raw, o);
    },
    sign,

    async settled() {
      let seen: Promise<unknown> | undefined;
      while (seen !== deliveries) {
        seen = deliveries;
        await seen;
        // Let API handlers that just answered queue their events.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },

    async close() {
      // Queued deliveries are dropped; one already in flight gets a moment to finish, then is aborted (an aborted
      // request would otherwise keep the receiver's server.close() waiting on a half-read request).
      closed = true;
      await Promise.race([deliveries, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      for (const abort of inFlight) abort.abort(new Error('fake Stripe closed'));
      await deliveries;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return fake;
}
