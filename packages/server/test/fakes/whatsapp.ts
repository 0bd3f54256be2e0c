/**
 * A local stand-in for the WhatsApp Business Cloud API (graph.facebook.com/v21.0/{phone-number-id}/…) and for
 * Meta's webhook sender, so `WhatsAppCloud` is tested over real HTTP without the internet (INTEGRATIONS.md
 * "WhatsApp Business Cloud API"). A real HTTP server on 127.0.0.1; nothing here mocks the client.
 *
 * What it imitates:
 * - `POST /{phone-number-id}/messages` (text, template, interactive reply buttons, image) and
 *   `POST /{phone-number-id}/media` (multipart), with `Authorization: Bearer`, and the checks the real API makes
 *   on what we send: `messaging_product`, `to`, template name and language, one to three buttons with titles of
 *   at most 20 characters, unique ids, … Errors are Graph errors:
 *   `{ error: { message, type: 'OAuthException', code, error_subcode?, error_data?, fbtrace_id } }`.
 * - Accepted messages answer `{ messaging_product, contacts: [{ input, wa_id }], messages: [{ id: 'wamid.…' }] }`.
 * - Webhooks: status updates and inbound replies in the Cloud API's envelope
 *   (`object: 'whatsapp_business_account'`, `entry[].changes[].value`), posted compact with non-ASCII escaped as
 *   `\uXXXX` (as Meta does), signed `X-Hub-Signature-256: sha256=<hex>` with the app secret. Status webhooks
 *   echo the message's `biz_opaque_callback_data`, as Meta does.
 *
 * Where it knowingly differs:
 * - Nothing is delivered and no status is ever sent on its own: tests call `sendStatus` / `sendReply`.
 * - No 24-hour customer-service window, no quality rating, no per-recipient pair rate limit, no media expiry;
 *   an unknown media id in a message is accepted (Meta reports that later, as a failed status).
 * - Templates are known by name only when `templates` is given; otherwise any name is accepted.
 * - Meta rarely sends `Retry-After`; the fake sends one only when a failure asks for it. Error subcodes are
 *   illustrative, not Meta's exact ones; codes and messages follow Meta's documented ones.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const VERSION = 'v21.0';
const MAX_BODY = 20 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export interface FakeTemplatePayload {
  name: string;
  language: { code: string };
  components?: unknown[];
}

export interface FakeInteractivePayload {
  type: 'button';
  header?: { type: string; image?: { id?: string; link?: string }; text?: string };
  body: { text: string };
  footer?: { text: string };
  action: { buttons: { type: 'reply'; reply: { id: string; title: string } }[] };
}

/** A message the fake accepted. */
export interface FakeWhatsAppMessage {
  wamid: string;
  /** As sent: digits only. */
  to: string;
  type: 'text' | 'template' | 'interactive' | 'image';
  text?: { body: string; preview_url?: boolean };
  template?: FakeTemplatePayload;
  interactive?: FakeInteractivePayload;
  image?: { id?: string; link?: string; caption?: string };
  /** `biz_opaque_callback_data`. */
  callbackData?: string;
  /** The whole JSON request body. */
  body: Record<string, unknown>;
  at: Date;
}

export interface FakeWhatsAppMedia {
  id: string;
  contentType: string;
  filename: string;
  bytes: Buffer;
}

/** How the fake answers one API request. */
export type FakeWhatsAppAnswer =
  /** Normally. */
  | 'ok'
  /** Never: the request is left open (until the client gives up or `close()`), and nothing is recorded. */
  | 'hang'
  /** Normally, after a delay (the message is recorded even if the client has stopped waiting, as at Meta). */
  | { latencyMs: number }
  /** An error; `body` defaults to a Graph error fitting the status (429 → code 130429, 5xx → code 2). */
  | { status: number; body?: unknown; retryAfterSeconds?: number };

export interface FakeWhatsAppRequest {
  method: string;
  /** Without the version, e.g. `/123456/messages`. */
  path: string;
  /** 1 for the first API request the fake received. */
  n: number;
}

export interface WebhookDelivery {
  status: number;
  body: string;
  /** The exact bytes posted. */
  raw: string;
  signature: string | undefined;
}

export interface WebhookOptions {
  /** `wrong`: signed with another secret; `none`: no `X-Hub-Signature-256` header. Default `valid`. */
  signature?: 'valid' | 'wrong' | 'none';
}

export interface StatusExtra extends WebhookOptions {
  /** Unix seconds. Default now. */
  timestamp?: number;
  /** Default: the recipient the message was sent to (required for a wamid the fake did not issue). */
  recipientId?: string;
  /** Default: what the message was sent with. */
  callbackData?: string;
  /** For `failed`. Default: 131026 "Message undeliverable". */
  error?: { code: number; title: string; message?: string; details?: string };
}

export type ReplyInput = {
  /** E.164 with or without `+`. */
  from: string;
  /** The wamid of our message this answers. */
  contextWamid?: string;
  /** The sender's WhatsApp profile name. */
  name?: string;
  timestamp?: number;
} & (
  | { button: { id: string; title: string } }
  | { quickReply: { payload: string; text: string } }
  | { text: string }
);

export interface FakeWhatsApp {
  /** Base URL with the API version, like https://graph.facebook.com/v21.0. */
  readonly url: string;
  readonly token: string;
  readonly phoneNumberId: string;
  readonly displayPhoneNumber: string;
  readonly wabaId: string;
  readonly appSecret: string;
  readonly verifyToken: string;
  readonly messages: readonly FakeWhatsAppMessage[];
  readonly media: readonly FakeWhatsAppMedia[];
  /** API requests received so far, answered or not. */
  readonly requests: number;
  /** The next `n` API requests fail with `status`. */
  failNext(n: number, status: number, opts?: { body?: unknown; retryAfterSeconds?: number }): void;
  /** Decides each API request's answer (after any `failNext`); `undefined` or `null` plan means `'ok'`. */
  plan(decide: ((request: FakeWhatsAppRequest) => FakeWhatsAppAnswer | undefined) | null): void;
  /** Every answer waits this long first. */
  setLatency(ms: number): void;
  /** Posts a status update for a message, as Meta does when it is sent, delivered, read or has failed. */
  sendStatus(
    webhookUrl: string,
    wamid: string,
    status: 'sent' | 'delivered' | 'read' | 'failed',
    extra?: StatusExtra,
  ): Promise<WebhookDelivery>;
  /** Posts an inbound message: a reply-button press, a template quick-reply press, or a text. */
  sendReply(webhookUrl: string, reply: ReplyInput, opts?: WebhookOptions): Promise<WebhookDelivery>;
  /** Posts any payload (an object is serialised as Meta does), signed per `opts`. */
  deliver(webhookUrl: string, payload: unknown, opts?: WebhookOptions): Promise<WebhookDelivery>;
  /** `sha256=<hex>` for a raw body. */
  sign(raw: string | Buffer, secret?: string): string;
  close(): Promise<void>;
}

export interface StartFakeWhatsAppOptions {
  token?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
  appSecret?: string;
  verifyToken?: string;
  /** Approved templates: name → language codes. Without it, any template is accepted. */
  templates?: Record<string, string[]>;
}

// ---------------------------------------------------------------------------------------------------------------
// Graph errors
// ---------------------------------------------------------------------------------------------------------------

class GraphError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: number,
    readonly extra: { error_subcode?: number; details?: string; is_transient?: boolean } = {},
  ) {
    super(message);
  }

  toBody() {
    const { details, ...rest } = this.extra;
    return {
      error: {
        message: this.message,
        type: 'OAuthException',
        code: this.code,
        ...rest,
        ...(details !== undefined ? { error_data: { messaging_product: 'whatsapp', details } } : {}),
        fbtrace_id: randomBytes(8).toString('base64url'),
      },
    };
  }
}

/** Meta's generic answer to a malformed parameter: (#100) Invalid parameter, with details saying which. */
const invalid = (details: string) => new GraphError(400, '(#100) Invalid parameter', 100, { details });
const required = (param: string) =>
  new GraphError(400, `(#100) The parameter ${param} is required.`, 100, { error_subcode: 2494010 });

function defaultFailureBody(status: number): object {
  if (status === 429)
    return new GraphError(429, '(#130429) Rate limit hit', 130429, {
      details: 'Cloud API message throughput has been reached.',
    }).toBody();
  if (status === 401)
    return new GraphError(401, 'Error validating access token: Session has expired.', 190, {
      error_subcode: 463,
    }).toBody();
  if (status >= 500)
    return new GraphError(status, 'An unexpected error has occurred. Please retry your request later.', 2, {
      is_transient: true,
    }).toBody();
  return new GraphError(status, '(#131000) Something went wrong', 131000).toBody();
}

// ---------------------------------------------------------------------------------------------------------------
// Request validation (what the real API refuses of what we send)
// ---------------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const chars = (s: string) => [...s].length;

function nonEmptyString(value: unknown, param: string, max?: number): string {
  if (typeof value !== 'string' || value === '') throw required(param);
  if (max !== undefined && chars(value) > max)
    throw invalid(`${param} length invalid. Min length: 1, Max length: ${max}`);
  return value;
}

function validateTemplate(t: unknown, templates: Record<string, string[]> | undefined): FakeTemplatePayload {
  if (!isRecord(t)) throw required("template['name']");
  const name = nonEmptyString(t.name, "template['name']", 512);
  if (!isRecord(t.language)) throw required("template['language']");
  const code = nonEmptyString(t.language.code, "template['language']['code']");
  if (t.components !== undefined && !Array.isArray(t.components))
    throw invalid("template['components'] must be an array");
  if (templates && !templates[name]?.includes(code))
    throw new GraphError(404, '(#132001) Template name does not exist in the translation', 132001, {
      details: `template name (${name}) does not exist in ${code}`,
    });
  return {
    name,
    language: { code },
    ...(Array.isArray(t.components) ? { components: t.components as unknown[] } : {}),
  };
}

function validateInteractive(i: unknown): FakeInteractivePayload {
  if (!isRecord(i)) throw required('interactive');
  if (i.type !== 'button') throw invalid("interactive['type']: only 'button' is imitated here");
  if (!isRecord(i.body)) throw required("interactive['body']");
  const body = nonEmptyString(i.body.text, "interactive['body']['text']", 1024);
  let footer: { text: string } | undefined;
  if (i.footer !== undefined) {
    if (!isRecord(i.footer)) throw invalid("interactive['footer'] must be an object");
    footer = { text: nonEmptyString(i.footer.text, "interactive['footer']['text']", 60) };
  }
  let header: FakeInteractivePayload['header'];
  if (i.header !== undefined) {
    if (!isRecord(i.header) || typeof i.header.type !== 'string')
      throw required("interactive['header']['type']");
    if (i.header.type === 'image') {
      const image = i.header.image;
      if (!isRecord(image) || (typeof image.id !== 'string' && typeof image.link !== 'string'))
        throw required("interactive['header']['image']['id'] or ['link']");
      header = {
        type: 'image',
        image: {
          ...(typeof image.id === 'string' ? { id: image.id } : {}),
          ...(typeof image.link === 'string' ? { link: image.link } : {}),
        },
      };
    } else if (i.header.type === 'text') {
      header = { type: 'text', text: nonEmptyString(i.header.text, "interactive['header']['text']", 60) };
    } else throw invalid(`interactive['header']['type'] ${i.header.type} is not imitated here`);
  }
  if (!isRecord(i.action) || !Array.isArray(i.action.buttons))
    throw required("interactive['action']['buttons']");
  const raw: unknown[] = i.action.buttons;
  if (raw.length < 1 || raw.length > 3)
    throw invalid('Buttons count invalid. Min allowed buttons: 1, Max allowed buttons: 3');
  const buttons = raw.map((b) => {
    if (!isRecord(b) || b.type !== 'reply' || !isRecord(b.reply))
      throw invalid("interactive['action']['buttons'][]: each must be {type:'reply', reply:{id,title}}");
    return {
      type: 'reply' as const,
      reply: {
        id: nonEmptyString(b.reply.id, 'Button id', 256),
        title: nonEmptyString(b.reply.title, 'Button title', 20),
      },
    };
  });
  if (new Set(buttons.map((b) => b.reply.id)).size !== buttons.length) throw invalid('Duplicate buttons ids');
  if (new Set(buttons.map((b) => b.reply.title)).size !== buttons.length)
    throw invalid('Duplicate buttons titles');
  return {
    type: 'button',
    ...(header ? { header } : {}),
    body: { text: body },
    ...(footer ? { footer } : {}),
    action: { buttons },
  };
}

function validateMessage(
  body: Json,
  templates: Record<string, string[]> | undefined,
): Omit<FakeWhatsAppMessage, 'wamid' | 'at'> {
  if (body.messaging_product !== 'whatsapp') throw required('messaging_product');
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual')
    throw invalid(`recipient_type ${String(body.recipient_type)} is not imitated here`);
  const to = nonEmptyString(body.to, 'to');
  if (!/^\d{6,15}$/.test(to)) throw invalid(`Recipient phone number ${to} is not a valid number`);
  let callbackData: string | undefined;
  if (body.biz_opaque_callback_data !== undefined)
    callbackData = nonEmptyString(body.biz_opaque_callback_data, 'biz_opaque_callback_data', 512);
  const type = body.type ?? 'text';
  const common = { to, body, ...(callbackData !== undefined ? { callbackData } : {}) };
  switch (type) {
    case 'text': {
      if (!isRecord(body.text)) throw required("text['body']");
      const text = nonEmptyString(body.text.body, "text['body']", 4096);
      return {
        ...common,
        type: 'text',
        text: {
          body: text,
          ...(typeof body.text.preview_url === 'boolean' ? { preview_url: body.text.preview_url } : {}),
        },
      };
    }
    case 'template':
      return { ...common, type: 'template', template: validateTemplate(body.template, templates) };
    case 'interactive':
      return { ...common, type: 'interactive', interactive: validateInteractive(body.interactive) };
    case 'image': {
      const image = body.image;
      if (!isRecord(image) || (typeof image.id !== 'string' && typeof image.link !== 'string'))
        throw required("image['id'] or image['link']");
      return {
        ...common,
        type: 'image',
        image: {
          ...(typeof image.id === 'string' ? { id: image.id } : {}),
          ...(typeof image.link === 'string' ? { link: image.link } : {}),
          ...(image.caption !== undefined
            ? { caption: nonEmptyString(image.caption, "image['caption']", 1024) }
            : {}),
        },
      };
    }
    default:
      throw invalid(`type ${String(type)} is not imitated here`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook payloads
// ---------------------------------------------------------------------------------------------------------------

/** Meta posts compact JSON with every non-ASCII character escaped; a receiver must check the bytes it got. */
function serialise(payload: unknown): string {
  return JSON.stringify(payload).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const random = (bytes: number) => randomBytes(bytes).toString('base64url');
const newWamid = () => `wamid.HBgL${randomBytes(30).toString('base64')}`;
const unixNow = () => Math.floor(Date.now() / 1000);
const digits = (phone: string) => phone.replace(/^\+/, '');

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

interface PendingFailure {
  remaining: number;
  answer: { status: number; body?: unknown; retryAfterSeconds?: number };
}

export async function startFakeWhatsApp(opts: StartFakeWhatsAppOptions = {}): Promise<FakeWhatsApp> {
  const token = opts.token ?? `EAAG${random(48)}`;
  const phoneNumberId = opts.phoneNumberId ?? String(100_000_000_000_000 + Math.floor(Math.random() * 1e14));
  const displayPhoneNumber = opts.displayPhoneNumber ?? '15550001234';
  const wabaId = String(200_000_000_000_000 + Math.floor(Math.random() * 1e14));
  const appSecret = opts.appSecret ?? randomBytes(16).toString('hex');
  const verifyToken = opts.verifyToken ?? random(16);
  const messages: FakeWhatsAppMessage[] = [];
  const media: FakeWhatsAppMedia[] = [];
  const failures: PendingFailure[] = [];
  const hanging = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  let decide: ((request: FakeWhatsAppRequest) => FakeWhatsAppAnswer | undefined) | null = null;
  let latencyMs = 0;
  let requests = 0;
  let closed = false;

  const respond = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (res.destroyed || res.writableEnded) return;
    res
      .writeHead(status, {
        'content-type': 'application/json; charset=UTF-8',
        'x-fb-trace-id': random(8),
        'x-fb-rev': '1',
        ...headers,
      })
      .end(JSON.stringify(body));
  };

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY) throw new GraphError(413, '(#100) Request body too large', 100);
      chunks.push(buf);
    }
    return Buffer.concat(chunks);
  }

  function sendMessage(raw: Buffer, contentType: string): object {
    if (!contentType.startsWith('application/json')) throw required('messaging_product');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new GraphError(400, '(#100) Invalid JSON in request body', 100);
    }
    if (!isRecord(body)) throw new GraphError(400, '(#100) Invalid JSON in request body', 100);
    const message: FakeWhatsAppMessage = {
      ...validateMessage(body, opts.templates),
      wamid: newWamid(),
      at: new Date(),
    };
    messages.push(message);
    return {
      messaging_product: 'whatsapp',
      contacts: [{ input: message.to, wa_id: message.to }],
      messages: [
        message.type === 'template'
          ? { id: message.wamid, message_status: 'accepted' }
          : { id: message.wamid },
      ],
    };
  }

  async function uploadMedia(raw: Buffer, contentType: string): Promise<object> {
    if (!contentType.startsWith('multipart/form-data')) throw required('file');
    let form: FormData;
    try {
      // Node's own fetch Request parses multipart bodies: no dependency needed.
      form = await new Request('http://fake.invalid/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: raw,
      }).formData();
    } catch {
      throw new GraphError(400, '(#100) Invalid multipart body', 100);
    }
    if (form.get('messaging_product') !== 'whatsapp') throw required('messaging_product');
    const file = form.get('file');
    if (file === null || typeof file === 'string') throw required('file');
    const type = form.get('type');
    if (typeof type !== 'string' || type === '') throw required('type');
    const item: FakeWhatsAppMedia = {
      id: String(1_000_000_000_000_000 + Math.floor(Math.random() * 1e15)),
      contentType: type,
      filename: file.name,
      bytes: Buffer.from(await file.arrayBuffer()),
    };
    media.push(item);
    return { id: item.id };
  }

  function nextAnswer(request: FakeWhatsAppRequest): FakeWhatsAppAnswer {
    const failure = failures[0];
    if (failure) {
      if (--failure.remaining <= 0) failures.shift();
      return failure.answer;
    }
    return decide?.(request) ?? 'ok';
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const version = /^\/v\d+\.\d+(?=\/)/.exec(url.pathname);
    const path = version ? url.pathname.slice(version[0].length) : url.pathname;
    const request: FakeWhatsAppRequest = { method: req.method ?? 'GET', path, n: ++requests };
    // The body is read whatever happens next, so a hung request is one whose answer never comes.
    const raw = await readBody(req);
    const answer = nextAnswer(request);
    if (answer === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    await wait(latencyMs + (typeof answer === 'object' && 'latencyMs' in answer ? answer.latencyMs : 0));
    if (closed) return;
    if (typeof answer === 'object' && 'status' in answer) {
      const headers: Record<string, string> =
        answer.retryAfterSeconds !== undefined ? { 'retry-after': String(answer.retryAfterSeconds) } : {};
      return respond(res, answer.status, answer.body ?? defaultFailureBody(answer.status), headers);
    }

    if (req.headers.authorization !== `Bearer ${token}`)
      return respond(
        res,
        401,
        new GraphError(401, 'Invalid OAuth access token - Cannot parse access token', 190).toBody(),
        { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"' },
      );
    if (!version) return respond(res, 400, new GraphError(400, 'Unknown path components', 2500).toBody());
    const [, id, edge, ...rest] = path.split('/');
    if (req.method !== 'POST' || rest.length > 0 || (edge !== 'messages' && edge !== 'media'))
      return respond(res, 400, new GraphError(400, `Unknown path components: ${path}`, 2500).toBody());
    if (id !== phoneNumberId)
      return respond(
        res,
        400,
        new GraphError(
          400,
          `Unsupported post request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
          100,
          { error_subcode: 33 },
        ).toBody(),
      );
    const contentType = req.headers['content-type'] ?? '';
    try {
      const body = edge === 'messages' ? sendMessage(raw, contentType) : await uploadMedia(raw, contentType);
      return respond(res, 200, body);
    } catch (err) {
      if (err instanceof GraphError) return respond(res, err.status, err.toBody());
      throw err;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof GraphError) return respond(res, err.status, err.toBody());
      respond(res, 500, new GraphError(500, `fake WhatsApp crashed: ${String(err)}`, 1).toBody());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  // --- webhooks -------------------------------------------------------------------------------------------------

  const sign = (raw: string | Buffer, secret = appSecret) =>
    `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

  async function deliver(
    webhookUrl: string,
    payload: unknown,
    o: WebhookOptions = {},
  ): Promise<WebhookDelivery> {
    const raw = typeof payload === 'string' ? payload : serialise(payload);
    const signature =
      o.signature === 'none'
        ? undefined
        : sign(raw, o.signature === 'wrong' ? randomBytes(16).toString('hex') : appSecret);
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'facebookexternalua',
        ...(signature ? { 'x-hub-signature-256': signature } : {}),
      },
      body: raw,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text(), raw, signature };
  }

  const envelope = (value: Json) => ({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: wabaId,
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId },
              ...value,
            },
            field: 'messages',
          },
        ],
      },
    ],
  });

  async function sendStatus(
    webhookUrl: string,
    wamid: string,
    status: 'sent' | 'delivered' | 'read' | 'failed',
    extra: StatusExtra = {},
  ): Promise<WebhookDelivery> {
    const sent = messages.find((m) => m.wamid === wamid);
    const recipientId = extra.recipientId ? digits(extra.recipientId) : sent?.to;
    if (!recipientId) throw new Error(`fake WhatsApp: no message ${wamid}; pass extra.recipientId`);
    const callbackData = extra.callbackData ?? sent?.callbackData;
    const timestamp = extra.timestamp ?? unixNow();
    const error = extra.error ?? {
      code: 131026,
      title: 'Message undeliverable',
      details: 'Message Undeliverable.',
    };
    const category = sent?.type === 'template' ? 'utility' : 'service';
    const entry: Json = {
      id: wamid,
      status,
      timestamp: String(timestamp),
      recipient_id: recipientId,
      ...(callbackData !== undefined ? { biz_opaque_callback_data: callbackData } : {}),
      ...(status === 'failed'
        ? {
            errors: [
              {
                code: error.code,
                title: error.title,
                message: error.message ?? error.title,
                ...(error.details !== undefined ? { error_data: { details: error.details } } : {}),
                href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
              },
            ],
          }
        : {
            conversation: {
              id: random(16),
              ...(status === 'sent' ? { expiration_timestamp: String(timestamp + 86_400) } : {}),
              origin: { type: category },
            },
            pricing: { billable: true, pricing_model: 'PMP', category },
          }),
    };
    return deliver(webhookUrl, envelope({ statuses: [entry] }), extra);
  }

  async function sendReply(webhookUrl: string, reply: ReplyInput, o: WebhookOptions = {}) {
    const from = digits(reply.from);
    const message: Json = {
      ...(reply.contextWamid ? { context: { from: displayPhoneNumber, id: reply.contextWamid } } : {}),
      from,
      id: newWamid(),
      timestamp: String(reply.timestamp ?? unixNow()),
      ...('button' in reply
        ? {
            type: 'interactive',
            interactive: {
              type: 'button_reply',
              button_reply: { id: reply.button.id, title: reply.button.title },
            },
          }
        : 'quickReply' in reply
          ? { type: 'button', button: { payload: reply.quickReply.payload, text: reply.quickReply.text } }
          : { type: 'text', text: { body: reply.text } }),
    };
    return deliver(
      webhookUrl,
      envelope({
        contacts: [{ profile: { name: reply.name ?? 'Test User' }, wa_id: from }],
        messages: [message],
      }),
      o,
    );
  }

  return {
    url: `http://127.0.0.1:${port}/${VERSION}`,
    token,
    phoneNumberId,
    displayPhoneNumber,
    wabaId,
    appSecret,
    verifyToken,
    messages,
    media,
    get requests() {
      return requests;
    },
    failNext(n, status, o = {}) {
      if (n > 0) failures.push({ remaining: n, answer: { status, ...o } });
    },
    plan(next) {
      decide = next;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    sendStatus,
    sendReply,
    deliver,
    sign,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closed = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const res of hanging) res.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
