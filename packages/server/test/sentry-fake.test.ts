import { randomBytes } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import * as Sentry from '@sentry/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SentryFake, startSentryFake } from './fakes/sentry.js';

const KEY = 'abc123publickey';

/** A NodeClient on its own scope: nothing global (no `Sentry.init`, no OpenTelemetry, no instrumentation). */
function isolatedClient(dsn: string, options: { tracesSampleRate?: number; release?: string } = {}) {
  const client = new Sentry.NodeClient({
    dsn,
    transport: Sentry.makeNodeTransport,
    stackParser: Sentry.defaultStackParser,
    integrations: [],
    release: 'tickets@test',
    environment: 'test',
    ...options,
  });
  const scope = new Sentry.Scope();
  scope.setClient(client);
  client.init();
  return { client, scope };
}

/** An envelope as bytes: the header line, then each item's header line and payload. */
function envelope(header: object, items: [Record<string, unknown>, string | Buffer][]): Buffer {
  const parts: Buffer[] = [Buffer.from(JSON.stringify(header))];
  for (const [itemHeader, payload] of items) {
    parts.push(Buffer.from(`\n${JSON.stringify(itemHeader)}\n`), Buffer.from(payload));
  }
  return Buffer.concat(parts);
}

const post = (url: string, body: Buffer | string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers, body });

describe('Sentry fake', () => {
  let fake: SentryFake;
  let envelopeUrl: string;

  beforeEach(async () => {
    fake = await startSentryFake({ publicKey: KEY });
    envelopeUrl = `${fake.url}/api/1/envelope/?sentry_key=${KEY}&sentry_version=7`;
  });
  afterEach(async () => {
    await fake.close();
  });

  it('has a DSN @sentry/node accepts', () => {
    expect(fake.dsn).toMatch(new RegExp(`^http://${KEY}@127\\.0\\.0\\.1:\\d+/1$`));
    expect(fake.dsn.replace(`${KEY}@`, '').replace(/\/1$/, '')).toBe(fake.url);
  });

  describe('with a real, isolated NodeClient', () => {
    it('receives an error with its stack, a message with its level, and feedback about the error', async () => {
      const { client, scope } = isolatedClient(fake.dsn);
      scope.setTag('area', 'checkout');
      scope.setUser({ id: 'user-1' });

      const errorId = scope.captureException(new Error('boom'));
      const messageId = scope.captureMessage('hello', 'warning');
      const feedbackId = Sentry.captureFeedback(
        { message: 'It broke', email: 'a@example.com', name: 'Ana', associatedEventId: errorId },
        {},
        scope,
      );
      expect(await client.flush(2000)).toBe(true);

      expect(fake.envelopes).toHaveLength(3);
      for (const e of fake.envelopes) {
        expect(e.auth.key).toBe(KEY);
        expect(e.project).toBe('1');
        expect(e.contentEncoding).toBeNull();
        expect(e.header.sdk).toMatchObject({ name: 'sentry.javascript.node', version: Sentry.SDK_VERSION });
      }

      const [error, message] = [
        fake.events().find((e) => e.event_id === errorId),
        fake.events().find((e) => e.event_id === messageId),
      ];
      expect(fake.events()).toHaveLength(2);
      expect(error).toBeDefined();
      expect(error?.release).toBe('tickets@test');
      expect(error?.environment).toBe('test');
      expect(error?.tags).toEqual({ area: 'checkout' });
      expect(error?.user).toEqual({ id: 'user-1' });
      expect(error?.exception.values).toHaveLength(1);
      const exception = error?.exception.values[0];
      expect(exception).toMatchObject({ type: 'Error', value: 'boom' });
      const frames: { filename: string; function?: string; lineno: number }[] = exception.stacktrace.frames;
      expect(frames.length).toBeGreaterThan(1);
      // Frames run outermost first: the last one is where the error was made, in this file.
      expect(frames.at(-1)?.filename).toMatch(/sentry-fake\.test\.ts$/);
      expect(frames.at(-1)?.lineno).toBeGreaterThan(0);

      expect(message).toMatchObject({ message: 'hello', level: 'warning', release: 'tickets@test' });
      expect(message?.exception).toBeUndefined();

      expect(fake.feedback()).toHaveLength(1);
      const feedback = fake.feedback()[0]!;
      expect(feedback.event_id).toBe(feedbackId);
      expect(feedback.type).toBe('feedback');
      expect(feedback.contexts.feedback).toEqual({
        message: 'It broke',
        contact_email: 'a@example.com',
        name: 'Ana',
        associated_event_id: errorId,
      });
      expect(fake.items('feedback')[0]?.header).toEqual({ type: 'feedback' });
      expect(fake.items().map((i) => i.header.type)).toEqual(['event', 'event', 'feedback']);
      await client.close();
    });

    it('receives a transaction with its child span', async () => {
      const { client } = isolatedClient(fake.dsn, { tracesSampleRate: 1 });
      Sentry.withScope((scope) => {
        scope.setClient(client);
        Sentry.startSpan({ name: 'GET /orders', op: 'http.server' }, () => {
          Sentry.startSpan({ name: 'load orders', op: 'db' }, () => {});
        });
      });
      const transaction = await fake.waitFor('transaction', (t) => t.transaction === 'GET /orders');
      expect(transaction.contexts.trace.op).toBe('http.server');
      expect(transaction.release).toBe('tickets@test');
      expect(transaction.spans.map((s: { description: string }) => s.description)).toEqual(['load orders']);
      expect(fake.transactions()).toHaveLength(1);
      await client.close();
    });

    it('receives a binary attachment; a body over 32 KiB is gzipped', async () => {
      const { client, scope } = isolatedClient(fake.dsn);
      const bytes = randomBytes(40 * 1024);
      bytes[10] = 0x0a; // a newline inside the payload
      scope.addAttachment({ filename: 'dump.bin', data: bytes, contentType: 'application/octet-stream' });
      scope.captureMessage('with attachment');
      await client.flush(2000);

      expect(fake.envelopes).toHaveLength(1);
      expect(fake.envelopes[0]?.contentEncoding).toBe('gzip');
      const attachment = fake.items('attachment')[0]!;
      expect(attachment.header).toMatchObject({
        type: 'attachment',
        length: bytes.length,
        filename: 'dump.bin',
        content_type: 'application/octet-stream',
      });
      expect(Buffer.isBuffer(attachment.payload)).toBe(true);
      expect((attachment.payload as Buffer).equals(bytes)).toBe(true);
      expect(fake.events()[0]?.message).toBe('with attachment');
      await client.close();
    });

    it('a 429 with Retry-After makes the SDK drop what follows, without retrying', async () => {
      const { client, scope } = isolatedClient(fake.dsn);
      fake.failNext(1, 429, { 'Retry-After': '60', 'X-Sentry-Rate-Limits': '60:error;transaction:key' });
      scope.captureException(new Error('first'));
      await client.flush(2000);
      scope.captureException(new Error('second'));
      await client.flush(2000);
      expect(fake.envelopes).toHaveLength(0);
      await expect(fake.waitFor('event', undefined, 100)).rejects.toThrow(/refused: 429 \(failNext\)/);
      await client.close();
    });
  });

  describe('raw requests', () => {
    const event = (id: string) =>
      envelope({ event_id: id, sent_at: new Date().toISOString() }, [
        [{ type: 'event' }, JSON.stringify({ event_id: id, message: 'raw', level: 'error' })],
      ]);

    it('answers 200 with the event id', async () => {
      const res = await post(envelopeUrl, event('a'.repeat(32)), {
        'content-type': 'application/x-sentry-envelope',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id: 'a'.repeat(32) });
      expect(fake.events()).toEqual([{ event_id: 'a'.repeat(32), message: 'raw', level: 'error' }]);
    });

    it('refuses a wrong or missing key with 401 and stores nothing', async () => {
      const wrong = await post(`${fake.url}/api/1/envelope/?sentry_key=nope`, event('b'.repeat(32)));
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({ detail: expect.stringMatching(/invalid api key/) });

      const wrongHeader = await post(`${fake.url}/api/1/envelope/`, event('b'.repeat(32)), {
        'x-sentry-auth': 'Sentry sentry_key=nope, sentry_version=7',
      });
      expect(wrongHeader.status).toBe(401);

      const missing = await post(`${fake.url}/api/1/envelope/`, event('b'.repeat(32)));
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual({ detail: 'missing authorization information' });

      const wrongDsn = await post(
        `${fake.url}/api/1/envelope/`,
        envelope({ event_id: 'c'.repeat(32), dsn: 'http://nope@127.0.0.1/1' }, [[{ type: 'event' }, '{}']]),
      );
      expect(wrongDsn.status).toBe(401);
      expect(fake.envelopes).toHaveLength(0);

      const byHeader = await post(`${fake.url}/api/1/envelope/`, event('d'.repeat(32)), {
        'x-sentry-auth': `Sentry sentry_version=7, sentry_client=raw/1.0, sentry_key=${KEY}`,
      });
      expect(byHeader.status).toBe(200);
      const byDsn = await post(
        `${fake.url}/api/1/envelope/`,
        envelope({ event_id: 'e'.repeat(32), dsn: fake.dsn }, [[{ type: 'event' }, '{}']]),
      );
      expect(byDsn.status).toBe(200);
      expect(fake.envelopes.map((e) => e.auth.key)).toEqual([KEY, KEY]);
    });

    it('honours an item length: a gzipped envelope whose payload holds a newline', async () => {
      const text = 'line one\nline two';
      const log = JSON.stringify({ items: [{ body: 'multi\nline', level: 'info' }] });
      const body = envelope({ event_id: 'f'.repeat(32) }, [
        [{ type: 'attachment', length: Buffer.byteLength(text), filename: 'notes.txt' }, text],
        [{ type: 'event' }, '{"message":"après"}'],
        [{ type: 'log', length: Buffer.byteLength(log), item_count: 1 }, log],
        [{ type: 'attachment', length: 0, filename: 'empty.txt' }, ''],
        [{ type: 'client_report' }, '{"discarded_events":[]}'],
      ]);
      const gzipped = gzipSync(Buffer.concat([body, Buffer.from('\n')]));
      const res = await post(envelopeUrl, gzipped, { 'content-encoding': 'gzip' });
      expect(res.status).toBe(200);

      const received = fake.envelopes[0]!;
      expect(received.raw.equals(Buffer.concat([body, Buffer.from('\n')]))).toBe(true);
      expect(received.contentEncoding).toBe('gzip');
      expect(received.items.map((i) => i.header.type)).toEqual([
        'attachment',
        'event',
        'log',
        'attachment',
        'client_report',
      ]);
      expect((received.items[0]!.payload as Buffer).toString()).toBe(text);
      expect(received.items[1]?.payload).toEqual({ message: 'après' });
      expect(received.items[2]?.payload).toEqual({ items: [{ body: 'multi\nline', level: 'info' }] });
      expect((received.items[3]!.payload as Buffer).length).toBe(0);
      expect(received.items[4]?.payload).toEqual({ discarded_events: [] });
    });

    it('decompresses deflate and br', async () => {
      for (const [encoding, compress] of [
        ['deflate', deflateSync],
        ['br', brotliCompressSync],
      ] as const) {
        const res = await post(envelopeUrl, compress(event('1'.repeat(32))), {
          'content-encoding': encoding,
        });
        expect(res.status).toBe(200);
      }
      expect(fake.envelopes.map((e) => e.contentEncoding)).toEqual(['deflate', 'br']);
      expect(fake.events()).toHaveLength(2);
    });

    it('refuses malformed envelopes with 400 and stores nothing', async () => {
      const bad = [
        'not json',
        '{}\n{"type":"event"}\n{not json',
        '{}\n{"no":"type"}\n{}',
        '{}\n{"type":"attachment","length":50}\nshort',
        '{}\n{"type":"attachment","length":2}\nabc\n',
        '',
      ];
      for (const body of bad) {
        const res = await post(envelopeUrl, body);
        expect(res.status, body).toBe(400);
        expect(((await res.json()) as { detail: string }).detail).toMatch(/^invalid/);
      }
      expect(fake.envelopes).toHaveLength(0);
      // A header-only envelope is valid, as is one without an event id (answered `{}`).
      const headerOnly = await post(envelopeUrl, '{}');
      expect(headerOnly.status).toBe(200);
      expect(await headerOnly.json()).toEqual({});
    });

    it('answers 404 for another project or path, 405 for GET, 413 over 20 MiB', async () => {
      expect(
        (await post(`${fake.url}/api/2/envelope/?sentry_key=${KEY}`, event('2'.repeat(32)))).status,
      ).toBe(404);
      expect((await post(`${fake.url}/api/1/other/?sentry_key=${KEY}`, event('2'.repeat(32)))).status).toBe(
        404,
      );
      expect((await fetch(envelopeUrl)).status).toBe(405);
      const huge = Buffer.alloc(20 * 1024 * 1024 + 1, 0x20);
      expect((await post(envelopeUrl, huge)).status).toBe(413);
      // A small body that inflates past the limit, too.
      const bomb = gzipSync(Buffer.alloc(21 * 1024 * 1024, 0x20));
      expect((await post(envelopeUrl, bomb, { 'content-encoding': 'gzip' })).status).toBe(413);
      expect(fake.envelopes).toHaveLength(0);
    });

    it('accepts the legacy store endpoint as one event item', async () => {
      const res = await post(
        `${fake.url}/api/1/store/`,
        JSON.stringify({ event_id: '3'.repeat(32), message: 'stored', level: 'info' }),
        { 'content-type': 'application/json', 'x-sentry-auth': `Sentry sentry_key=${KEY}, sentry_version=7` },
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id: '3'.repeat(32) });
      expect(fake.items()).toEqual([
        {
          header: { type: 'event' },
          payload: { event_id: '3'.repeat(32), message: 'stored', level: 'info' },
        },
      ]);
      expect((await post(`${fake.url}/api/1/store/?sentry_key=nope`, '{}')).status).toBe(401);
    });

    it('failNext answers the next envelopes with the status and headers given, then recovers', async () => {
      fake.failNext(1, 429, { 'Retry-After': '1' });
      const limited = await post(envelopeUrl, event('4'.repeat(32)));
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('1');
      expect(fake.envelopes).toHaveLength(0);
      const ok = await post(envelopeUrl, event('5'.repeat(32)));
      expect(ok.status).toBe(200);
      expect(fake.envelopes).toHaveLength(1);

      fake.failNext(2, 500);
      expect((await post(envelopeUrl, event('6'.repeat(32)))).status).toBe(500);
      expect((await post(envelopeUrl, event('6'.repeat(32)))).status).toBe(500);
      expect((await post(envelopeUrl, event('6'.repeat(32)))).status).toBe(200);
    });

    it('waitFor resolves with what arrives later, and times out saying what did arrive', async () => {
      const waiting = fake.waitFor('event', (e) => e.message === 'later');
      await post(envelopeUrl, event('7'.repeat(32)));
      await post(
        envelopeUrl,
        envelope({ event_id: '8'.repeat(32) }, [[{ type: 'event' }, JSON.stringify({ message: 'later' })]]),
      );
      await expect(waiting).resolves.toEqual({ message: 'later' });
      // Already received: resolves at once.
      await expect(fake.waitFor('event')).resolves.toMatchObject({ message: 'raw' });

      await post(`${fake.url}/api/1/envelope/?sentry_key=nope`, event('9'.repeat(32)));
      const started = Date.now();
      const error: Error = await fake.waitFor('feedback', () => true, 150).catch((e: Error) => e);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(error.message).toMatch(/no feedback item matching arrived within 150 ms/);
      expect(error.message).toMatch(/2 envelope\(s\) arrived with items: event ×2/);
      expect(error.message).toMatch(/refused: 401 invalid api key/);

      const events: Error = await fake
        .waitFor('event', (e) => e.message === 'never', 50)
        .catch((e: Error) => e);
      expect(events.message).toContain('event: {"level":"error","message":"raw"}');

      fake.clear();
      expect(fake.envelopes).toHaveLength(0);
      expect(fake.events()).toEqual([]);
    });
  });
});
