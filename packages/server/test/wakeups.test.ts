// Workers wake when messages are queued, not at their next poll: a purchase's confirmation goes out at
// once with the poll set to a minute — from the worker in the API process (both databases), and from a
// `tickets server worker` process of its own on Postgres (woken by NOTIFY).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';

import {
  createTestDatabase,
  DIALECTS,
  describeOnPostgres,
  eventOnSale,
  http,
  signUp,
  startTestServer,
  type TestDatabase,
  type TestServer,
  waitFor,
} from './harness.js';
import { type ServerProcess, startProcess, stopProcess } from './processes.js';

const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
/** Far longer than the test waits: a confirmation sent in time was woken, not polled for. */
const POLL_MS = '60000';
const SENT_WITHIN_MS = 5_000;

async function buyOne(base: string, token: string, eventId: string, typeId: string, email: string) {
  const res = await http(base)('POST', '/api/tickets/purchase', {
    token,
    body: {
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer: { name: 'Wendy Wake', email },
      payment_method: 'manual',
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

const confirmationOf = (db: Db, orderId: string) =>
  db.kysely
    .selectFrom('outbox')
    .select(['status'])
    .where('order_id', '=', orderId)
    .where('kind', '=', 'order_confirmation')
    .executeTakeFirst();

describe.each(DIALECTS)('%s: the worker in the API process', (dialect) => {
  let s: TestServer;
  let token: string;
  let sale: { eventId: string; typeIds: string[] };

  beforeAll(async () => {
    s = await startTestServer(dialect, { TICKETS_WORKER_POLL_MS: POLL_MS });
    token = (await signUp(s.url)).token;
    sale = await eventOnSale(s.url, token, { name: 'Wake Night' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]);
  });
  afterAll(() => s?.stop());

  it('sends a confirmation at once after the sale, though its poll is a minute', async () => {
    // Let the worker finish its first look and go to sleep.
    await new Promise((r) => setTimeout(r, 300));
    const orderId = await buyOne(s.url, token, sale.eventId, sale.typeIds[0]!, 'inproc@example.com');
    const row = await waitFor(
      () => confirmationOf(s.db, orderId),
      (r) => r?.status === 'sent',
      SENT_WITHIN_MS,
    );
    expect(row?.status).toBe('sent');
  });
});

describeOnPostgres('postgres: a worker process of its own', () => {
  let database: TestDatabase;
  let db: Db;
  let api: ServerProcess;
  let worker: ChildProcess;
  let token: string;
  let sale: { eventId: string; typeIds: string[] };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    api = await startProcess(database.url, { TICKETS_WORKER: 'off' });
    db = openDatabase(database.url, { poolSize: 2 });
    worker = spawn(process.execPath, [CLI, 'server', 'worker'], {
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        TICKETS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tickets-wake-')),
        TICKETS_WORKER_POLL_MS: POLL_MS,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // Listening once its LISTEN shows in Postgres' list of sessions.
    await waitFor(
      async () =>
        (
          await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
            where query ilike ${'listen "tickets_outbox:%'}`.execute(db.kysely)
        ).rows[0]!.n,
      (n) => n > 0,
      20_000,
    );
    token = (await signUp(api.url)).token;
    sale = await eventOnSale(api.url, token, { name: 'Wake Elsewhere' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]);
  }, 60_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await stopProcess(api);
    await db?.close();
    await database?.drop();
  });

  it("sends a confirmation sold by the API process at once: the sale's NOTIFY wakes it", async () => {
    const orderId = await buyOne(api.url, token, sale.eventId, sale.typeIds[0]!, 'elsewhere@example.com');
    const row = await waitFor(
      () => confirmationOf(db, orderId),
      (r) => r?.status === 'sent',
      SENT_WITHIN_MS,
    );
    expect(row?.status).toBe('sent');
  });
});
