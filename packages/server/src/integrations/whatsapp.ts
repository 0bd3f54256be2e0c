import { createHmac, timingSafeEqual } from 'node:crypto';
import got, { type Got, RequestError } from 'got';
import pThrottle from 'p-throttle';
import { DeliveryError, type ProviderEvent } from '../modules/messaging/transport.js';

/**
 * The WhatsApp Business Cloud API (INTEGRATIONS.md "WhatsApp Business Cloud API"): sending messages and media
 * through the Graph API, and reading its webhooks. Retries belong to the messaging worker, so a failed call
 * throws a `DeliveryError` saying whether trying again can help.
 */

export interface WhatsAppCloudOptions {
  /** The Graph API with its version, e.g. `https://graph.facebook.com/v21.0`. */
  baseUrl: string;
  /** A system-user access token with `whatsapp_business_messaging`. */
  token: string;
  /** The sending number's id (not the phone number itself). */
  phoneNumberId: string;
  /** Signs the webhooks (`X-Hub-Signature-256`). */
  appSecret: string;
  /** What the webhook subscription handshake must present as `hub.verify_token`. */
  verifyToken?: string;
  /** For each HTTP request, whole. Default 10 000. */
  timeoutMs?: number;
  /** Messages sent per second at most; more wait their turn. Default 20. */
  perSecond?: number;
}

export interface SendOptions {
  /** Our message id: echoed back as `biz_opaque_callback_data` in status webhooks. */
  callbackData?: string;
  signal?: AbortSignal;
}

export interface WhatsAppTemplate {
  name: string;
  /** A template language code, e.g. `en_US`, `fr`. */
  language: string;
  /** Graph template components (header/body/button parameters), passed as they are. */
  components?: unknown[];
}

export interface WhatsAppButtons {
  body: string;
  header?: { imageId: string };
  footer?: string;
  /** One to three reply buttons; a title has at most 20 characters, an id at most 256. */
  buttons: { id: string; title: string }[];
}

export interface SentMessage {
  /** The wamid: status webhooks and replies (`context.id`) name the message by it. */
  providerMessageId: string;
}

/** A message someone sent to our number: a button press or a text. */
export interface InboundReply {
  /** E.164 with `+`. */
  from: string;
  providerMessageId: string;
  /** The wamid of our message this replies to (a button press always has one). */
  contextMessageId?: string;
  kind: 'button' | 'text';
  /** The reply button's id (interactive) or the quick-reply payload (template). */
  buttonId?: string;
  /** The button's title, or the text typed. */
  text: string;
  at: Date;
}

const BUTTON_TITLE_MAX = 20;
const BUTTON_ID_MAX = 256;
const INTERACTIVE_BODY_MAX = 1024;
const FOOTER_MAX = 60;

/**
 * Graph error codes that mean "later": throttling (4, 80007, 130429, 131048, 131056) and temporary failures
 * (1, 2). Graph answers some of these with a 400, which on its own would look final.
 */
const RETRYABLE_GRAPH_CODES = new Set([1, 2, 4, 80007, 130429, 131048, 131056]);

export class WhatsAppCloud {
  private readonly http: Got;
  private readonly phoneNumberId: string;
  private readonly appSecret: string;
  private readonly verifyToken: string | undefined;
  /** Resolves when a send may start; p-throttle keeps the queue. */
  private readonly sendSlot: () => Promise<void>;

  constructor(options: WhatsAppCloudOptions) {
    const perSecond = options.perSecond ?? 20;
    if (!(perSecond > 0)) throw new Error('WhatsAppCloud: perSecond must be positive');
    this.phoneNumberId = options.phoneNumberId;
    this.appSecret = options.appSecret;
    this.verifyToken = options.verifyToken;
    this.http = got.extend({
      prefixUrl: options.baseUrl,
      headers: { authorization: `Bearer ${options.token}` },
      timeout: { request: options.timeoutMs ?? 10_000 },
      retry: { limit: 0 },
      throwHttpErrors: false,
      responseType: 'text',
    });
    // Strict: no second-long window ever holds more than `perSecond` sends, not even across a window boundary.
    this.sendSlot = pThrottle({ limit: perSecond, interval: 1000, strict: true })(async () => {});
  }

  /** Uploads a file for later messages (it lives 30 days at Meta) and returns its media id. */
  async uploadMedia(
    content: Buffer,
    contentType: string,
    filename: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const form = new FormData();
    form.set('messaging_product', 'whatsapp');
    form.set('type', contentType);
    form.set('file', new Blob([content], { type: contentType }), filename);
    const body = await this.post(`${this.phoneNumberId}/media`, { body: form }, signal);
    const id = isRecord(body) ? body.id : undefined;
    if (typeof id !== 'string')
      throw new DeliveryError('WhatsApp media upload answered without an id', false);
    return id;
  }

  /** An approved template: the only kind of message allowed outside the 24-hour customer service window. */
  async sendTemplate(to: string, template: WhatsAppTemplate, opts?: SendOptions): Promise<SentMessage> {
    return this.send(
      to,
      {
        type: 'template',
        template: {
          name: template.name,
          language: { code: template.language },
          ...(template.components ? { components: template.components } : {}),
        },
      },
      opts,
    );
  }

  /** A message with up to three reply buttons; a press arrives as an `InboundReply` with the button's id. */
  async sendButtons(to: string, message: WhatsAppButtons, opts?: SendOptions): Promise<SentMessage> {
    checkButtons(message);
    return this.send(
      to,
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          ...(message.header ? { header: { type: 'image', image: { id: message.header.imageId } } } : {}),
          body: { text: message.body },
          ...(message.footer !== undefined ? { footer: { text: message.footer } } : {}),
          action: {
            buttons: message.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })),
          },
        },
      },
      opts,
    );
  }

  async sendText(to: string, body: string, opts?: SendOptions): Promise<SentMessage> {
    return this.send(to, { type: 'text', text: { body, preview_url: false } }, opts);
  }

  async sendImage(
    to: string,
    image: { mediaId: string; caption?: string },
    opts?: SendOptions,
  ): Promise<SentMessage> {
    return this.send(
      to,
      {
        type: 'image',
        image: { id: image.mediaId, ...(image.caption !== undefined ? { caption: image.caption } : {}) },
      },
      opts,
    );
  }

  /** Checks a webhook's `X-Hub-Signature-256` against this app's secret. */
  verifySignature(rawBody: Buffer, header: string | undefined): boolean {
    return verifyWhatsAppSignature(rawBody, header, this.appSecret);
  }

  /** The challenge to answer a subscription handshake with, or null (also when no verify token is set). */
  verifyHandshake(query: URLSearchParams): string | null {
    return this.verifyToken === undefined ? null : verifyWhatsAppHandshake(query, this.verifyToken);
  }

  private async send(to: string, message: Record<string, unknown>, opts: SendOptions = {}) {
    const recipient = toWhatsAppNumber(to);
    await this.waitForSlot(opts.signal);
    const json = {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: recipient,
      ...message,
      ...(opts.callbackData !== undefined ? { biz_opaque_callback_data: opts.callbackData } : {}),
    };
    const body = await this.post(`${this.phoneNumberId}/messages`, { json }, opts.signal);
    const messages = isRecord(body) ? body.messages : undefined;
    const first: unknown = Array.isArray(messages) ? messages[0] : undefined;
    const id = isRecord(first) ? first.id : undefined;
    // Accepted but unnamed: sending again could deliver it twice, so this is not retryable.
    if (typeof id !== 'string')
      throw new DeliveryError('WhatsApp accepted the message without a wamid', false);
    return { providerMessageId: id };
  }

  private async waitForSlot(signal: AbortSignal | undefined) {
    if (!signal) return this.sendSlot();
    if (signal.aborted) throw aborted(signal);
    // An abandoned wait still uses its slot when it comes round; p-throttle cannot take one call back.
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(aborted(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.sendSlot().then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private async post(
    path: string,
    payload: { json: Record<string, unknown> } | { body: FormData },
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let response: {
      statusCode: number;
      body: string;
      headers: Record<string, string | string[] | undefined>;
    };
    try {
      response = await this.http.post(path, { ...payload, ...(signal ? { signal } : {}) });
    } catch (err) {
      throw networkError(err, signal);
    }
    const body = parseJson(response.body);
    if (response.statusCode >= 200 && response.statusCode < 300) return body;
    throw httpError(response.statusCode, body, response.headers['retry-after']);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

function httpError(status: number, body: unknown, retryAfter: string | string[] | undefined): DeliveryError {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const code = typeof error?.code === 'number' ? error.code : undefined;
  const subcode = typeof error?.error_subcode === 'number' ? error.error_subcode : undefined;
  const details =
    isRecord(error?.error_data) && typeof error.error_data.details === 'string'
      ? error.error_data.details
      : undefined;
  const text = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  const codes =
    code === undefined ? '' : ` (code ${code}${subcode === undefined ? '' : `, subcode ${subcode}`})`;
  const retryable =
    status === 429 ||
    status >= 500 ||
    error?.is_transient === true ||
    (code !== undefined && RETRYABLE_GRAPH_CODES.has(code));
  const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  return new DeliveryError(
    `WhatsApp Cloud API ${status}: ${text}${codes}${details ? `: ${details}` : ''}`,
    retryable,
    { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
  );
}

/**
 * Timeouts, refused or reset connections and aborts: all worth another try. The cause is a plain copy of got's
 * error, whose `options` would carry the access token into logs.
 */
function networkError(err: unknown, signal: AbortSignal | undefined): DeliveryError {
  if (signal?.aborted) return aborted(signal);
  if (err instanceof RequestError) {
    const cause = Object.assign(new Error(err.message), { name: err.name, code: err.code });
    return new DeliveryError(`WhatsApp Cloud API unreachable: ${err.message}`, true, { cause });
  }
  return new DeliveryError(`WhatsApp Cloud API call failed: ${String(err)}`, true, { cause: err });
}

/** The worker gave up on the send (shutting down); whether Meta got it is unknown, so it may be tried again. */
function aborted(signal: AbortSignal): DeliveryError {
  return new DeliveryError('WhatsApp send aborted', true, { cause: signal.reason });
}

/** `Retry-After` in seconds or as an HTTP date. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

// ---------------------------------------------------------------------------------------------------------------
// Checks before sending
// ---------------------------------------------------------------------------------------------------------------

/** E.164 (`+33612345678`) to what Graph wants: digits only. */
function toWhatsAppNumber(to: string): string {
  const digits = to.startsWith('+') ? to.slice(1) : to;
  if (!/^[1-9]\d{5,14}$/.test(digits)) throw new DeliveryError(`Not an E.164 phone number: ${to}`, false);
  return digits;
}

/** Counts characters as Graph does: emoji are one each, not two UTF-16 units. */
const length = (s: string) => [...s].length;

function checkButtons(message: WhatsAppButtons): void {
  const invalid = (why: string) => new DeliveryError(`Invalid WhatsApp buttons message: ${why}`, false);
  if (message.buttons.length < 1 || message.buttons.length > 3)
    throw invalid(`${message.buttons.length} buttons; one to three are allowed`);
  const ids = new Set<string>();
  for (const b of message.buttons) {
    if (length(b.title) < 1 || length(b.title) > BUTTON_TITLE_MAX)
      throw invalid(`button title "${b.title}" must have 1 to ${BUTTON_TITLE_MAX} characters`);
    if (length(b.id) < 1 || length(b.id) > BUTTON_ID_MAX)
      throw invalid(`button id must have 1 to ${BUTTON_ID_MAX} characters`);
    if (ids.has(b.id)) throw invalid(`button id "${b.id}" is used twice`);
    ids.add(b.id);
  }
  if (length(message.body) < 1 || length(message.body) > INTERACTIVE_BODY_MAX)
    throw invalid(`body must have 1 to ${INTERACTIVE_BODY_MAX} characters`);
  if (message.footer !== undefined && length(message.footer) > FOOTER_MAX)
    throw invalid(`footer must have at most ${FOOTER_MAX} characters`);
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------------------------

/** Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, in constant time. */
export function verifyWhatsAppSignature(
  rawBody: Buffer,
  header: string | undefined,
  appSecret: string,
): boolean {
  const match = header ? /^sha256=([0-9a-f]{64})$/i.exec(header.trim()) : null;
  if (!match) return false;
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected);
}

/** The subscription handshake: the challenge to echo when `hub.mode=subscribe` and the token matches, else null. */
export function verifyWhatsAppHandshake(query: URLSearchParams, verifyToken: string): string | null {
  const challenge = query.get('hub.challenge');
  const token = query.get('hub.verify_token');
  if (query.get('hub.mode') !== 'subscribe' || challenge === null || token === null) return null;
  const given = Buffer.from(token);
  const wanted = Buffer.from(verifyToken);
  return given.length === wanted.length && timingSafeEqual(given, wanted) ? challenge : null;
}

const STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);

/**
 * Reads a webhook body (already signature-checked and JSON-parsed): delivery statuses of our messages become
 * `ProviderEvent`s, button presses and texts become `InboundReply`s. Anything else (other fields, message types
 * such as images or reactions, unknown statuses) is skipped.
 */
export function parseWhatsAppWebhook(body: unknown): { events: ProviderEvent[]; replies: InboundReply[] } {
  const events: ProviderEvent[] = [];
  const replies: InboundReply[] = [];
  if (!isRecord(body) || body.object !== 'whatsapp_business_account') return { events, replies };
  for (const entry of records(body.entry)) {
    for (const change of records(entry.changes)) {
      if (change.field !== 'messages' || !isRecord(change.value)) continue;
      for (const status of records(change.value.statuses)) {
        const event = statusEvent(status);
        if (event) events.push(event);
      }
      for (const message of records(change.value.messages)) {
        const reply = inboundReply(message);
        if (reply) replies.push(reply);
      }
    }
  }
  return { events, replies };
}

function statusEvent(s: Record<string, unknown>): ProviderEvent | null {
  if (typeof s.id !== 'string' || typeof s.status !== 'string' || !STATUSES.has(s.status)) return null;
  const status = s.status as 'sent' | 'delivered' | 'read' | 'failed';
  const event: ProviderEvent = {
    providerMessageId: s.id,
    status,
    at: fromUnixSeconds(s.timestamp),
    eventId: `${s.id}:${status}`,
  };
  if (typeof s.biz_opaque_callback_data === 'string') event.messageId = s.biz_opaque_callback_data;
  if (typeof s.recipient_id === 'string') event.address = `+${s.recipient_id}`;
  const error = records(s.errors)[0];
  if (error) {
    const text = typeof error.title === 'string' ? error.title : error.message;
    const details =
      isRecord(error.error_data) && typeof error.error_data.details === 'string'
        ? error.error_data.details
        : undefined;
    const code = typeof error.code === 'number' ? ` (${error.code})` : '';
    if (typeof text === 'string') event.reason = `${text}${code}${details ? `: ${details}` : ''}`;
  }
  return event;
}

function inboundReply(m: Record<string, unknown>): InboundReply | null {
  if (typeof m.from !== 'string' || typeof m.id !== 'string') return null;
  const base = {
    from: `+${m.from}`,
    providerMessageId: m.id,
    ...(isRecord(m.context) && typeof m.context.id === 'string' ? { contextMessageId: m.context.id } : {}),
    at: fromUnixSeconds(m.timestamp),
  };
  if (m.type === 'interactive' && isRecord(m.interactive)) {
    // A reply button, or a row of a list message: both carry the id we gave and the title shown.
    const reply = m.interactive.button_reply ?? m.interactive.list_reply;
    if (isRecord(reply) && typeof reply.id === 'string')
      return {
        ...base,
        kind: 'button',
        buttonId: reply.id,
        text: typeof reply.title === 'string' ? reply.title : '',
      };
  }
  if (m.type === 'button' && isRecord(m.button) && typeof m.button.text === 'string') {
    return {
      ...base,
      kind: 'button',
      ...(typeof m.button.payload === 'string' ? { buttonId: m.button.payload } : {}),
      text: m.button.text,
    };
  }
  if (m.type === 'text' && isRecord(m.text) && typeof m.text.body === 'string')
    return { ...base, kind: 'text', text: m.text.body };
  return null;
}

const OPT_OUT_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);

/**
 * A text that asks for no more messages, matched the way carriers match SMS keywords: the whole message is the
 * word (`stop`, ` Stop all `, `UNSUBSCRIBE.`), not a sentence that contains it.
 */
export function isOptOut(text: string): boolean {
  const word = text
    .normalize('NFKC')
    .toUpperCase()
    .replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '')
    .replace(/\s+/g, '');
  return OPT_OUT_WORDS.has(word);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading unknown JSON
// ---------------------------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function fromUnixSeconds(value: unknown): Date {
  const seconds = Number(value);
  return typeof value !== 'boolean' && value !== null && value !== '' && Number.isFinite(seconds)
    ? new Date(seconds * 1000)
    : new Date();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
