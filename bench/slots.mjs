// node bench/slots.mjs: one hot event's sales at the database, with no HTTP and no server in the way.
// N connections run the purchase exactly as the server sends it on Postgres (sellAtOnce: the whole sale
// of one ticket, its order, item, ticket and confirmation, as one statement) for one ticket type of one
// event, as fast as they can, with the event's counters on 1 row, or spread over 8 or 32 slots
// (modules/inventory/inventory.ts). Without slots every sale queues on the type's and the event's rows
// until it commits; with slots, sales take different rows and commit side by side. Each configuration
// runs on a fresh schema; afterwards the counters are checked against the tickets written.
//   BENCH_DURATION (seconds per configuration, default 5), BENCH_SLOTS (default 1,8,32),
//   BENCH_CONNECTIONS (default 8,32,64)
// On this 2-core machine the load generator (this process: building rows, the pg driver) shares the
// cores with Postgres, so its own CPU use is printed beside each figure: what bounds the run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, openDatabase, startServer } from '@tickets/server';
import pg from 'pg';
import { orderPaidMessages, outboxRows } from '../packages/server/dist/modules/messaging/outbox.js';
import { sellAtOnce } from '../packages/server/dist/modules/orders/purchase-store.js';

const here = dirname(fileURLToPath(import.meta.url));
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const duration = Number(process.env.BENCH_DURATION ?? 5);
const slotCounts = (process.env.BENCH_SLOTS ?? '1,8,32').split(',').map(Number);
const connectionCounts = (process.env.BENCH_CONNECTIONS ?? '8,32,64').split(',').map(Number);

async function call(base, method, path, token, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * A schema with an organization, an event on sale with `slots` slots and one ticket type, and one sale
 * made through the API: its rows are the template every sale of the run copies (as the server would
 * write them, under new ids).
 */
async function prepare(url, slots) {
  const running = await startServer(
    loadConfig({ PORT: '0', DATABASE_URL: url, LOG_LEVEL: 'warn', TICKETS_WORKER: 'off' }),
  );
  try {
    const base = running.url;
    const { access_token: token } = await call(base, 'POST', '/api/auth/register', null, {
      email: `bench-${Date.now()}@example.com`,
      password: 'correct horse battery',
      name: 'Bench',
    });
    const event = await call(base, 'POST', '/api/events', token, {
      name: 'On-sale stampede',
      timezone: 'Europe/Berlin',
      starts_at: '2030-06-01T20:00:00+02:00',
      ends_at: '2030-06-01T23:00:00+02:00',
      currency: 'EUR',
      inventory_slots: slots,
    });
    const type = await call(base, 'POST', `/api/events/${event.id}/ticket-types`, token, {
      name: 'GA',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 1_000_000,
    });
    await call(base, 'POST', `/api/events/${event.id}/publish`, token);
    const order = await call(base, 'POST', '/api/tickets/purchase', token, {
      event: event.id,
      items: [{ ticket_type: type.id, quantity: 1 }],
      buyer: { name: 'Template Buyer', email: 'template@example.com' },
      payment_method: 'manual',
    });
    return { eventId: event.id, typeId: type.id, orderId: order.id };
  } finally {
    await running.close();
  }
}

async function run(slots, connections) {
  const schema = `bench_slots_${process.pid}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.query(`create schema ${schema}`);
  const url = `${postgresUrl}?schema=${schema}`;
  try {
    const { eventId, typeId, orderId } = await prepare(url, slots);
    const db = openDatabase(url, { poolSize: connections });
    const k = db.kysely;
    const order = await k
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    const items = await k.selectFrom('order_items').selectAll().where('order_id', '=', orderId).execute();
    const tickets = await k.selectFrom('tickets').selectAll().where('order_id', '=', orderId).execute();
    let n = 0;
    /** A new sale like the template's: what purchaseOnPostgres hands sellAtOnce. */
    const sale = () => {
      const id = `${orderId}_${++n}`;
      const o = { ...order, id, invoice_number: null };
      const its = items.map((i) => ({ ...i, order_id: id }));
      const ts = tickets.map((t, j) => ({
        ...t,
        id: `${t.id}_${n}_${j}`,
        order_id: id,
        code: `${t.code}.${n}`,
      }));
      const messages = outboxRows(
        o.org_id,
        orderPaidMessages(
          o,
          ts.map((t) => t.id),
        ),
      );
      return [o, its, ts, messages];
    };
    const item = { typeId, name: 'GA', quantity: 1 };
    let sold = 0;
    let refused = 0;
    let stop = false;
    const latencies = [];
    const worker = async () => {
      while (!stop) {
        const [o, its, ts, messages] = sale();
        const t0 = performance.now();
        const short = await sellAtOnce(k, o, its, ts, item, 'sold', messages, slots);
        latencies.push(performance.now() - t0);
        if (short) refused++;
        else sold++;
      }
    };
    // A second's warm-up (connections opened, statements planned), then the measured run.
    const warm = Array.from({ length: connections }, worker);
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(warm);
    stop = false;
    [sold, refused] = [0, 0];
    latencies.length = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const workers = Array.from({ length: connections }, worker);
    await new Promise((r) => setTimeout(r, duration * 1000));
    stop = true;
    await Promise.all(workers);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);

    // The counters (the rows' own and their slots') agree with the tickets written.
    const count = async (table, id) => {
      const row = await k
        .selectFrom(table)
        .select(['sold', 'held'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const s = await k
        .selectFrom('inventory_slots')
        .select((eb) => eb.fn.coalesce(eb.fn.sum('sold'), eb.lit(0)).as('sold'))
        .where('owner_id', '=', id)
        .executeTakeFirstOrThrow();
      return row.sold + Number(s.sold);
    };
    const written = Number(
      (
        await k
          .selectFrom('tickets')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('event_id', '=', eventId)
          .executeTakeFirstOrThrow()
      ).n,
    );
    const [typeSold, eventSold] = [await count('ticket_types', typeId), await count('events', eventId)];
    if (typeSold !== written || eventSold !== written)
      throw new Error(`counters ${typeSold}/${eventSold} but ${written} tickets`);
    await db.close();
    latencies.sort((a, b) => a - b);
    return {
      slots,
      connections,
      sales_per_s: Math.round(sold / seconds),
      refused_at_once: refused,
      p50_ms: +latencies[Math.floor(latencies.length * 0.5)].toFixed(1),
      p99_ms: +latencies[Math.floor(latencies.length * 0.99)].toFixed(1),
      generator_cpu: +((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2),
    };
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

const rows = [];
for (const connections of connectionCounts)
  for (const slots of slotCounts) {
    const r = await run(slots, connections);
    rows.push(r);
    const base = rows.find((x) => x.connections === connections && x.slots === slotCounts[0]);
    console.log(
      `connections ${String(connections).padStart(2)}  slots ${String(slots).padStart(2)}  ` +
        `${String(r.sales_per_s).padStart(5)} sales/s (${(r.sales_per_s / base.sales_per_s).toFixed(2)}× ${slotCounts[0]} slot)  ` +
        `p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  no slot at once ${r.refused_at_once}  generator CPU ${r.generator_cpu} cores`,
    );
  }

const resultsFile = join(here, 'results.json');
const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : { scenarios: [] };
results.slots = { database: 'postgres', duration_s: duration, runs: rows };
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
