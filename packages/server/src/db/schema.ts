import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/*
 * Portable storage conventions (one set of migrations and queries for SQLite and Postgres):
 * - timestamps are ISO-8601 UTC text with milliseconds ('2026-12-31T19:00:00.000Z'): they sort and
 *   compare as text the same way on both databases;
 * - booleans are integers 0/1;
 * - money is integer minor units.
 */
type Timestamp = string;
type Bool = number;

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  email_verified: Bool;
  google_sub: string | null;
  facebook_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: Timestamp;
  /** Billing details: the seller block of its invoices. */
  legal_name: string | null;
  address_line1: string | null;
  address_line2: string | null;
  city: string | null;
  postcode: string | null;
  /** ISO 3166-1 alpha-2. */
  country: string | null;
  vat_id: string | null;
  invoice_prefix: Generated<string>;
  /** Basis points given to ticket types created without a rate. */
  default_tax_rate: Generated<number>;
  /** The Reply-To of its e-mails; null: its first owner's address. */
  contact_email: Generated<string | null>;
}

export interface MembershipsTable {
  org_id: string;
  user_id: string;
  role: 'owner' | 'admin' | 'staff';
  created_at: Timestamp;
}

export interface InvitationsTable {
  id: string;
  org_id: string;
  email: string;
  role: 'owner' | 'admin' | 'staff';
  token_hash: string;
  status: 'pending' | 'accepted' | 'revoked';
  invited_by: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  accepted_at: Timestamp | null;
}

export interface PasswordResetsTable {
  id: string;
  user_id: string;
  /** sha256 of the e-mailed token (see modules/accounts/account-tokens.ts). */
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface RefreshTokensTable {
  id: string;
  family_id: string;
  user_id: string;
  org_id: string;
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  name: string;
  scopes: string;
  prefix: string;
  secret_hash: string;
  created_by: string | null;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

/** Web origins an organization sells from with its publishable keys (CORS). */
export interface AllowedOriginsTable {
  org_id: string;
  origin: string;
  created_at: Timestamp;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  window_started_at: Timestamp;
  locked_until: Timestamp | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  state: 'in_progress' | 'done';
  response_status: number | null;
  response_body: string | null;
  created_at: Timestamp;
}

export interface ServerSecretsTable {
  name: string;
  value: string;
  created_at: Timestamp;
}

export interface EventsTable {
  id: string;
  org_id: string;
  name: string;
  slug: string;
  description: string | null;
  venue_name: string | null;
  venue_address: string | null;
  venue_city: string | null;
  venue_country: string | null;
  timezone: string;
  starts_at: Timestamp;
  ends_at: Timestamp;
  status: 'draft' | 'published' | 'cancelled' | 'completed';
  currency: string;
  capacity: number | null;
  transferable: Bool;
  sales_start_at: Timestamp | null;
  sales_end_at: Timestamp | null;
  max_per_buyer: number | null;
  hold_minutes: number | null;
  /** Inventory counters, kept by conditional writes in the selling transaction (0 when `slots` > 1). */
  sold: number;
  held: number;
  /** 1: the counters are `sold` and `held`; k > 1: they are spread over k inventory_slots rows. */
  slots: Generated<number>;
  /** When the reminders to its buyers were queued (once). */
  reminders_queued_at: Generated<Timestamp | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EventCancellationsTable {
  event_id: string;
  org_id: string;
  refund: 'all' | 'none';
  message: string | null;
  status: 'refunding' | 'done';
  orders_total: number;
  orders_refunded: Generated<number>;
  orders_failed: Generated<number>;
  /** The last order the refund job finished (id order): where it resumes. */
  cursor: Generated<string>;
  /** The refund job's lease: one process works on a cancellation at a time. */
  locked_until: string | null;
  /** Who cancelled (user or API key id): the refunds' author. */
  created_by: string | null;
  created_at: Timestamp;
  finished_at: Timestamp | null;
}

export interface TicketTypesTable {
  id: string;
  org_id: string;
  event_id: string;
  name: string;
  description: string | null;
  price_amount: number;
  capacity: number;
  /** Inventory counters (0 when `slots` > 1: then they are spread over inventory_slots rows). */
  sold: number;
  held: number;
  slots: Generated<number>;
  sales_start_at: Timestamp | null;
  sales_end_at: Timestamp | null;
  min_per_order: number;
  max_per_order: number | null;
  hidden: Bool;
  sort_order: number;
  /** Basis points (1900 = 19 %); the price includes it. */
  tax_rate: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EventKeysTable {
  event_id: string;
  /** base64url of the raw 32-byte Ed25519 public key. */
  public_key: string;
  /** base64url of the PKCS#8 DER private key. */
  private_key: string;
  created_at: Timestamp;
}

export type OrderStatus =
  | 'pending'
  | 'paid'
  | 'partially_refunded'
  | 'refunded'
  | 'expired'
  | 'cancelled'
  | 'failed';

export interface OrdersTable {
  id: string;
  org_id: string;
  event_id: string;
  status: OrderStatus;
  buyer_name: string;
  buyer_email: string;
  buyer_phone: string | null;
  /** 1: agreed to the organizer's marketing e-mail at checkout. */
  marketing_opt_in: Generated<number>;
  payment_method: 'free' | 'manual' | 'stripe';
  currency: string;
  total_amount: number;
  refunded_amount: number;
  ticket_count: number;
  hold_expires_at: Timestamp | null;
  paid_at: Timestamp | null;
  flagged: Bool;
  flag_reason: string | null;
  /** Set by the ledger in the transaction that makes the order paid; never changed after. */
  invoice_number: Generated<string | null>;
  /** Why the invoice could not be issued (the last attempt), while it has none; see Orders.invoice. */
  invoice_error: Generated<string | null>;
  /** Stripe's balance transaction, once read: the fee it kept and the net, in the settlement currency. */
  balance_transaction_id?: string | null;
  stripe_fee?: number | null;
  stripe_net?: number | null;
  settlement_currency?: string | null;
  exchange_rate?: number | null;
  /** The fees job's failed tries to read it, and when it may try again (null: now); see payments/fees.ts. */
  fee_attempts?: number;
  fee_next_try_at?: string | null;
  payment_intent_id: string | null;
  client_secret: string | null;
  checkout_session_id: string | null;
  checkout_url: string | null;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Where the purchase came from, as its storefront said (UTM parameters, the referring page). */
  utm_source: Generated<string | null>;
  utm_medium: Generated<string | null>;
  utm_campaign: Generated<string | null>;
  referrer: Generated<string | null>;
  /** JSON { client_id?, session_id?, user_id?, consent? }: the buyer's GA4 session, as the checkout said. */
  analytics: Generated<string | null>;
  /** The discount code used (its id and code as typed then), and what it took off the order. */
  voucher_id: Generated<string | null>;
  voucher_code: Generated<string | null>;
  discount_amount: Generated<number | null>;
}

export interface OrderItemsTable {
  order_id: string;
  ticket_type_id: string;
  name: string;
  quantity: number;
  unit_amount: number;
  /** The ticket type's tax rate when sold, in basis points. */
  tax_rate: number;
  /** JSON array of { name, email? }, one per ticket, given at purchase. */
  holders: string | null;
  /** The price before a code's discount (null: none); `unit_amount` is what was charged. */
  list_amount?: number | null;
}

export interface TicketsTable {
  id: string;
  org_id: string;
  event_id: string;
  order_id: string;
  ticket_type_id: string;
  holder_name: string;
  holder_email: string | null;
  status: 'valid' | 'void';
  void_reason: 'refunded' | 'cancelled' | null;
  /** 1: void, but its seat stays off sale (still counted in `sold`): refunded with return_inventory false. */
  seat_kept: number;
  /** FIRST_CODE_VERSION when issued; each transfer raises it (a ticket above it was transferred). */
  code_version: number;
  code: string;
  /** When the holder said they can't come (a WhatsApp button). */
  declined_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RefundsTable {
  id: string;
  org_id: string;
  order_id: string;
  ticket_id: string | null;
  amount: number;
  currency: string;
  reason: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  provider: 'manual' | 'stripe';
  provider_ref: string | null;
  returned_inventory: Bool;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Stripe's balance transaction, once read: the fee it kept and the net, in the settlement currency. */
  balance_transaction_id?: string | null;
  stripe_fee?: number | null;
  stripe_net?: number | null;
  settlement_currency?: string | null;
  exchange_rate?: number | null;
  /** The fees job's failed tries to read it, and when it may try again (null: now); see payments/fees.ts. */
  fee_attempts?: number;
  fee_next_try_at?: string | null;
}

export interface AuditLogTable {
  id: string;
  /** Null for a security event that belongs to no organization (a webhook with a bad signature). */
  org_id: string | null;
  /** usr_… or key_… of whoever caused it; null for the system (webhooks, sweeper). */
  actor: string | null;
  action: string;
  subject_id: string;
  /** JSON: what changed (`before`/`after` of the changed fields) and the action's details. */
  data: string;
  created_at: Timestamp;
  /** The request that did it, and its client's address (null: the system). */
  request_id: Generated<string | null>;
  ip: Generated<string | null>;
}

export interface OutboxTable {
  id: string;
  org_id: string;
  /** The template of a message (`order_confirmation`, …), or what other side effect to perform. */
  kind: string;
  /** JSON: what the template needs to find its data (ids), never the rendered message. */
  payload: string;
  status: MessageStatus;
  attempts: number;
  /** Due time: a scheduled reminder, or the next retry. */
  available_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  /**
   * `webhook`: a delivery to an organizer's endpoint (the recipient is the endpoint's id), sent by the
   * worker; `webhook_poll`: one that waits for `tickets webhooks listen` to fetch it.
   */
  channel: 'email' | 'whatsapp' | 'webhook' | 'webhook_poll' | 'ga4' | null;
  recipient: string | null;
  subject: string | null;
  order_id: string | null;
  ticket_id: string | null;
  event_id: string | null;
  provider: string | null;
  provider_message_id: string | null;
  last_error: string | null;
  lease_until: Timestamp | null;
  sent_at: Timestamp | null;
  campaign_id: string | null;
}

export interface ContactListsTable {
  id: string;
  org_id: string;
  name: string;
  event_id: string | null;
  opted_in_only: number;
  sendgrid_list_id: string | null;
  synced_at: Timestamp | null;
  created_at: Timestamp;
}

export interface CampaignsTable {
  id: string;
  org_id: string;
  name: string;
  subject: string;
  body: string;
  list_id: string;
  sendgrid_template_id: string | null;
  status: 'draft' | 'scheduled' | 'sending' | 'sent' | 'cancelled';
  send_at: Timestamp | null;
  sent_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'opened'
  | 'read'
  | 'bounced'
  | 'failed'
  | 'dead'
  | 'suppressed'
  | 'cancelled';

export interface MessageEventsTable {
  id: string;
  message_id: string;
  status: string;
  detail: string | null;
  provider_event_id: string | null;
  at: Timestamp;
  /** What the attempt got back: the HTTP status (a webhook endpoint's answer), and how long it took. */
  response_code?: number | null;
  duration_ms?: number | null;
}

export interface SuppressionsTable {
  org_id: string;
  channel: 'email' | 'whatsapp';
  /** Lower-case e-mail, or E.164 phone number. */
  address: string;
  reason: 'bounce' | 'spamreport' | 'unsubscribe' | 'opt_out' | 'manual';
  /** 1: a hard bounce; even transactional messages are not sent. */
  hard: number;
  created_at: Timestamp;
}

export interface MessageTemplatesTable {
  org_id: string;
  template: string;
  sendgrid_template_id: string;
  updated_at: Timestamp;
}

export interface WebhookEventsTable {
  provider: 'stripe';
  event_id: string;
  type: string;
  /** JSON, as received. */
  payload: string;
  /** What applying it did, for the audit trail ("paid ord_…", "ignored: unknown order", …). */
  outcome: string;
  received_at: Timestamp;
}

export interface InvoiceSequencesTable {
  org_id: string;
  series: 'invoice' | 'credit_note';
  year: number;
  last_number: number;
}

export interface InvoicesTable {
  id: string;
  org_id: string;
  kind: 'invoice' | 'credit_note';
  /** E.g. INV-2026-000123 or INV-CN-2026-000004; unique per organization. */
  number: string;
  year: number;
  sequence: number;
  order_id: string;
  refund_id: string | null;
  /** A credit note's invoice. */
  invoice_id: string | null;
  /** An invoice cancelled (to be re-issued): the credit note that cancels it. Null: the order's current invoice. */
  cancelled_by: string | null;
  currency: string;
  net_amount: number;
  tax_amount: number;
  gross_amount: number;
  /** JSON: what the document says (seller, buyer, event, lines), fixed when it was issued. */
  document: string;
  issued_at: Timestamp;
}

export interface CheckinListsTable {
  id: string;
  org_id: string;
  event_id: string;
  name: string;
  /** JSON array of ticket type ids; null admits every type. */
  ticket_type_ids: string | null;
  starts_at: Timestamp | null;
  ends_at: Timestamp | null;
  allow_reentry: Bool;
  is_default: Bool;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface TicketPresenceTable {
  ticket_id: string;
  list_id: string;
  inside: Bool;
  first_entry_at: Timestamp;
  first_gate: string | null;
  first_device: string;
  last_change_at: Timestamp;
}

export interface CheckinsTable {
  id: string;
  org_id: string;
  event_id: string | null;
  list_id: string | null;
  ticket_id: string | null;
  device_id: string;
  gate: string | null;
  direction: 'entry' | 'exit';
  result: string;
  offline: Bool;
  scanned_at: Timestamp;
  created_at: Timestamp;
  /** The device's id for an offline scan: each is applied once however often it is uploaded. */
  scan_id: string | null;
  offline_result: string | null;
  /** Admitted offline by the device, but already admitted on the list by another scan. */
  conflict: Generated<Bool>;
  /** JSON { at, gate, device_id } as answered. */
  first_used: string | null;
}

/** A share of an event's or a ticket type's counters (see migration 0014, modules/inventory). */
export interface InventorySlotsTable {
  owner_id: string;
  slot: number;
  /** Null only for an event without a capacity of its own. */
  capacity: number | null;
  sold: number;
  held: number;
}

/**
 * Hourly rollups of sales, tax and refunds per organization, kept by triggers (migration 0023) and read
 * by the analytics. `hour` is the UTC hour's start (ISO); `spread` splits a hot event's rows (sum over
 * it). Bigint sums: Postgres answers them as strings, so readers convert.
 */
export interface SalesHourlyTable {
  org_id: string;
  hour: Timestamp;
  currency: string;
  payment_method: string;
  /** The orders' utm_source, '' for none. */
  source: string;
  spread: number;
  orders: number | string;
  tickets: number | string;
  gross: number | string;
}

export interface TaxHourlyTable {
  org_id: string;
  hour: Timestamp;
  currency: string;
  tax_rate: number;
  spread: number;
  gross: number | string;
}

export interface RefundsHourlyTable {
  org_id: string;
  hour: Timestamp;
  currency: string;
  payment_method: string;
  source: string;
  spread: number;
  refunds: number | string;
  amount: number | string;
}

export interface FeedbackTable {
  id: string;
  org_id: string;
  /** usr_… or key_… of who sent it. */
  actor: string | null;
  message: string;
  email: string | null;
  event_id: string | null;
  order_id: string | null;
  /** The request it is about (its x-request-id), when given. */
  request_id: string | null;
  /** Sentry's id of the feedback, and of the error it was linked to (null: Sentry off, or no error known). */
  sentry_event_id: string | null;
  linked_event_id: string | null;
  created_at: string;
}

export interface MediaAssetsTable {
  id: string;
  org_id: string;
  event_id: string | null;
  role: 'cover' | 'gallery' | 'logo' | 'video';
  alt: string;
  position: number;
  status: 'processing' | 'ready' | 'failed';
  failure_reason: string | null;
  resource_type: 'image' | 'video';
  format: string;
  width: number | null;
  height: number | null;
  /** bigint: Postgres answers it as a string. */
  bytes: number | string;
  duration: number | null;
  hash: string;
  provider: 'local' | 'cloudinary';
  provider_id: string;
  version: string;
  /** JSON: a video's renditions once made ({ mp4, hls, poster }). */
  renditions: string | null;
  /** JSON array of strings. */
  notes: string;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** A discount code (migration 0035). */
export interface VouchersTable {
  id: string;
  org_id: string;
  code: string;
  event_id: string | null;
  ticket_type_ids: string | null;
  kind: 'percent' | 'amount' | 'price' | 'none';
  /** percent: basis points; amount and price: minor units. */
  value: number;
  per: 'ticket' | 'order';
  currency: string | null;
  unlocks_hidden: number;
  max_uses: number | null;
  max_uses_per_email: number | null;
  uses: number;
  /** Tickets of its one type held for its holders when made, and how many of them are still held. */
  reserved: number;
  reserved_left: number;
  valid_from: Timestamp | null;
  valid_until: Timestamp | null;
  active: number;
  comment: string | null;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface VoucherRedemptionsTable {
  id: string;
  org_id: string;
  voucher_id: string;
  order_id: string;
  email: string;
  discount: number;
  currency: string;
  status: 'active' | 'released';
  /** Of the order's tickets, how many came out of the code's reservation. */
  reserved: number;
  created_at: Timestamp;
  released_at: Timestamp | null;
}

/** Stripe's fees per hour and order currency (migration 0034, kept by triggers): see the analytics. */
export interface FeesHourlyTable {
  org_id: string;
  hour: string;
  currency: string;
  /** Payments whose fee is recorded (refunds' fees count in `fees` only). */
  payments: number | string;
  fees: number | string;
}

/** An organization's Google Analytics 4 web stream (migration 0033): where its e-commerce events go. */
export interface Ga4SettingsTable {
  org_id: string;
  measurement_id: string;
  api_secret: string;
  enabled: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookEndpointsTable {
  id: string;
  org_id: string;
  mode: 'push' | 'poll';
  /** Null for a poll endpoint. */
  url: string | null;
  last_polled_at: string | null;
  description: string;
  /** JSON array of event types, or ["*"]. */
  events: string;
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface PayoutsTable {
  id: string;
  status: string;
  /** bigint: Postgres answers it as a string. */
  amount: number | string;
  currency: string;
  arrival_date: string;
  failure_code: string | null;
  failure_message: string | null;
  created_at: string;
  updated_at: string;
  lines_loaded_at: string | null;
  /** The payouts job's failed tries to list its transactions, and when it may try again (null: now). */
  lines_attempts?: number;
  lines_next_try_at?: string | null;
  /** 0: a manual payout, whose transactions Stripe does not list by payout (so they are never linked). */
  automatic?: number;
}

export interface PayoutLinesTable {
  payout_id: string;
  balance_transaction_id: string;
  type: string;
  source: string | null;
  org_id: string | null;
  order_id: string | null;
  refund_id: string | null;
  amount: number | string;
  fee: number | string;
  net: number | string;
  currency: string;
}

export interface ReconciliationsTable {
  id: string;
  org_id: string;
  from_date: string;
  to_date: string;
  matched: number;
  mismatches: number;
  created_by: string | null;
  created_at: string;
}

export interface ReconciliationLinesTable {
  reconciliation_id: string;
  n: number;
  kind: string;
  order_id: string | null;
  refund_id: string | null;
  stripe_id: string | null;
  amount: number | string | null;
  currency: string | null;
  expected_amount: number | string | null;
  expected_currency: string | null;
  detail: string;
}

export interface Database {
  reconciliations: ReconciliationsTable;
  reconciliation_lines: ReconciliationLinesTable;
  payouts: PayoutsTable;
  payout_lines: PayoutLinesTable;
  webhook_endpoints: WebhookEndpointsTable;
  ga4_settings: Ga4SettingsTable;
  fees_hourly: FeesHourlyTable;
  vouchers: VouchersTable;
  voucher_redemptions: VoucherRedemptionsTable;
  media_assets: MediaAssetsTable;
  feedback: FeedbackTable;
  sales_hourly: SalesHourlyTable;
  tax_hourly: TaxHourlyTable;
  refunds_hourly: RefundsHourlyTable;
  inventory_slots: InventorySlotsTable;
  event_cancellations: EventCancellationsTable;
  users: UsersTable;
  organizations: OrganizationsTable;
  memberships: MembershipsTable;
  invitations: InvitationsTable;
  password_resets: PasswordResetsTable;
  refresh_tokens: RefreshTokensTable;
  api_keys: ApiKeysTable;
  allowed_origins: AllowedOriginsTable;
  login_throttle: LoginThrottleTable;
  idempotency_keys: IdempotencyKeysTable;
  server_secrets: ServerSecretsTable;
  events: EventsTable;
  ticket_types: TicketTypesTable;
  event_keys: EventKeysTable;
  orders: OrdersTable;
  order_items: OrderItemsTable;
  tickets: TicketsTable;
  refunds: RefundsTable;
  audit_log: AuditLogTable;
  outbox: OutboxTable;
  message_events: MessageEventsTable;
  suppressions: SuppressionsTable;
  message_templates: MessageTemplatesTable;
  contact_lists: ContactListsTable;
  campaigns: CampaignsTable;
  invoice_sequences: InvoiceSequencesTable;
  invoices: InvoicesTable;
  webhook_events: WebhookEventsTable;
  checkin_lists: CheckinListsTable;
  ticket_presence: TicketPresenceTable;
  checkins: CheckinsTable;
}

export type UserRow = Selectable<UsersTable>;
export type OrganizationRow = Selectable<OrganizationsTable>;
export type EventRow = Selectable<EventsTable>;
export type NewEvent = Insertable<EventsTable>;
export type EventUpdate = Updateable<EventsTable>;
export type TicketTypeRow = Selectable<TicketTypesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type InvitationRow = Selectable<InvitationsTable>;
/** `invoice_number` may be left out of a row built in code: the ledger writes it once the order is paid. */
type Attribution =
  | 'utm_source'
  | 'utm_medium'
  | 'utm_campaign'
  | 'referrer'
  | 'analytics'
  | 'voucher_id'
  | 'voucher_code'
  | 'discount_amount';
/** Stripe's figures of a payment or refund: filled in later (see payments/fees.ts), never when written. */
type Fees =
  | 'balance_transaction_id'
  | 'stripe_fee'
  | 'stripe_net'
  | 'settlement_currency'
  | 'exchange_rate'
  | 'fee_attempts'
  | 'fee_next_try_at';
export type OrderRow = Omit<
  Selectable<OrdersTable>,
  'invoice_number' | 'invoice_error' | Attribution | Fees
> & {
  invoice_number?: string | null;
} & Partial<Pick<Selectable<OrdersTable>, Attribution | Fees>>;
/** `list_amount` only where a code changed the price (so a sale without one keeps its statement's shape). */
export type OrderItemRow = Omit<Selectable<OrderItemsTable>, 'list_amount'> & { list_amount?: number | null };
export type TicketRow = Selectable<TicketsTable>;
export type RefundRow = Omit<Selectable<RefundsTable>, Fees> & Partial<Pick<Selectable<RefundsTable>, Fees>>;
export type CheckinListRow = Selectable<CheckinListsTable>;

/** A new ticket's code version; a transfer raises it, so a higher one marks a transferred ticket. */
export const FIRST_CODE_VERSION = 1;
