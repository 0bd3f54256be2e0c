import type { WebhookEvent } from './contract/webhooks.js';

/**
 * Webhook signatures, as Standard Webhooks (https://www.standardwebhooks.com) defines them and the server
 * signs every delivery:
 *
 *   webhook-id         msg_…, the same on every attempt of one delivery (deduplicate on it)
 *   webhook-timestamp  when this attempt was signed, Unix seconds
 *   webhook-signature  `v1,<base64 HMAC-SHA256>`, space-separated; during a secret rotation there is one
 *                      per secret, and any one that matches will do
 *
 * The HMAC key is the base64-decoded part of the secret after `whsec_`; what is signed is
 * `${webhook-id}.${webhook-timestamp}.${body}`, the body exactly as it was received.
 *
 * The global WebCrypto (browsers, Node 20+, Deno, Bun, edge runtimes), not node:crypto: the SDK's entry
 * must bundle for a browser.
 */

export type WebhookVerificationErrorCode =
  | 'missing_headers'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'no_matching_signature'
  | 'invalid_payload';

/** A delivery that could not be verified: answer it with a 400 and do nothing else with it. */
export class WebhookVerificationError extends Error {
  /** What was wrong, for code. */
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

/** The request's headers: a fetch Headers, or a plain object such as Node's `req.headers`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far the timestamp may be from now, either way, in seconds (default 300: replays are refused). */
  toleranceSeconds?: number;
  /** The time to check against (default: now). */
  now?: Date;
}

const SECRET_PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keyCache = new Map<string, Promise<HmacKey>>();

/** The HMAC key of a `whsec_…` secret (a bare base64 key is taken too, as the Standard Webhooks libraries do). */
function importSecret(secret: string): Promise<HmacKey> {
  let key = keyCache.get(secret);
  if (!key) {
    if (typeof secret !== 'string' || secret.trim() === '')
      throw new TypeError('The webhook secret is empty: pass the whsec_… secret of the endpoint');
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = fromBase64(encoded);
    } catch {
      throw new TypeError('The webhook secret is not a whsec_… secret (its key is not base64)');
    }
    if (bytes.byteLength === 0)
      throw new TypeError('The webhook secret is not a whsec_… secret (its key is empty)');
    key = crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    if (keyCache.size >= 100) keyCache.clear();
    keyCache.set(secret, key);
  }
  return key;
}

/** The bytes signed: `${id}.${timestamp}.` and then the body as it came (bytes are not re-encoded). */
function signedContent(id: string, timestamp: string, payload: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(`${id}.${timestamp}.`);
  const body = typeof payload === 'string' ? encoder.encode(payload) : payload;
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head, 0);
  out.set(body, head.byteLength);
  return out;
}

async function hmac(secret: string, id: string, timestamp: string, payload: string | Uint8Array) {
  const key = await importSecret(secret);
  return new Uint8Array(
    await crypto.subtle.sign('HMAC', key, signedContent(id, timestamp, payload)),
  ) as Uint8Array<ArrayBuffer>;
}

/** Compares every byte whatever differs first, so the time taken does not tell how much of a guess was right. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** A header's value from a Headers or a plain object (any case of its name); several values joined by a space. */
function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function')
    return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined)
    for (const [k, v] of Object.entries(record))
      if (k.toLowerCase() === name) {
        value = v;
        break;
      }
  if (Array.isArray(value)) return value.length ? value.join(' ') : undefined;
  return value;
}

/**
 * The `webhook-signature` value for a delivery: `v1,<base64 HMAC-SHA256>` of `${id}.${timestamp}.${payload}`
 * with the key of `secret` (`whsec_…`). The server signs with it; a test, or a local relay, can too.
 *
 * @param timestamp Unix seconds, or a Date.
 * @example
 * const body = JSON.stringify(event)
 * const headers = { 'webhook-id': 'msg_…', 'webhook-timestamp': String(now), 'webhook-signature': await signWebhook('msg_…', now, body, secret) }
 */
export async function signWebhook(
  id: string,
  timestamp: number | Date,
  payload: string | Uint8Array,
  secret: string,
): Promise<string> {
  const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : timestamp;
  if (!Number.isSafeInteger(seconds)) throw new TypeError('The timestamp must be whole Unix seconds');
  return `v1,${toBase64(await hmac(secret, id, String(seconds), payload))}`;
}

/**
 * Checks that a delivery came from the tickets server, unchanged and recently, and returns its event.
 * Pass the body exactly as received — the raw string or bytes, never the result of parsing and
 * stringifying it again — the request's headers, and the endpoint's `whsec_…` secret.
 *
 * Throws a WebhookVerificationError (answer 400) when a header is missing, the timestamp is more than
 * `toleranceSeconds` (300) away from now either way, no signature matches the secret, or the body is not
 * a JSON object. During a secret rotation the server signs with both secrets, so either verifies.
 *
 * Deliveries are at least once: the same `webhook-id` header may come again; handle each id once.
 *
 * @example
 * app.post('/hooks/tickets', express.raw({ type: 'application/json' }), async (req, res) => {
 *   let event
 *   try {
 *     event = await verifyWebhook(req.body, req.headers, process.env.TICKETS_WEBHOOK_SECRET!)
 *   } catch (err) {
 *     if (err instanceof WebhookVerificationError) return res.status(400).send(err.code)
 *     throw err
 *   }
 *   if (event.type === 'order.paid') await fulfil(event.data.object)
 *   res.sendStatus(204)
 * })
 * @example const event = await verifyWebhook(await request.text(), request.headers, secret) // fetch-style handlers
 */
export async function verifyWebhook<T = unknown>(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent<T>> {
  const id = header(headers, 'webhook-id')?.trim();
  const timestamp = header(headers, 'webhook-timestamp')?.trim();
  const signatures = header(headers, 'webhook-signature')?.trim();
  const missing = [
    !id && 'webhook-id',
    !timestamp && 'webhook-timestamp',
    !signatures && 'webhook-signature',
  ].filter(Boolean);
  if (missing.length)
    throw new WebhookVerificationError(
      'missing_headers',
      `The request has no ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}`,
    );
  if (!/^\d{1,15}$/.test(timestamp!))
    throw new WebhookVerificationError(
      'missing_headers',
      'The webhook-timestamp header is not a time in Unix seconds',
    );

  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const sent = Number(timestamp);
  if (now - sent > tolerance)
    throw new WebhookVerificationError(
      'timestamp_too_old',
      `The delivery was signed ${now - sent} seconds ago, more than the ${tolerance} allowed (a replay, or a clock far off)`,
    );
  if (sent - now > tolerance)
    throw new WebhookVerificationError(
      'timestamp_in_future',
      `The delivery is signed ${sent - now} seconds in the future, more than the ${tolerance} allowed (a clock far off)`,
    );

  const expected = await hmac(secret, id!, timestamp!, payload);
  let matched = false;
  // Space-separated; a Headers that got the header twice joins them with ", " (base64 has no comma).
  for (const part of signatures!.split(/\s+/).map((p) => p.replace(/,$/, ''))) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    let candidate: Uint8Array;
    try {
      candidate = fromBase64(part.slice(comma + 1));
    } catch {
      continue;
    }
    // Every candidate is compared: how long it takes does not say which one matched.
    matched = equalBytes(candidate, expected) || matched;
  }
  if (!matched)
    throw new WebhookVerificationError(
      'no_matching_signature',
      'No signature matches the secret: the body was changed, or the secret is not this endpoint’s',
    );

  let event: unknown;
  try {
    const text =
      typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: true }).decode(payload);
    event = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'The body is not JSON');
  }
  if (!event || typeof event !== 'object' || Array.isArray(event))
    throw new WebhookVerificationError('invalid_payload', 'The body is not a JSON object');
  return event as WebhookEvent<T>;
}

// atob and btoa: in browsers and in Node since 16. A signature is a few dozen bytes.
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
