import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { describe, inject } from 'vitest';
import { type Config, loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/server.js';
import { ON_POSTGRES, POSTGRES_URL, type TestDialect } from './dialects.js';
import { invariantViolations } from './invariants.js';

export { DIALECTS, ON_POSTGRES, POSTGRES_URL, type TestDialect } from './dialects.js';

/** A describe for tests written for Postgres alone: skipped by a run without it (`pnpm test:sqlite`). */
export const describeOnPostgres = describe.skipIf(!ON_POSTGRES);

/** Polls `read` until `done` holds for what it returns (or fails after `ms`, showing the last value). */
export async function waitFor<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting; last: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a temp SQLite file, or a new Postgres schema, so test files run in parallel. */
export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tickets-test-'));
    return {
      url: `sqlite:${join(dir, 'test.db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  // Dropped by the global teardown (global-setup.ts), never while other files may be migrating.
  const schema = `${inject('pgSchemaPrefix')}${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const sep = POSTGRES_URL.includes('?') ? '&' : '?';
  return { url: `${POSTGRES_URL}${sep}schema=${schema}`, drop: async () => {} };
}

export interface TestServer extends RunningServer {
  config: Config;
  /** Closes the server and drops its database. */
  stop(): Promise<void>;
}

/** Starts the real server in-process on a fresh database and a free port. */
/** The environment that points a test server at a Stripe fake (its keys and its address). */
export function stripeEnv(stripe: { secretKey: string; webhookSecret: string; url: string }) {
  return {
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STRIPE_API_URL: stripe.url,
  };
}

export async function startTestServer(
  dialect: TestDialect,
  env: Record<string, string> = {},
  overrides: Partial<Config> = {},
): Promise<TestServer> {
  const database = await createTestDatabase(dialect);
  // Its own data dir: the local outbox (`.eml` files) must not land in the user's home.
  const dataDir = mkdtempSync(join(tmpdir(), 'tickets-data-'));
  const config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      LOG_LEVEL: 'silent',
      TICKETS_DATA_DIR: dataDir,
      TICKETS_WORKER_POLL_MS: '50',
      // Tests sign up many organizers from one address and domain; test/security/ sets its own limits.
      TICKETS_REGISTER_MAX_PER_IP: '100000',
      TICKETS_REGISTER_MAX_PER_DOMAIN: '100000',
      ...env,
    },
    overrides,
  );
  const server = await startServer(config, { log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  return {
    ...server,
    config,
    stop: async () => {
      // Every database test proves the sale's invariants on what it leaves behind (invariants.ts).
      const broken = await invariantViolations(server.db).catch((err: unknown) => [String(err)]);
      await server.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
      if (broken.length) throw new Error(`the sale's invariants are broken:\n  ${broken.join('\n  ')}`);
    },
  };
}

/** A minimal fetch wrapper for raw HTTP assertions (the SDK has its own tests). */
export function http(base: string) {
  return async (
    method: string,
    path: string,
    opts: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {},
  ) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    // Reports (CSV, JSON lines) are files, not JSON: their text as it came.
    const file = /^(text\/csv|application\/x-ndjson)/.test(res.headers.get('content-type') ?? '');
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
    const json: any = text ? (file ? text : JSON.parse(text)) : null;
    return { status: res.status, headers: res.headers, body: json };
  };
}

let counter = 0;
/** Registers a fresh user (and organization); returns its tokens. */
export async function signUp(base: string, name = 'Ann Organizer') {
  const email = `user${++counter}-${randomBytes(3).toString('hex')}@example.com`;
  const res = await http(base)('POST', '/api/auth/register', {
    body: { email, password: 'correct horse battery staple', name },
  });
  if (res.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(res.body)}`);
  return {
    email,
    password: 'correct horse battery staple',
    token: res.body.access_token as string,
    session: res.body,
  };
}

export const sampleEvent = (over: Record<string, unknown> = {}) => ({
  name: 'Jazz Night',
  timezone: 'Europe/Berlin',
  starts_at: '2030-12-31T20:00:00+01:00',
  ends_at: '2031-01-01T02:00:00+01:00',
  currency: 'EUR',
  capacity: 100,
  venue: { name: 'Blue Note', city: 'Berlin', country: 'DE' },
  ...over,
});

/**
 * An event of the caller's organization, published, with the given ticket types (EUR prices in minor
 * units); returns its id and the types' ids in the order given.
 */
export async function eventOnSale(
  base: string,
  token: string,
  event: Record<string, unknown>,
  types: { name: string; amount: number; capacity: number }[],
): Promise<{ eventId: string; typeIds: string[] }> {
  const call = http(base);
  const created = await call('POST', '/api/events', { token, body: sampleEvent(event) });
  if (created.status !== 201) throw new Error(`event: ${JSON.stringify(created.body)}`);
  const eventId = created.body.id as string;
  const typeIds: string[] = [];
  for (const t of types) {
    const res = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: t.name, price: { amount: t.amount, currency: 'EUR' }, capacity: t.capacity },
    });
    if (res.status !== 201) throw new Error(`ticket type: ${JSON.stringify(res.body)}`);
    typeIds.push(res.body.id);
  }
  const published = await call('POST', `/api/events/${eventId}/publish`, { token });
  if (published.status !== 200) throw new Error(`publish: ${JSON.stringify(published.body)}`);
  return { eventId, typeIds };
}
