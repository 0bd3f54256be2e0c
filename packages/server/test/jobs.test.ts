import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJobs } from '../src/jobs/runner.js';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  eventOnSale,
  http,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
  waitFor,
} from './harness.js';

const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the job runner', () => {
  it('never overlaps a slow run with the next tick, and goes on after a failure', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let failures = 0;
    const jobs = runJobs(
      [
        {
          name: 'slow',
          everyMs: 10,
          run: async () => {
            running++;
            most = Math.max(most, running);
            runs++;
            await sleep(60);
            running--;
          },
        },
        {
          name: 'failing',
          everyMs: 10,
          run: async () => {
            failures++;
            throw new Error('boom');
          },
        },
      ],
      pino({ level: 'silent' }),
    );
    await sleep(250);
    await jobs.stop();
    expect(most).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(5); // 250 ms of 60 ms runs, ticks while busy skipped
    expect(failures).toBeGreaterThanOrEqual(3);
    // stop() waited for the run in flight: nothing is running once it resolved, and nothing starts after.
    expect(running).toBe(0);
    const after = runs;
    await sleep(50);
    expect(runs).toBe(after);
  });
});

describe.each(DIALECTS)('%s: `tickets server worker` runs the sale’s jobs', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    // The API server sweeps only once an hour here: what happens within the test is the worker's doing.
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
      TICKETS_HOLD_SWEEP_SECONDS: '3600',
    });
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await s.stop();
    await stripe.close();
  });

  it('expires an unpaid hold and puts its seats back on sale', async () => {
    const call = http(s.url);
    const { token } = await signUp(s.url);
    const { eventId, typeIds } = await eventOnSale(s.url, token, { name: 'Worker Night' }, [
      { name: 'GA', amount: 2000, capacity: 5 },
    ]);
    const order = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeIds[0], quantity: 2 }],
        buyer: { name: 'Una Unpaid', email: 'una@example.com' },
        payment_method: 'stripe',
      },
    });
    expect(order.body.status).toBe('pending');
    await s.db.kysely
      .updateTable('orders')
      .set({ hold_expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', '=', order.body.id)
      .execute();

    worker = spawn(process.execPath, [BIN, 'server', 'worker'], {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        DATABASE_URL: s.config.databaseUrl,
        TICKETS_DATA_DIR: s.config.dataDir,
        TICKETS_HOLD_SWEEP_SECONDS: '1',
      },
      stdio: 'ignore',
    });
    const after = await waitFor(
      () => call('GET', `/api/orders/${order.body.id}`, { token }),
      (r) => r.body.status !== 'pending',
      15_000,
    );
    expect(after.body.status).toBe('expired');
    const availability = await call('GET', `/api/tickets/availability?event=${eventId}`, { token });
    expect(availability.body.ticket_types[0]).toMatchObject({ held: 0, available: 5 });
  });
});
