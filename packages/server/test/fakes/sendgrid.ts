/**
 * A local stand-in for the SendGrid v3 API (api.sendgrid.com) and for SendGrid's Event Webhook sender, so the real
 * `@sendgrid/mail` and `@sendgrid/client` are tested without the internet (INTEGRATIONS.md "SendGrid").
 *
 * Point the SDK at it with `client.setApiKey(fake.apiKey); client.setDefaultRequest('baseUrl', fake.url)`.
 *
 * What it imitates, and where it knowingly differs from SendGrid:
 * - `POST /v3/mail/send`: `Authorization: Bearer <key>` (401 otherwise), the checks SendGrid makes first
 *   (personalizations with a `to`, `from.email`, a subject and content unless there is a `template_id`, text/plain
 *   before text/html, base64 attachments, a `content_id` for inline ones, string custom args, ≤ 30 MB), errors as
 *   `{ errors: [{ message, field, help }] }`; success is 202 with an empty body and an `X-Message-Id` header.
 *   It checks far less than SendGrid (no address syntax, no header or category limits) and sends nothing.
 * - Marketing: `PUT /v3/marketing/contacts` → 202 `{ job_id }` (applied at once here; SendGrid takes minutes),
 *   `POST /v3/marketing/lists` → 201, `GET /v3/marketing/lists` paged by `page_size` / `page_token` with
 *   `_metadata.next`. Unknown list ids are refused with 400 (SendGrid's exact answer is unverified).
 * - Rate limits: a planned 429 carries `X-RateLimit-Limit/-Remaining/-Reset` as SendGrid does, and `Retry-After`
 *   only when the plan gives one (SendGrid does not send it).
 * - Failure plans (`failNext`, `setPlan`): a status with a SendGrid-style body, `hang` (never answers, records
 *   nothing) or extra latency, for the next requests whatever their path.
 * - Event Webhook: `sendEvents` POSTs a JSON array signed like SendGrid — ECDSA P-256 over SHA-256 of
 *   `timestamp + rawBody`, base64 DER in `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in
 *   `X-Twilio-Email-Event-Webhook-Timestamp` — one attempt, no retries.
 * Nothing here is a mock of the SDK: it is a real HTTP server on 127.0.0.1.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** SendGrid's error entry. */
export interface SendGridErrorEntry {
  message: string;
  field?: string | null;
  help?: string | null;
}

/** What the fake does with one request. A bare number is that status with a generic SendGrid error body. */
export type FakeSendGridOutcome =
  | 'ok'
  | 'hang'
  | number
  | { status: number; errors?: SendGridErrorEntry[]; retryAfterSeconds?: number }
  | { latencyMs: number };

export interface FakeRequest {
  method: string;
  path: string;
  body: unknown;
}

/** A mail SendGrid accepted. */
export interface FakeMail {
  /** The JSON body as posted (snake_case, as on the wire). */
  body: MailSendBody;
  xMessageId: string;
  at: Date;
}

export interface MailSendBody {
  personalizations: Array<{
    to: Array<{ email: string; name?: string }>;
    subject?: string;
    custom_args?: Record<string, string>;
    dynamic_template_data?: Record<string, unknown>;
  }>;
  from: { email: string; name?: string };
  reply_to?: { email: string; name?: string };
  subject?: string;
  content?: Array<{ type: string; value: string }>;
  template_id?: string;
  attachments?: Array<{
    content: string;
    filename: string;
    type?: string;
    disposition?: string;
    content_id?: string;
  }>;
  custom_args?: Record<string, string>;
  categories?: string[];
  headers?: Record<string, string>;
  [key: string]: unknown;
}

export interface FakeContact {
  email: string;
  first_name?: string;
  last_name?: string;
  custom_fields?: Record<string, unknown>;
  list_ids: string[];
}

export interface FakeList {
  id: string;
  name: string;
  contact_count: number;
}

/** An Event Webhook event as the caller describes it: anything left out is filled in. */
export type PartialSendGridEvent = Record<string, unknown> & {
  event: string;
  /** The mail the event is about: fills `email`, `sg_message_id`, custom args and categories from it. */
  mail?: FakeMail;
};

export interface SentWebhook {
  status: number;
  responseBody: string;
  rawBody: string;
  signature: string;
  timestamp: string;
  events: Record<string, unknown>[];
}

export interface FakeSendGrid {
  /** Base URL for the SDK, with a trailing slash. */
  url: string;
  apiKey: string;
  webhookKeys: {
    /** Base64 DER (SPKI), as SendGrid shows the verification key under Mail Settings. */
    publicKey: string;
    privateKey: KeyObject;
  };
  mails: FakeMail[];
  contacts: Map<string, FakeContact>;
  lists: FakeList[];
  /** Requests received, answered or not. */
  readonly requests: number;
  /** Outcomes for the next requests, in order (before any plan). */
  failNext(...outcomes: FakeSendGridOutcome[]): void;
  /** Decides each request once the `failNext` queue is empty; `undefined` means 'ok'. */
  setPlan(plan: ((req: FakeRequest) => FakeSendGridOutcome | undefined) | null): void;
  /** Delay before every answer, in milliseconds. */
  setLatency(ms: number): void;
  sendEvents(
    webhookUrl: string,
    events: PartialSendGridEvent[],
    opts?: { badSignature?: boolean; timestamp?: string },
  ): Promise<SentWebhook>;
  close(): Promise<void>;
}

export interface StartFakeSendGridOptions {
  apiKey?: string;
  latencyMs?: number;
  plan?: (req: FakeRequest) => FakeSendGridOutcome | undefined;
}

const MAX_BODY_BYTES = 30 * 1024 * 1024;
const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

/** Like SendGrid's X-Message-Id: 22 characters of URL-safe base64. */
function xMessageId(): string {
  return randomBytes(16).toString('base64url').slice(0, 22);
}

function mailErrors(body: unknown): SendGridErrorEntry[] {
  const errors: SendGridErrorEntry[] = [];
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return [{ message: 'Bad Request', field: null, help: null }];
  }
  const b = body as Partial<MailSendBody>;
  if (!Array.isArray(b.personalizations) || b.personalizations.length === 0) {
    errors.push({
      message: 'The personalizations field is required and must have at least one personalization.',
      field: 'personalizations',
      help: `${HELP}#-Personalizations-Errors`,
    });
  } else {
    b.personalizations.forEach((p, i) => {
      if (!Array.isArray(p?.to) || p.to.length === 0 || p.to.some((t) => typeof t?.email !== 'string')) {
        errors.push({
          message:
            'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
          field: `personalizations.${i}.to`,
          help: `${HELP}#message.personalizations.to`,
        });
      }
    });
  }
  if (typeof b.from?.email !== 'string' || b.from.email === '') {
    errors.push({
      message:
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.',
      field: 'from.email',
      help: `${HELP}#message.from`,
    });
  }
  const hasTemplate = typeof b.template_id === 'string' && b.template_id !== '';
  const everyPersonalizationHasSubject =
    Array.isArray(b.personalizations) && b.personalizations.every((p) => typeof p?.subject === 'string');
  if (
    !hasTemplate &&
    !(typeof b.subject === 'string' && b.subject !== '') &&
    !everyPersonalizationHasSubject
  ) {
    errors.push({
      message:
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      field: 'subject',
      help: `${HELP}#message.subject`,
    });
  }
  if (!hasTemplate && (!Array.isArray(b.content) || b.content.length === 0)) {
    errors.push({
      message:
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
      field: 'content',
      help: `${HELP}#message.content`,
    });
  }
  if (Array.isArray(b.content)) {
    const types = b.content.map((c) => c?.type);
    const html = types.indexOf('text/html');
    const plain = types.indexOf('text/plain');
    if (plain > 0 || (html >= 0 && plain > html)) {
      errors.push({
        message:
          'If present, text/plain content must be first, followed by text/html, followed by any other content.',
        field: 'content',
        help: `${HELP}#message.content`,
      });
    }
    b.content.forEach((c, i) => {
      if (typeof c?.value !== 'string' || c.value === '') {
        errors.push({
          message: 'The content value must be a string at least one character in length.',
          field: `content.${i}.value`,
          help: `${HELP}#message.content.value`,
        });
      }
    });
  }
  (b.attachments ?? []).forEach((a, i) => {
    if (typeof a?.content !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.content)) {
      errors.push({
        message: 'The attachment content must be base64 encoded.',
        field: `attachments.${i}.content`,
        help: `${HELP}#message.attachments.content`,
      });
    }
    if (typeof a?.filename !== 'string' || a.filename === '') {
      errors.push({
        message: 'The attachment filename parameter is required.',
        field: `attachments.${i}.filename`,
        help: `${HELP}#message.attachments.filename`,
      });
    }
    if (a?.disposition === 'inline' && !a.content_id) {
      errors.push({
        message: 'The content_id parameter is required when the disposition is inline.',
        field: `attachments.${i}.content_id`,
        help: `${HELP}#message.attachments.content_id`,
      });
    }
  });
  for (const [k, v] of Object.entries(b.custom_args ?? {})) {
    if (typeof v !== 'string') {
      errors.push({
        message: 'Invalid type. Expected: string, given: ' + typeof v + '.',
        field: `custom_args.${k}`,
        help: `${HELP}#message.custom_args`,
      });
    }
  }
  return errors;
}

export async function startFakeSendGrid(opts: StartFakeSendGridOptions = {}): Promise<FakeSendGrid> {
  const apiKey =
    opts.apiKey ?? `SG.fake_${randomBytes(8).toString('hex')}.${randomBytes(16).toString('hex')}`;
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const mails: FakeMail[] = [];
  const contacts = new Map<string, FakeContact>();
  const lists: FakeList[] = [];
  const queue: FakeSendGridOutcome[] = [];
  let plan = opts.plan ?? null;
  let latencyMs = opts.latencyMs ?? 0;
  let requests = 0;
  let url = '';

  function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }
  function fail(
    res: ServerResponse,
    status: number,
    errors: SendGridErrorEntry[],
    headers?: Record<string, string>,
  ) {
    json(res, status, { errors: errors.map((e) => ({ field: null, help: null, ...e })) }, headers);
  }

  function answerPlanned(res: ServerResponse, outcome: Exclude<FakeSendGridOutcome, 'ok' | 'hang'>): boolean {
    if (typeof outcome === 'object' && 'latencyMs' in outcome) return false;
    const status = typeof outcome === 'number' ? outcome : outcome.status;
    const given = typeof outcome === 'number' ? undefined : outcome;
    const headers: Record<string, string> = {};
    if (status === 429) {
      headers['x-ratelimit-limit'] = '600';
      headers['x-ratelimit-remaining'] = '0';
      headers['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000) + (given?.retryAfterSeconds ?? 1));
    }
    if (given?.retryAfterSeconds !== undefined) headers['retry-after'] = String(given.retryAfterSeconds);
    const message =
      status === 429 ? 'too many requests' : status >= 500 ? 'internal server error' : 'bad request';
    fail(res, status, given?.errors ?? [{ message }], headers);
    return true;
  }

  function handleMailSend(res: ServerResponse, body: unknown) {
    const errors = mailErrors(body);
    if (errors.length) return fail(res, 400, errors);
    const id = xMessageId();
    mails.push({ body: body as MailSendBody, xMessageId: id, at: new Date() });
    res.writeHead(202, { 'x-message-id': id, 'content-length': '0' }).end();
  }

  function handleContacts(res: ServerResponse, body: unknown) {
    const b = (body ?? {}) as { list_ids?: unknown; contacts?: unknown };
    if (!Array.isArray(b.contacts) || b.contacts.length === 0) {
      return fail(res, 400, [
        { field: 'contacts', message: 'contacts is required and must have at least one contact' },
      ]);
    }
    const listIds = b.list_ids === undefined ? [] : b.list_ids;
    if (!Array.isArray(listIds) || listIds.some((id) => !lists.some((l) => l.id === id))) {
      return fail(res, 400, [{ field: 'list_ids', message: 'one or more list ids do not exist' }]);
    }
    const bad = (b.contacts as Array<{ email?: unknown }>).findIndex((c) => typeof c?.email !== 'string');
    if (bad >= 0) return fail(res, 400, [{ field: `contacts[${bad}].email`, message: 'email is required' }]);
    for (const c of b.contacts as FakeContact[]) {
      const key = c.email.toLowerCase();
      const old = contacts.get(key);
      const merged: FakeContact = {
        ...old,
        ...c,
        list_ids: [...new Set([...(old?.list_ids ?? []), ...listIds])],
      };
      contacts.set(key, merged);
    }
    for (const l of lists)
      l.contact_count = [...contacts.values()].filter((c) => c.list_ids.includes(l.id)).length;
    json(res, 202, { job_id: randomUUID() });
  }

  function handleLists(res: ServerResponse, method: string, query: URLSearchParams, body: unknown) {
    if (method === 'POST') {
      const name = (body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || name === '')
        return fail(res, 400, [{ field: 'name', message: 'name is required' }]);
      if (lists.some((l) => l.name === name)) {
        return fail(res, 400, [{ field: 'name', message: 'a list with this name already exists' }]);
      }
      const list = { id: randomUUID(), name, contact_count: 0 };
      lists.push(list);
      return json(res, 201, { ...list, _metadata: { self: `${url}v3/marketing/lists/${list.id}` } });
    }
    const pageSize = Math.min(1000, Math.max(1, Number(query.get('page_size') ?? 100) || 100));
    const start = Number(query.get('page_token') ?? 0) || 0;
    const page = lists.slice(start, start + pageSize);
    const next = start + pageSize < lists.length ? start + pageSize : undefined;
    const metadata: Record<string, unknown> = {
      self: `${url}v3/marketing/lists?page_size=${pageSize}&page_token=${start}`,
      count: lists.length,
    };
    if (next !== undefined)
      metadata.next = `${url}v3/marketing/lists?page_size=${pageSize}&page_token=${next}`;
    json(res, 200, { result: page, _metadata: metadata });
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    requests++;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    }
    const target = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let badJson = false;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      badJson = true;
    }

    let outcome: FakeSendGridOutcome | undefined = queue.shift();
    if (outcome === undefined && plan) outcome = plan({ method, path: target.pathname, body });
    if (outcome === 'hang') return; // never answered; close() drops the connection
    const delay = latencyMs + (typeof outcome === 'object' && 'latencyMs' in outcome ? outcome.latencyMs : 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (outcome !== undefined && outcome !== 'ok' && answerPlanned(res, outcome)) return;

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return fail(res, 401, [
        { message: 'The provided authorization grant is invalid, expired, or revoked' },
      ]);
    }
    if (size > MAX_BODY_BYTES) {
      return fail(res, 413, [
        { message: 'The JSON payload you have included in your request is too large.' },
      ]);
    }
    if (badJson) return fail(res, 400, [{ message: 'Bad Request', field: null, help: null }]);

    const route = `${method} ${target.pathname.replace(/\/+$/, '')}`;
    switch (route) {
      case 'POST /v3/mail/send':
        return handleMailSend(res, body);
      case 'PUT /v3/marketing/contacts':
        return handleContacts(res, body);
      case 'POST /v3/marketing/lists':
      case 'GET /v3/marketing/lists':
        return handleLists(res, method, target.searchParams, body);
      default:
        return fail(res, 404, [{ message: 'resource not found' }]);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) fail(res, 500, [{ message: `fake SendGrid failed: ${(err as Error).message}` }]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  function fillEvent(e: PartialSendGridEvent): Record<string, unknown> {
    const { mail, ...given } = e;
    const filled: Record<string, unknown> = {
      timestamp: Math.floor(Date.now() / 1000),
      sg_event_id: randomBytes(16).toString('base64url'),
    };
    if (mail) {
      const p = mail.body.personalizations[0];
      filled.email = p?.to[0]?.email;
      filled.sg_message_id = `${mail.xMessageId}.filterdrecv-5bd8cd8b5d-2kjfs-1-65A0B3E1-2.0`;
      if (mail.body.categories) filled.category = mail.body.categories;
      // Custom args (message-wide, then per personalization) come back as top-level keys.
      Object.assign(filled, mail.body.custom_args, p?.custom_args);
    } else {
      filled.email = 'someone@example.com';
      filled.sg_message_id = `${xMessageId()}.filterdrecv-5bd8cd8b5d-2kjfs-1-65A0B3E1-2.0`;
    }
    return { ...filled, ...given };
  }

  return {
    url,
    apiKey,
    webhookKeys: { publicKey, privateKey: keys.privateKey },
    mails,
    contacts,
    lists,
    get requests() {
      return requests;
    },
    failNext(...outcomes) {
      queue.push(...outcomes);
    },
    setPlan(p) {
      plan = p;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    async sendEvents(webhookUrl, events, sendOpts = {}) {
      const filled = events.map(fillEvent);
      const rawBody = JSON.stringify(filled);
      const timestamp = sendOpts.timestamp ?? String(Math.floor(Date.now() / 1000));
      const signed = sendOpts.badSignature ? `${timestamp}${rawBody} ` : `${timestamp}${rawBody}`;
      // Node signs EC keys in DER by default: the form SendGrid sends.
      const signature = sign('sha256', Buffer.from(signed), keys.privateKey).toString('base64');
      const res = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'SendGrid Event API',
          'x-twilio-email-event-webhook-signature': signature,
          'x-twilio-email-event-webhook-timestamp': timestamp,
        },
        body: rawBody,
      });
      return {
        status: res.status,
        responseBody: await res.text(),
        rawBody,
        signature,
        timestamp,
        events: filled,
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
