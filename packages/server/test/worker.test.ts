// "Several workers against one Postgres; killing one mid-batch loses nothing": real `tickets server worker`
// processes claiming from one outbox (FOR UPDATE SKIP LOCKED), sending to a fake SendGrid that answers slowly.
// Postgres only: several worker processes is the Postgres deployment; on SQLite the server runs one worker,
// which messaging.test.ts covers on both databases.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';
import { queueMessages } from '../src/modules/messaging/outbox.js';
import { type FakeSendGrid, startFakeSendGrid } from './fakes/sendgrid.js';
import {
  describeOnPostgres,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  type TestServer,
} from './harness.js';

const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

function startWorker(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, 'server', 'worker'], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, output: () => output };
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

describeOnPostgres('postgres: message workers in their own processes', () => {
  let s: TestServer;
  let sg: FakeSendGrid;
  let db: Db;
  let orgId: string;
  let order: { id: string; event_id: string; buyer_email: string };
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    sg = await startFakeSendGrid();
    // The API server queues; only the worker processes send.
    s = await startTestServer('postgres', {
      TICKETS_WORKER: 'off',
      SENDGRID_API_KEY: sg.apiKey,
      SENDGRID_API_URL: sg.url,
    });
    db = openDatabase(s.config.databaseUrl);
    const call = http(s.url);
    const { token } = await signUp(s.url);
    orgId = (await call('GET', '/api/me', { token })).body.organization.id;
    const e = await call('POST', '/api/events', { token, body: sampleEvent() });
    const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
      token,
      body: { name: 'GA', price: { amount: 1000, currency: 'EUR' }, capacity: 10 },
    });
    await call('POST', `/api/events/${e.body.id}/publish`, { token });
    const o = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: e.body.id,
        items: [{ ticket_type: t.body.id, quantity: 1 }],
        buyer: { name: 'Wes Worker', email: 'wes@example.com' },
        payment_method: 'manual',
      },
    });
    order = { id: o.body.id, event_id: e.body.id, buyer_email: 'wes@example.com' };
  });
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map(exited));
    await db.close();
    await s.stop();
    await sg.close();
  });

  const queue = (n: number) =>
    queueMessages(
      db.kysely,
      orgId,
      Array.from({ length: n }, () => ({
        template: 'order_confirmation' as const,
        channel: 'email' as const,
        recipient: order.buyer_email,
        orderId: order.id,
        eventId: order.event_id,
      })),
    );

  const statuses = async (ids: string[]) =>
    db.kysely.selectFrom('outbox').select(['id', 'status']).where('id', 'in', ids).execute();

  async function allSent(ids: string[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const rows = await statuses(ids);
      if (rows.every((r) => r.status === 'sent')) return;
      if (Date.now() > deadline)
        throw new Error(`not all sent: ${JSON.stringify(rows.filter((r) => r.status !== 'sent'))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const sendsOf = (ids: string[]) => {
    const counts = new Map<string, number>();
    for (const mail of sg.mails) {
      const id = mail.body.custom_args?.message_id;
      if (id && ids.includes(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  };

  const env = () => ({
    DATABASE_URL: s.config.databaseUrl,
    TICKETS_DATA_DIR: s.config.dataDir,
    SENDGRID_API_KEY: sg.apiKey,
    SENDGRID_API_URL: sg.url,
    TICKETS_WORKER_CONCURRENCY: '4',
    TICKETS_WORKER_POLL_MS: '50',
    TICKETS_MESSAGE_LEASE_SECONDS: '2',
  });

  it('two workers share the outbox: every message sent once', async () => {
    sg.setLatency(20);
    const ids = await queue(60);
    const a = startWorker(env());
    const b = startWorker(env());
    workers.push(a.child, b.child);
    await allSent(ids, 30_000);
    const counts = sendsOf(ids);
    expect(counts.size).toBe(60);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([exited(a.child), exited(b.child)]);
    expect(a.child.exitCode).toBe(0);
  });

  it('a row waiting in a slow batch keeps its lease: another worker never sends it too', async () => {
    // One lane, a batch of two, a 1 s lease and sends of 700 ms: each batch's second row starts after
    // more than half its lease, when the other worker (polling every 50 ms) would take it over.
    sg.setLatency(700);
    const ids = await queue(6);
    const slow = { ...env(), TICKETS_WORKER_CONCURRENCY: '1', TICKETS_MESSAGE_LEASE_SECONDS: '1' };
    const a = startWorker(slow);
    const b = startWorker(slow);
    workers.push(a.child, b.child);
    await allSent(ids, 30_000);
    const counts = sendsOf(ids);
    expect(counts.size).toBe(6);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([exited(a.child), exited(b.child)]);
  });

  it('a worker killed mid-batch loses nothing: its messages go out when their lease ends', async () => {
    sg.setLatency(150);
    const ids = await queue(40);
    const doomed = startWorker(env());
    workers.push(doomed.child);
    // Let it claim and start sending, then kill it without warning.
    const deadline = Date.now() + 20_000;
    while (sendsOf(ids).size < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    doomed.child.kill('SIGKILL');
    await exited(doomed.child);
    const stranded = (await statuses(ids)).filter((r) => r.status === 'sending').length;
    expect(stranded).toBeGreaterThan(0);

    const survivor = startWorker(env());
    workers.push(survivor.child);
    await allSent(ids, 30_000);
    const counts = sendsOf(ids);
    expect(counts.size).toBe(40);
    // At least once: only a send in flight when the worker died (at most its concurrency) may go twice.
    const twice = [...counts.values()].filter((n) => n > 1).length;
    expect(twice).toBeLessThanOrEqual(4);
  });
});
