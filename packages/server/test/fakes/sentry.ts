/**
 * A local stand-in for Sentry's ingestion endpoint (Relay, `o123.ingest.sentry.io`), so the real `@sentry/node`
 * is tested over real HTTP without the internet (INTEGRATIONS.md "Sentry"). A real HTTP server on 127.0.0.1;
 * nothing here mocks the SDK. Point the SDK at it with `dsn: fake.dsn`.
 *
 * What it imitates:
 * - `POST /api/<project>/envelope/`: the envelope format the SDKs send (develop.sentry.dev "Envelopes"): an
 *   envelope header JSON line, then items, each an item header JSON line (with `type`, and optionally `length`,
 *   the payload's size in bytes) and its payload: exactly `length` bytes (which may hold newlines or be binary)
 *   followed by a newline or the end, or without `length` everything up to the next newline or the end. A trailing
 *   newline is allowed. Payloads of JSON item types (`event`, `transaction`, `feedback`, `session`, `sessions`,
 *   `client_report`, `check_in`, `span`, `log`) are parsed; every other item (`attachment`, …) is kept as bytes.
 * - Bodies compressed with `Content-Encoding: gzip`, `deflate` or `br` (@sentry/node gzips bodies over 32 KiB).
 *   Any `Content-Type` is accepted (@sentry/node sends none).
 * - Auth: the public key from the `sentry_key` query parameter (what @sentry/node sends), or from
 *   `X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7` (or `Authorization: Sentry …`), or else from the
 *   envelope header's `dsn` (what tunnels send). A missing or wrong key is 401 `{ detail }`.
 * - `POST /api/<project>/store/`: the legacy single-event JSON endpoint, recorded as an envelope with one
 *   `event` item.
 * - Accepted: 200 `{ id: <event_id> }` (`{}` for an envelope without an `event_id`, like session updates).
 *   Refused (and not recorded): 404 for another path or project id, 405 for a method other than POST,
 *   413 over 20 MiB, 400 `{ detail }` for an envelope or event that does not parse, 415 for an unknown encoding.
 *
 * Where it knowingly differs:
 * - No processing at all: no symbolication, grouping, PII scrubbing, sampling, quotas, inbound filters or
 *   normalisation; payloads are kept exactly as sent. Item payloads are not validated beyond being JSON.
 * - One size limit (20 MiB, on the body as sent and again once decompressed); Sentry's limits differ per
 *   endpoint and item type. An unknown project id is simply 404 here.
 * - Nothing is rate limited unless a test asks with `failNext`, whose answers carry only the headers given
 *   (Sentry's 429s carry `Retry-After` and `X-Sentry-Rate-Limits`; pass them to imitate that).
 * - No CORS preflight, no `/api/<project>/minidump/`, `/security/`, `/unreal/` or `/otlp/` endpoints.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

const MAX_BODY = 20 * 1024 * 1024;
const NEWLINE = 0x0a;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Item types whose payload is JSON; every other type is kept as a Buffer. */
const JSON_ITEM_TYPES = new Set([
  'event',
  'transaction',
  'feedback',
  'session',
  'sessions',
  'client_report',
  'check_in',
  'span',
  'log',
]);

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export interface SentryEnvelopeItem {
  header: Record<string, unknown> & { type: string };
  /** Parsed JSON for JSON item types, otherwise the payload's bytes as a Buffer. */
  payload: unknown;
}

export interface SentryEnvelope {
  header: Record<string, unknown>;
  items: SentryEnvelopeItem[];
  /** The public key the envelope was authenticated with. */
  auth: { key: string | null };
  /** The project id from the path. */
  project: string;
  /** The body, decompressed. */
  raw: Buffer;
  /** `Content-Encoding` as received (`gzip`, …), or null for an uncompressed body. */
  contentEncoding: string | null;
}

export interface SentryFake {
  /** `http://<publicKey>@127.0.0.1:<port>/<project>` */
  dsn: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Accepted envelopes, oldest first. */
  envelopes: SentryEnvelope[];
  /** Items of accepted envelopes, of `type` if given, oldest first. */
  items(type?: string): SentryEnvelopeItem[];
  /** Payloads of `event` items (errors and messages). */
  // biome-ignore lint/suspicious/noExplicitAny: Sentry's event schema is wide; tests reach into it freely
  events(): Record<string, any>[];
  /** Payloads of `transaction` items. */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  transactions(): Record<string, any>[];
  /** Payloads of `feedback` items (user feedback: `contexts.feedback`). */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  feedback(): Record<string, any>[];
  /**
   * Resolves with the first item payload of `type` matching `match` (already received or arriving later),
   * rejects after timeoutMs (default 5000) with a message listing what did arrive.
   */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  waitFor(type: string, match?: (payload: any) => boolean, timeoutMs?: number): Promise<any>;
  /**
   * Answer the next n envelopes with this status (e.g. 429 with Retry-After / X-Sentry-Rate-Limits, or 500),
   * to test retries/rate limits. They are not recorded.
   */
  failNext(n: number, status: number, headers?: Record<string, string>): void;
  /** Forgets every envelope, planned failure and refusal (pending `waitFor`s keep waiting). */
  clear(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Envelope parsing
// ---------------------------------------------------------------------------------------------------------------

class IngestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonLine(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new IngestError(400, `invalid ${what}: ${(err as Error).message}`);
  }
}

/** Parses an envelope as Relay does; throws an `IngestError` (400) if it is malformed. */
export function parseSentryEnvelope(body: Buffer): {
  header: Record<string, unknown>;
  items: SentryEnvelopeItem[];
} {
  let pos = 0;
  /** The bytes up to the next newline (or the end), consuming the newline. */
  const readLine = (): Buffer => {
    let end = body.indexOf(NEWLINE, pos);
    if (end < 0) end = body.length;
    const line = body.subarray(pos, end);
    pos = Math.min(end + 1, body.length + 1);
    return line;
  };

  if (body.length === 0) throw new IngestError(400, 'invalid envelope: missing envelope header');
  const header = parseJsonLine(readLine(), 'envelope header');
  if (!isRecord(header)) throw new IngestError(400, 'invalid envelope header: not a JSON object');

  const items: SentryEnvelopeItem[] = [];
  /** Whitespace after the last item (a trailing newline) ends the envelope. */
  const atEnd = () => {
    for (let i = pos; i < body.length; i++) if (!WHITESPACE.has(body[i] as number)) return false;
    return true;
  };
  while (!atEnd()) {
    const itemHeader = parseJsonLine(readLine(), 'item header');
    if (!isRecord(itemHeader) || typeof itemHeader.type !== 'string' || itemHeader.type === '')
      throw new IngestError(400, 'invalid item header: not a JSON object with a string `type`');
    const type = itemHeader.type;
    let bytes: Buffer;
    if (itemHeader.length !== undefined && itemHeader.length !== null) {
      const length = itemHeader.length;
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0)
        throw new IngestError(400, `invalid item header: bad length ${JSON.stringify(length)}`);
      if (pos + length > body.length)
        throw new IngestError(400, `invalid envelope: unexpected end of file in a ${type} item`);
      bytes = body.subarray(pos, pos + length);
      pos += length;
      if (pos < body.length) {
        if (body[pos] !== NEWLINE)
          throw new IngestError(400, `invalid envelope: missing newline after the ${type} item's payload`);
        pos += 1;
      }
    } else {
      bytes = pos <= body.length ? readLine() : Buffer.alloc(0);
    }
    const payload = JSON_ITEM_TYPES.has(type)
      ? parseJsonLine(bytes, `${type} item payload`)
      : Buffer.from(bytes);
    items.push({ header: { ...itemHeader, type }, payload });
  }
  return { header, items };
}

function decompress(body: Buffer, encoding: string | null): Buffer {
  const options = { maxOutputLength: MAX_BODY };
  try {
    switch (encoding) {
      case null:
      case 'identity':
        return body;
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, options);
      case 'deflate':
        // RFC 9110's deflate is zlib-wrapped; some clients send it raw.
        try {
          return inflateSync(body, options);
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw err;
          return inflateRawSync(body, options);
        }
      case 'br':
        return brotliDecompressSync(body, options);
      default:
        throw new IngestError(415, `unsupported content encoding: ${encoding}`);
    }
  } catch (err) {
    if (err instanceof IngestError) throw err;
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new IngestError(413, 'envelope exceeded size limits');
    throw new IngestError(400, `failed to decompress ${encoding} body: ${(err as Error).message}`);
  }
}

/** `Sentry sentry_key=abc, sentry_version=7, sentry_client=…` → `abc`. */
function keyFromAuthHeader(value: string | undefined): string | null {
  if (!value) return null;
  const match = /^\s*sentry\s+(.*)$/i.exec(value);
  if (!match?.[1]) return null;
  for (const part of match[1].split(',')) {
    const [name, ...rest] = part.split('=');
    if (name?.trim() === 'sentry_key') return rest.join('=').trim();
  }
  return null;
}

function keyFromDsn(dsn: unknown): string | null {
  if (typeof dsn !== 'string') return null;
  try {
    return decodeURIComponent(new URL(dsn).username) || null;
  } catch {
    return null;
  }
}

const firstHeader = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function summarise(payload: unknown): string {
  if (Buffer.isBuffer(payload)) return `<${payload.length} bytes>`;
  let text: string;
  if (isRecord(payload)) {
    // The fields that tell events apart, rather than the whole (long) event.
    const exception = (payload.exception as { values?: { type?: string; value?: string }[] } | undefined)
      ?.values?.[0];
    const brief = {
      ...(payload.type !== undefined ? { type: payload.type } : {}),
      ...(payload.level !== undefined ? { level: payload.level } : {}),
      ...(payload.message !== undefined ? { message: payload.message } : {}),
      ...(payload.transaction !== undefined ? { transaction: payload.transaction } : {}),
      ...(exception ? { exception: `${exception.type}: ${exception.value}` } : {}),
      ...(isRecord(payload.contexts) && payload.contexts.feedback !== undefined
        ? { feedback: payload.contexts.feedback }
        : {}),
    };
    text = JSON.stringify(Object.keys(brief).length > 0 ? brief : payload);
  } else text = JSON.stringify(payload);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

interface Waiter {
  type: string;
  match: ((payload: unknown) => boolean) | undefined;
  resolve(payload: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export async function startSentryFake(
  options: { publicKey?: string; project?: string } = {},
): Promise<SentryFake> {
  const publicKey = options.publicKey ?? randomUUID().replaceAll('-', '');
  const project = options.project ?? '1';
  const envelopes: SentryEnvelope[] = [];
  const failures: { remaining: number; status: number; headers: Record<string, string> }[] = [];
  /** Requests refused, for `waitFor`'s timeout message. */
  const refusals: string[] = [];
  const waiters = new Set<Waiter>();

  const items = (type?: string) =>
    envelopes.flatMap((e) => e.items).filter((item) => type === undefined || item.header.type === type);
  // biome-ignore lint/suspicious/noExplicitAny: see SentryFake
  const payloads = (type: string) => items(type).map((item) => item.payload as Record<string, any>);

  function record(envelope: SentryEnvelope) {
    envelopes.push(envelope);
    for (const waiter of waiters) {
      for (const item of envelope.items) {
        if (item.header.type !== waiter.type) continue;
        let matched: boolean;
        try {
          matched = waiter.match ? waiter.match(item.payload) : true;
        } catch (err) {
          settle(waiter);
          waiter.reject(err as Error);
          break;
        }
        if (matched) {
          settle(waiter);
          waiter.resolve(item.payload);
          break;
        }
      }
    }
  }

  function settle(waiter: Waiter) {
    clearTimeout(waiter.timer);
    waiters.delete(waiter);
  }

  function describeArrivals(type: string): string {
    const lines: string[] = [];
    const counts = new Map<string, number>();
    for (const item of items()) counts.set(item.header.type, (counts.get(item.header.type) ?? 0) + 1);
    lines.push(
      envelopes.length === 0
        ? 'no envelope arrived'
        : `${envelopes.length} envelope(s) arrived with items: ${[...counts].map(([t, n]) => `${t} ×${n}`).join(', ') || 'none'}`,
    );
    for (const item of items(type).slice(-10)) lines.push(`  ${type}: ${summarise(item.payload)}`);
    if (refusals.length > 0) lines.push(`refused: ${refusals.slice(-10).join('; ')}`);
    return lines.join('\n');
  }

  function respond(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  /** The whole body; `null` once it is over the limit (the rest is read and dropped). */
  async function readBody(req: IncomingMessage): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= MAX_BODY) chunks.push(chunk as Buffer);
    }
    return size > MAX_BODY ? null : Buffer.concat(chunks);
  }

  function authenticate(key: string | null) {
    if (key === null) throw new IngestError(401, 'missing authorization information');
    if (key !== publicKey) throw new IngestError(401, 'invalid api key');
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = /^\/api\/([^/]+)\/(envelope|store)\/?$/.exec(url.pathname);
    if (!route || route[1] !== project) {
      req.resume();
      return respond(res, 404, { detail: 'not found' });
    }
    if (req.method !== 'POST') {
      req.resume();
      return respond(res, 405, { detail: 'method not allowed' }, { allow: 'POST' });
    }
    const endpoint = route[2] as 'envelope' | 'store';
    const body = await readBody(req);

    const failure = failures[0];
    if (failure) {
      if (--failure.remaining <= 0) failures.shift();
      refusals.push(`${failure.status} (failNext)`);
      return respond(
        res,
        failure.status,
        {
          detail: failure.status === 429 ? 'event submission rejected with_reason: RateLimited' : 'failNext',
        },
        failure.headers,
      );
    }

    if (body === null) throw new IngestError(413, 'envelope exceeded size limits');
    const contentEncoding = firstHeader(req.headers['content-encoding'])?.trim().toLowerCase() || null;
    const raw = decompress(body, contentEncoding);
    const requestKey =
      keyFromAuthHeader(firstHeader(req.headers['x-sentry-auth'])) ??
      keyFromAuthHeader(firstHeader(req.headers.authorization)) ??
      url.searchParams.get('sentry_key');
    // A key in the request is checked before the body is even parsed.
    if (requestKey !== null) authenticate(requestKey);

    let envelope: SentryEnvelope;
    if (endpoint === 'envelope') {
      const { header, items: parsed } = parseSentryEnvelope(raw);
      const key = requestKey ?? keyFromDsn(header.dsn);
      authenticate(key);
      envelope = { header, items: parsed, auth: { key }, project, raw, contentEncoding };
    } else {
      authenticate(requestKey);
      const event = parseJsonLine(raw, 'event payload');
      if (!isRecord(event)) throw new IngestError(400, 'invalid event payload: not a JSON object');
      const eventId = typeof event.event_id === 'string' ? event.event_id : randomUUID().replaceAll('-', '');
      const item: SentryEnvelopeItem = {
        header: { type: 'event' },
        payload: { ...event, event_id: eventId },
      };
      envelope = {
        header: { event_id: eventId, sent_at: new Date().toISOString() },
        items: [item],
        auth: { key: requestKey },
        project,
        raw,
        contentEncoding,
      };
    }
    record(envelope);
    const id = envelope.header.event_id;
    respond(res, 200, typeof id === 'string' ? { id } : {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof IngestError) {
        refusals.push(`${err.status} ${err.message}`);
        return respond(res, err.status, { detail: err.message });
      }
      respond(res, 500, { detail: `fake Sentry crashed: ${String(err)}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${project}`,
    url: base,
    envelopes,
    items,
    events: () => payloads('event'),
    transactions: () => payloads('transaction'),
    feedback: () => payloads('feedback'),
    waitFor(type, match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const found = items(type).find((item) => (match ? match(item.payload) : true));
        if (found) return resolve(found.payload);
        const waiter: Waiter = {
          type,
          match,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(
                `fake Sentry: no ${type} item${match ? ' matching' : ''} arrived within ${timeoutMs} ms\n${describeArrivals(type)}`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    failNext(n, status, headers = {}) {
      if (n > 0) failures.push({ remaining: n, status, headers });
    },
    clear() {
      envelopes.length = 0;
      failures.length = 0;
      refusals.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const waiter of waiters) {
          settle(waiter);
          waiter.reject(new Error(`fake Sentry closed while waiting for a ${waiter.type} item`));
        }
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
