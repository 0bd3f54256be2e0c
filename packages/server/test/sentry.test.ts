import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Sentry from '@sentry/node';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { captureProblem, flushSentry } from '../src/integrations/sentry.js';
import { type FakeSendGrid, startFakeSendGrid } from './fakes/sendgrid.js';
import { type SentryFake, startSentryFake } from './fakes/sentry.js';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  createTestDatabase,
  eventOnSale,
  http,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
} from './harness.js';
import { startProcess } from './processes.js';

// Built at run time, so the source lines Sentry sends with a stack frame of this file don't carry them.
const SECRET_PASSWORD = ['hunter2', 'password'].join('-');
const SECRET_KEY = ['tk', 'live', 'abcdefghijklmnop'].join('_');
const SECRET_WEBHOOK = ['whsec', 'abcdef123456'].join('_');
const SECRET_CLIENT = ['pi', '123', 'secret', '456'].join('_');

/**
 * Sentry through the real @sentry/node against a local fake of its envelope endpoint. Sentry is one
 * per process (Sentry.init), so this file runs one server, with tracing on.
 */
describe('sqlite: Sentry', () => {
  let fake: SentryFake;
  let stripe: FakeStripe;
  let sg: FakeSendGrid;
  let typeId: string;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let ticketCode: string;

  /** Everything that reached the fake, as text: no secret may be in it. */
  const everything = () => fake.envelopes.map((e) => e.raw.toString('utf8')).join('\n');
  /** Makes the feedback table unreachable for `run` (a statement then fails: an unexpected 500). */
  const broken = async <T>(run: () => Promise<T>): Promise<T> => {
    await sql`alter table feedback rename to feedback_away`.execute(s.db.kysely);
    try {
      return await run();
    } finally {
      await sql`alter table feedback_away rename to feedback`.execute(s.db.kysely);
    }
  };

  beforeAll(async () => {
    fake = await startSentryFake();
    stripe = await startFakeStripe();
    sg = await startFakeSendGrid();
    s = await startTestServer('sqlite', {
      SENDGRID_API_KEY: sg.apiKey,
      SENDGRID_API_URL: sg.url,
      ...stripeEnv(stripe),
      SENTRY_DSN: fake.dsn,
      // A message that cannot be sent is given up on at once (the dead-letter test below).
      TICKETS_MESSAGE_MAX_ATTEMPTS: '1',
      SENTRY_ENVIRONMENT: 'test',
      SENTRY_TRACES_SAMPLE_RATE: '1',
    });
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const e = await eventOnSale(s.url, token, { name: 'Traced' }, [
      { name: 'GA', amount: 2500, capacity: 10 },
    ]);
    eventId = e.eventId;
    typeId = e.typeIds[0]!;
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: e.typeIds[0], quantity: 1 }],
        buyer: { name: 'Ann', email: 'ann@example.com' },
        payment_method: 'manual',
      },
    });
    ticketCode = sold.body.tickets[0].code;
  });
  afterAll(async () => {
    await s.stop();
    await fake.close();
    await stripe.close();
    await sg.close();
  });

  it('sends an unexpected 500 once, with its request, route, user and release; a 4xx not at all', async () => {
    await flushSentry();
    fake.clear();
    const notFound = await call('GET', '/api/orders/ord_01kdoesnotexist00000000000', { token });
    expect(notFound.status).toBe(404);
    const res = await broken(() =>
      call('POST', '/api/feedback', { token, body: { message: 'the page froze' } }),
    );
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    const event = await fake.waitFor('event', (e) => e.tags?.request_id === requestId);
    await flushSentry();
    expect(fake.events().filter((e) => e.exception)).toHaveLength(1);
    expect(event.tags).toMatchObject({
      route: '/api/feedback',
      'http.method': 'POST',
      'http.status_code': '500',
      principal: 'user',
      role: 'owner',
      org_id: expect.stringMatching(/^org_/),
    });
    expect(event.user).toEqual({ id: expect.stringMatching(/^usr_/) });
    expect(event.release).toMatch(/^tickets@0\.1\.0\+/);
    expect(event.environment).toBe('test');
    expect(event.exception.values[0].value).toMatch(/feedback/);
    // Its frames name the TypeScript sources.
    const files = event.exception.values[0].stacktrace.frames.map((f: { filename: string }) => f.filename);
    expect(files.some((f: string) => /packages\/server\/src\/.+\.ts$/.test(f))).toBe(true);
  });

  it('links feedback about a failed request to its error', async () => {
    const res = await broken(() => call('POST', '/api/feedback', { token, body: { message: 'broken' } }));
    const requestId = res.headers.get('x-request-id')!;
    const error = await fake.waitFor('event', (e) => e.tags?.request_id === requestId);
    const sent = await call('POST', '/api/feedback', {
      token,
      body: {
        message: 'Checkout failed twice',
        email: 'ann@example.com',
        request_id: requestId,
        event: eventId,
      },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.body).toMatchObject({
      sent_to_sentry: true,
      linked_error: error.event_id,
      request_id: requestId,
    });
    const feedback = await fake.waitFor(
      'feedback',
      (f) => f.contexts?.feedback?.message === 'Checkout failed twice',
    );
    expect(feedback.contexts.feedback.associated_event_id).toBe(error.event_id);
    // No e-mail leaves unless SENTRY_SEND_PII is on.
    expect(feedback.contexts.feedback.contact_email).toBeUndefined();
    const kept = await s.db.kysely
      .selectFrom('feedback')
      .selectAll()
      .where('id', '=', sent.body.id)
      .executeTakeFirst();
    expect(kept).toMatchObject({
      message: 'Checkout failed twice',
      linked_event_id: error.event_id,
      event_id: eventId,
    });
  });

  it('names each request a transaction by its route, continues an incoming trace, with database spans', async () => {
    const traceId = 'a'.repeat(32);
    const parent = 'b'.repeat(16);
    const res = await call('GET', `/api/events/${eventId}`, {
      token,
      headers: {
        'sentry-trace': `${traceId}-${parent}-1`,
        baggage: `sentry-trace_id=${traceId},sentry-sampled=true`,
      },
    });
    expect(res.status).toBe(200);
    const tx = await fake.waitFor('transaction', (t) => t.contexts?.trace?.trace_id === traceId);
    expect(tx.transaction).toBe('GET /api/events/:id');
    expect(tx.contexts.trace.parent_span_id).toBe(parent);
    expect(tx.spans.some((sp: { op: string }) => sp.op === 'db')).toBe(true);
    // A ticket's QR image is drawn in a span of its own.
    const ticket = (await call('GET', `/api/orders?limit=1`, { token })).body.data[0].tickets[0];
    await fetch(`${s.url}/api/tickets/${ticket.id}/qr.png`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const qr = await fake.waitFor('transaction', (t) => t.transaction === 'GET /api/tickets/:id/qr.png');
    expect(qr.spans.some((sp: { op: string }) => sp.op === 'qr.render')).toBe(true);
    // An online purchase asks Stripe for a PaymentIntent: an outgoing HTTP span of the purchase's.
    const online = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'Oli', email: 'oli@example.com' },
        payment_method: 'stripe',
      },
    });
    expect(online.status, JSON.stringify(online.body)).toBe(201);
    const purchase = await fake.waitFor(
      'transaction',
      (t) =>
        t.transaction === 'POST /api/tickets/purchase' &&
        t.spans.some((sp: { op: string }) => sp.op === 'http.client'),
    );
    // The worker's sends are transactions of their own, with the PDF drawn and SendGrid called inside.
    const send = await fake.waitFor('transaction', (t) => t.transaction === 'send order_confirmation');
    expect(send.contexts.trace.op).toBe('queue.process');
    expect(send.spans.some((sp: { op: string }) => sp.op === 'http.client')).toBe(true);
    const out = purchase.spans.find((sp: { op: string }) => sp.op === 'http.client');
    expect(out.description).toMatch(
      new RegExp(`^POST ${stripe.url.replace(/[.]/g, '\\.')}/v1/payment_intents`),
    );
  });

  it('reports a message given up on (dead-lettered), by kind and channel', async () => {
    // SendGrid fails (503, worth retrying), and one attempt is all a message gets here.
    sg.failNext(503, 503, 503);
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'Dee', email: 'dee@example.com' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    const dead = await fake.waitFor('event', (e) => e.message === 'message dead-lettered', 15_000);
    expect(dead).toMatchObject({
      level: 'error',
      tags: { 'message.kind': 'order_confirmation', 'message.channel': 'email', provider: 'sendgrid' },
    });
    const row = await s.db.kysely
      .selectFrom('outbox')
      .select('status')
      .where('id', '=', dead.tags['message.id'])
      .executeTakeFirst();
    expect(row?.status).toBe('dead');
  });

  it('reports a webhook that could not be applied, tagged by its provider', async () => {
    const payload = JSON.stringify({
      id: `evt_fail${Date.now()}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      data: {
        object: { id: 'pi_x', object: 'payment_intent', amount_received: 100, currency: 'eur', metadata: {} },
      },
    });
    // Signed as Stripe would; the table it is recorded in is gone, so applying it fails (500, retried by Stripe).
    await sql`alter table webhook_events rename to webhook_events_away`.execute(s.db.kysely);
    let res: Awaited<ReturnType<typeof call>>;
    try {
      res = await call('POST', '/api/webhooks/stripe', {
        raw: payload,
        headers: { 'stripe-signature': stripe.sign(payload), 'content-type': 'application/json' },
      });
    } finally {
      await sql`alter table webhook_events_away rename to webhook_events`.execute(s.db.kysely);
    }
    expect(res.status).toBe(500);
    const event = await fake.waitFor('event', (e) => e.tags?.request_id === res.headers.get('x-request-id'));
    expect(event.tags).toMatchObject({ 'webhook.provider': 'stripe', route: '/api/webhooks/stripe' });
    expect(event.user).toBeUndefined();
  });

  it('raises a webhook with a bad signature as a security event, and sends no secret anywhere', async () => {
    const res = await call('POST', '/api/webhooks/stripe', {
      raw: JSON.stringify({ id: 'evt_x', type: 'payment_intent.succeeded' }),
      headers: { 'stripe-signature': 't=1,v1=deadbeef', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    const warning = await fake.waitFor('event', (e) => e.tags?.security === 'webhook_bad_signature');
    expect(warning).toMatchObject({
      level: 'warning',
      message: expect.stringMatching(/^security: a stripe webhook/),
    });
    const entry = await s.db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'security.webhook_bad_signature')
      .executeTakeFirst();
    expect(entry).toMatchObject({ org_id: null, request_id: res.headers.get('x-request-id') });
    // A secret-laden failure: the headers, body and error text carry every kind of secret.
    const secrets = [token, SECRET_PASSWORD, SECRET_KEY, SECRET_WEBHOOK, ticketCode, SECRET_CLIENT];
    const r = await broken(() =>
      call('POST', '/api/feedback', {
        token,
        headers: { cookie: `session=${SECRET_PASSWORD}`, 'x-api-key': SECRET_KEY },
        body: {
          message: `key ${SECRET_KEY} ${SECRET_WEBHOOK} ${ticketCode} ${SECRET_CLIENT}`,
        },
      }),
    );
    expect(r.status).toBe(500);
    await fake.waitFor('event', (e) => e.tags?.request_id === r.headers.get('x-request-id'));
    // Secrets where they do end up in what is sent: an error's text, a breadcrumb, extras, feedback.
    Sentry.addBreadcrumb({
      category: 'auth',
      message: `signed in with Bearer ${token}`,
      data: { password: SECRET_PASSWORD, headers: { authorization: `Bearer ${token}` } },
    });
    captureProblem('a job failed', new Error(`retrying with ${SECRET_KEY} and ${ticketCode}`), {
      job: 'test',
    });
    const fb = await call('POST', '/api/feedback', {
      token,
      body: {
        message: `my key ${SECRET_KEY} and code ${ticketCode} and ${SECRET_CLIENT} ${SECRET_WEBHOOK}`,
      },
    });
    expect(fb.body.sent_to_sentry).toBe(true);
    const problem = await fake.waitFor('event', (e) => e.tags?.job === 'test');
    expect(problem.exception.values[0].value).toBe('retrying with tk_[Filtered] and [Filtered code]');
    expect(problem.breadcrumbs.find((b: { category: string }) => b.category === 'auth').data).toEqual({
      password: '[Filtered]',
      headers: { authorization: '[Filtered]' },
    });
    await fake.waitFor('feedback', (f) => f.contexts?.feedback?.message?.startsWith('my key'));
    await flushSentry();
    const text = everything();
    for (const secret of secrets) {
      const at = text.indexOf(secret);
      expect(
        at,
        `${secret.slice(0, 12)}… reached Sentry: ${text.slice(Math.max(0, at - 300), at + 40)}`,
      ).toBe(-1);
    }
  });
});

describe('sqlite: Sentry from the built server (`tickets server start`)', () => {
  it('names the TypeScript sources in the frames of an error, through the build’s source maps', async () => {
    const fake = await startSentryFake();
    const database = await createTestDatabase('sqlite');
    const server = await startProcess(
      database.url,
      { SENTRY_DSN: fake.dsn, SENTRY_ENVIRONMENT: 'built' },
      'cli',
    );
    try {
      const { token } = await signUp(server.url);
      // A statement that fails: the feedback table is gone (a separate connection to the same file).
      const db = new SQLite(database.url.slice('sqlite:'.length));
      db.exec('alter table feedback rename to feedback_away');
      db.close();
      const res = await server.call('POST', '/api/feedback', { token, body: { message: 'x' } });
      expect(res.status).toBe(500);
      const event = await fake.waitFor(
        'event',
        (e) => e.tags?.request_id === res.headers.get('x-request-id'),
      );
      expect(event.environment).toBe('built');
      const files: string[] = event.exception.values[0].stacktrace.frames.map(
        (f: { filename: string }) => f.filename,
      );
      // The built JavaScript runs; the frames name its TypeScript.
      expect(
        files.some((f) => /packages\/server\/src\/modules\/audit\/feedback\.ts$/.test(f)),
        files.join('\n'),
      ).toBe(true);
      expect(files.some((f) => /packages\/server\/dist\//.test(f))).toBe(false);
    } finally {
      server.child.kill('SIGTERM');
      await fake.close();
      await database.drop();
    }
  });
});

describe('sqlite: Sentry in a worker process (`tickets server worker`)', () => {
  it('reports a rejection nothing handled, as unhandled, with the release', async () => {
    const fake = await startSentryFake();
    const database = await createTestDatabase('sqlite');
    const db = openDatabase(database.url);
    await migrateToLatest(db);
    await db.close();
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url)), 'server', 'worker'],
      {
        env: {
          ...process.env,
          DATABASE_URL: database.url,
          LOG_LEVEL: 'silent',
          TICKETS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tickets-worker-')),
          SENTRY_DSN: fake.dsn,
          TICKETS_DEBUG_UNHANDLED_REJECTION: '1',
        },
        stdio: 'ignore',
      },
    );
    try {
      const event = await fake.waitFor(
        'event',
        (e) => /unhandled rejection on purpose/.test(e.exception?.values?.[0]?.value ?? ''),
        15_000,
      );
      expect(event.exception.values[0].mechanism).toMatchObject({
        handled: false,
        type: expect.stringMatching(/unhandledrejection/i),
      });
      expect(event.release).toMatch(/^tickets@/);
      // Reported, not fatal: the worker keeps running.
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await fake.close();
      await database.drop();
    }
  });
});
