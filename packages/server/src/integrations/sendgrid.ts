/**
 * SendGrid through its real SDKs (INTEGRATIONS.md "SendGrid"): transactional mail (`@sendgrid/mail`), Marketing
 * contacts and lists (`@sendgrid/client`), and the signed Event Webhook (`@sendgrid/eventwebhook`).
 *
 * Every class builds its own `Client` instead of the SDKs' shared default singletons, so two configurations
 * (two API keys, or a test fake next to the real API) can live in one process.
 */
import { Client } from '@sendgrid/client';
import { EventWebhook } from '@sendgrid/eventwebhook';
import { type MailDataRequired, MailService } from '@sendgrid/mail';
import {
  DeliveryError,
  type EmailMessage,
  type EmailTransport,
  type ProviderEvent,
  type SendResult,
  withSignal,
} from '../modules/messaging/transport.js';

export interface SendGridOptions {
  apiKey: string;
  /** Defaults to `https://api.sendgrid.com/`; tests point it at a local fake. */
  baseUrl?: string;
  /** Per request, in milliseconds (default 20 s). */
  timeoutMs?: number;
}

const DEFAULT_BASE_URL = 'https://api.sendgrid.com/';

function createClient(options: SendGridOptions): Client {
  const client = new Client();
  // setApiKey resets baseUrl to the global region, so it must come first.
  client.setApiKey(options.apiKey);
  client.setDefaultRequest('baseUrl', options.baseUrl ?? DEFAULT_BASE_URL);
  // Passed on to axios; the SDK's request type does not list it.
  const timeout = { timeout: options.timeoutMs ?? 20_000 };
  client.setDefaultRequest(timeout as unknown as Parameters<Client['setDefaultRequest']>[0]);
  return client;
}

/** Transactional e-mail through `POST /v3/mail/send`. */
export class SendGridEmail implements EmailTransport {
  readonly name = 'sendgrid';
  private readonly mail: MailService;

  constructor(options: SendGridOptions) {
    this.mail = new MailService();
    this.mail.setClient(createClient(options));
  }

  async send(message: EmailMessage, signal?: AbortSignal): Promise<SendResult> {
    const data = toMailData(message);
    const [response] = await withSignal(this.mail.send(data), signal).catch((err: unknown) => {
      throw toDeliveryError(err);
    });
    const id = header(response.headers, 'x-message-id');
    return { providerMessageId: id ?? null };
  }
}

/** The SDK's mail data for one message (exported for tests that check the mapping without a server). */
export function toMailData(message: EmailMessage): MailDataRequired {
  const headers: Record<string, string> = {};
  if (message.unsubscribeUrl) {
    headers['List-Unsubscribe'] = `<${message.unsubscribeUrl}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  const base = {
    to: message.to,
    from: message.from,
    ...(message.replyTo ? { replyTo: message.replyTo } : {}),
    // Snake case on purpose: the SDK sends attachments as given (its `contentId` type is wrong, and SendGrid
    // would refuse the inline image for lacking a `content_id`).
    attachments: message.attachments.map((a) => ({
      filename: a.filename,
      type: a.contentType,
      content: a.content.toString('base64'),
      ...(a.contentId ? { disposition: 'inline', content_id: a.contentId } : { disposition: 'attachment' }),
    })) as MailDataRequired['attachments'],
    // Comes back as a top-level `message_id` on every Event Webhook event (parseSendGridEvents).
    customArgs: { message_id: message.messageId },
    ...(message.categories?.length ? { categories: message.categories } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
  };
  if (message.dynamicTemplate) {
    // SendGrid renders subject and body from the template; sending ours too would be ignored or refused.
    return {
      ...base,
      templateId: message.dynamicTemplate.id,
      dynamicTemplateData: message.dynamicTemplate.data,
    };
  }
  // SendGrid wants text/plain first, then text/html, and refuses empty content values.
  const content = [
    { type: 'text/plain', value: message.text },
    { type: 'text/html', value: message.html },
  ].filter((c) => c.value !== '');
  return { ...base, subject: message.subject, content: content as [{ type: string; value: string }] };
}

export interface MarketingContact {
  email: string;
  first_name?: string;
  last_name?: string;
  /** Keyed by SendGrid's custom field id (e.g. `e1_T`), as the API wants. */
  custom_fields?: Record<string, string | number>;
}

export interface MarketingList {
  id: string;
  name: string;
  contactCount: number;
}

/** Marketing Campaigns contacts and lists (`/v3/marketing/…`). */
export class SendGridMarketing {
  private readonly client: Client;

  constructor(options: SendGridOptions) {
    this.client = createClient(options);
  }

  /** Adds or updates contacts (and adds them to lists); SendGrid does it later, in the job it answers with. */
  async upsertContacts(contacts: MarketingContact[], listIds?: string[]): Promise<{ jobId: string }> {
    const body = { ...(listIds?.length ? { list_ids: listIds } : {}), contacts };
    const res = await this.request<{ job_id: string }>({
      method: 'PUT',
      url: '/v3/marketing/contacts',
      body,
    });
    return { jobId: res.job_id };
  }

  async createList(name: string): Promise<{ id: string; name: string }> {
    const res = await this.request<{ id: string; name: string }>({
      method: 'POST',
      url: '/v3/marketing/lists',
      body: { name },
    });
    return { id: res.id, name: res.name };
  }

  /** Every list, following SendGrid's `page_token` pages. */
  async listLists(): Promise<MarketingList[]> {
    const lists: MarketingList[] = [];
    let pageToken: string | undefined;
    // Bounded, in case a server keeps answering with a `next` page.
    for (let page = 0; page < 1000; page++) {
      const res = await this.request<{
        result: Array<{ id: string; name: string; contact_count?: number }>;
        _metadata?: { next?: string };
      }>({
        method: 'GET',
        url: '/v3/marketing/lists',
        qs: { page_size: 1000, ...(pageToken ? { page_token: pageToken } : {}) },
      });
      for (const l of res.result) lists.push({ id: l.id, name: l.name, contactCount: l.contact_count ?? 0 });
      const next = res._metadata?.next;
      pageToken = next ? (new URL(next).searchParams.get('page_token') ?? undefined) : undefined;
      if (!pageToken) return lists;
    }
    throw new DeliveryError('SendGrid kept answering with more pages of lists', false);
  }

  private async request<T>(req: {
    method: 'GET' | 'POST' | 'PUT';
    url: string;
    body?: object;
    qs?: Record<string, string | number>;
  }): Promise<T> {
    try {
      const [, body] = await this.client.request(req);
      return body as T;
    } catch (err) {
      throw toDeliveryError(err);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** What the SDK rejects with when SendGrid answered ≥ 400 (`@sendgrid/helpers` ResponseError). */
interface SendGridResponseError {
  code: number;
  message: string;
  response: { headers: unknown; body: unknown };
}

function isResponseError(err: unknown): err is SendGridResponseError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'number' &&
    typeof (err as { response?: unknown }).response === 'object'
  );
}

/** Network failures axios reports (by Node's error code) — always worth another attempt. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED', // axios: the timeout fired
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_NETWORK',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

function toDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (isResponseError(err)) {
    const status = err.code;
    const body = err.response.body as { errors?: Array<{ message?: string; field?: string | null }> } | null;
    const details = Array.isArray(body?.errors)
      ? body.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ')
      : '';
    const retryAfterMs = retryAfter(err.response.headers);
    return new DeliveryError(
      `SendGrid answered ${status} ${err.message}${details ? ` — ${details}` : ''}`,
      status === 429 || status === 408 || status >= 500,
      { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), cause: err },
    );
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && NETWORK_CODES.has(code)) {
    // Not the axios error itself as the cause: its `config` holds the Authorization header.
    return new DeliveryError(`SendGrid could not be reached: ${message}`, true, {
      cause: Object.assign(new Error(message), { code }),
    });
  }
  // The SDK refusing our data before sending (e.g. a malformed attachment), or something unknown.
  return new DeliveryError(`SendGrid send failed: ${message}`, false, { cause: new Error(message) });
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const value =
    (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  if (Array.isArray(value)) return value[0] === undefined ? undefined : String(value[0]);
  return value === undefined || value === null ? undefined : String(value);
}

/** `Retry-After` (seconds or an HTTP date), else SendGrid's own `X-RateLimit-Reset` (unix seconds). */
function retryAfter(headers: unknown, now = Date.now()): number | undefined {
  const ra = header(headers, 'retry-after');
  if (ra !== undefined) {
    if (/^\d+$/.test(ra.trim())) return Number(ra) * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = header(headers, 'x-ratelimit-reset');
  if (reset !== undefined && /^\d+$/.test(reset.trim())) return Math.max(0, Number(reset) * 1000 - now);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Event Webhook
// ---------------------------------------------------------------------------------------------------------------

const eventWebhook = new EventWebhook();
let cachedKey: { source: string; key: ReturnType<EventWebhook['convertPublicKeyToECDSA']> } | undefined;

/**
 * Whether an Event Webhook POST was signed by SendGrid: an ECDSA P-256 signature (base64 DER, header
 * `X-Twilio-Email-Event-Webhook-Signature`) over `timestamp + rawBody` (timestamp from
 * `X-Twilio-Email-Event-Webhook-Timestamp`). `publicKey` is the verification key as SendGrid shows it under
 * Mail Settings (base64 DER), or a PEM.
 *
 * Also refuses a timestamp older than `maxAgeSeconds` (10 minutes), against replays — but only when it is
 * unix seconds, the form SendGrid sends; anything else is left to the signature alone. Unverified: whether
 * SendGrid re-signs a retried delivery with a fresh timestamp (it retries for up to 24 h); if it does not,
 * a slow retry is refused here and lost, so callers that care may raise `maxAgeSeconds`.
 */
export function verifySendGridWebhook(
  publicKey: string,
  rawBody: Buffer,
  signature: string | undefined,
  timestamp: string | undefined,
  options: { maxAgeSeconds?: number; now?: number } = {},
): boolean {
  if (!signature || !timestamp) return false;
  if (/^\d+$/.test(timestamp)) {
    const ageSeconds = (options.now ?? Date.now()) / 1000 - Number(timestamp);
    if (ageSeconds > (options.maxAgeSeconds ?? 600)) return false;
  }
  try {
    if (cachedKey?.source !== publicKey) {
      cachedKey = { source: publicKey, key: eventWebhook.convertPublicKeyToECDSA(publicKey) };
    }
    return eventWebhook.verifySignature(cachedKey.key, rawBody, signature, timestamp);
  } catch {
    // A malformed key or signature (not base64 DER) is simply not a valid signature.
    return false;
  }
}

const EVENT_STATUS: Record<string, ProviderEvent['status']> = {
  processed: 'sent',
  delivered: 'delivered',
  open: 'opened',
  click: 'clicked',
  bounce: 'bounced',
  dropped: 'dropped',
  deferred: 'deferred',
  spamreport: 'spamreport',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
};

/**
 * The Event Webhook's JSON array, normalised. Events we do not act on (`group_resubscribe`, unknown kinds) and
 * entries that are not objects are skipped; a body that is not an array gives no events.
 */
export function parseSendGridEvents(body: unknown): ProviderEvent[] {
  if (!Array.isArray(body)) return [];
  const events: ProviderEvent[] = [];
  for (const raw of body) {
    if (!raw || typeof raw !== 'object') continue;
    const e = raw as Record<string, unknown>;
    const status = typeof e.event === 'string' ? EVENT_STATUS[e.event] : undefined;
    if (!status) continue;
    const event: ProviderEvent = {
      status,
      at: typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : new Date(),
    };
    // Custom args come back as top-level keys of the event.
    if (typeof e.message_id === 'string') event.messageId = e.message_id;
    // `<X-Message-Id>.<filter/recv suffix>`: the part before the first dot is what the send answered with.
    if (typeof e.sg_message_id === 'string') event.providerMessageId = e.sg_message_id.split('.')[0];
    if (typeof e.email === 'string') event.address = e.email;
    const reason =
      typeof e.reason === 'string' ? e.reason : typeof e.response === 'string' ? e.response : undefined;
    if (reason) event.reason = reason;
    // `bounce` events carry type `bounce` (the address refuses mail for good) or `blocked` (this message,
    // perhaps for reputation or content — the address may accept later). Anything else is not taken as hard.
    if (status === 'bounced') event.hard = e.type === 'bounce';
    if (typeof e.sg_event_id === 'string') event.eventId = e.sg_event_id;
    events.push(event);
  }
  return events;
}
