// node bench/hot-event.mjs: one hot event on Postgres, through HTTP, with 1 and 2 server processes and
// its counters on 1 row or spread over slots (BENCH_SLOTS, default 1,8). Buyers (BENCH_CONNECTIONS,
// default 24, split evenly over the processes) buy one ticket each, every request a distinct buyer and
// Idempotency-Key, for BENCH_DURATION seconds (default 5), worker off (bench/confirmations.mjs measures
// the confirmations). Each run on a fresh schema; afterwards the database must hold exactly the tickets
// answered 201 and counters equal to them. bench/slots.mjs measures the database alone; on this 2-core
// machine the HTTP figure is bound by CPU (two servers, Postgres and the load generator share two
// cores), which the printed CPU use per process shows.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 24);
const slotCounts = (process.env.BENCH_SLOTS ?? '1,8').split(',').map(Number);

function startServer(databaseUrl) {
  const child = spawn(process.execPath, [join(here, 'servers.mjs'), 'tickets', databaseUrl], {
    cwd: join(root, 'packages/server'),
    env: {
      ...process.env,
      BENCH_LOG_LEVEL: 'warn',
      TICKETS_WORKER: 'off',
      TICKETS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tickets-hot-')),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ url: String(d).split('\n')[0].trim(), child }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

async function api(base, method, path, token, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** CPU seconds a process has used (Linux /proc), to tell what bounds a run. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function buyLoad(url, token, sale, tag, conns) {
  let n = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/api/tickets/purchase`,
        method: 'POST',
        connections: conns,
        duration,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req) => {
              const i = ++n;
              return {
                ...req,
                headers: { ...req.headers, 'idempotency-key': `${tag}-${i}` },
                body: JSON.stringify({
                  event: sale.eventId,
                  items: [{ ticket_type: sale.typeId, quantity: 1 }],
                  buyer: { name: `Buyer ${i}`, email: `${tag}-${i}@example.com` },
                  payment_method: 'manual',
                }),
              };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false });
  });
}

async function run(processes, slots) {
  const schema = `bench_hot_${process.pid}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.query(`create schema ${schema}`);
  const url = `${postgresUrl}?schema=${schema}`;
  const servers = [];
  try {
    // Started one after the other: the first migrates the schema.
    for (let i = 0; i < processes; i++) servers.push(await startServer(url));
    const base = servers[0].url;
    const { access_token: token } = await api(base, 'POST', '/api/auth/register', null, {
      email: 'hot@example.com',
      password: 'correct horse battery',
      name: 'Hot',
    });
    const event = await api(base, 'POST', '/api/events', token, {
      name: 'On-sale stampede',
      timezone: 'Europe/Berlin',
      starts_at: '2030-06-01T20:00:00+02:00',
      ends_at: '2030-06-01T23:00:00+02:00',
      currency: 'EUR',
      capacity: 1_000_000,
      inventory_slots: slots,
    });
    const type = await api(base, 'POST', `/api/events/${event.id}/ticket-types`, token, {
      name: 'GA',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 1_000_000,
    });
    await api(base, 'POST', `/api/events/${event.id}/publish`, token);
    const sale = { eventId: event.id, typeId: type.id };
    const cpu0 = servers.map((s) => cpuSeconds(s.child.pid));
    const pgCpu0 = await postgresCpu(admin);
    const results = await Promise.all(
      servers.map((s, i) => buyLoad(s.url, token, sale, `p${i}`, Math.round(connections / processes))),
    );
    const serverCpu = servers.map((s, i) => (cpuSeconds(s.child.pid) - cpu0[i]) / duration);
    const pgCpu = pgCpu0 === null ? null : ((await postgresCpu(admin)) - pgCpu0) / duration;
    const created = results.reduce((n, r) => n + (r.statusCodeStats?.['201']?.count ?? 0), 0);
    const errors = results.reduce((n, r) => n + r.non2xx + r.errors, 0);

    // The database holds what was answered (and perhaps a few sold as the load stopped mid-request),
    // and the counters, row and slots, equal the tickets.
    // One statement, so one snapshot: sales still committing as the load stops (a request cut off
    // mid-flight) land either in all three figures or in none. Read one by one, a sale committed
    // between the reads showed up as counters ahead of the tickets.
    await admin.query(`set search_path to ${schema}`);
    const counted = (table, n) =>
      `(select sold from ${table} where id = $${n}) + coalesce((select sum(sold) from inventory_slots where owner_id = $${n}), 0)`;
    const figures = (
      await admin.query(
        `select (select count(*) from tickets where event_id = $2) as tickets, ${counted('ticket_types', 1)} as type_sold, ${counted('events', 2)} as event_sold`,
        [type.id, sale.eventId],
      )
    ).rows[0];
    const [tickets, typeSold, eventSold] = [figures.tickets, figures.type_sold, figures.event_sold].map(
      Number,
    );
    const failures = [];
    if (typeSold !== tickets || eventSold !== tickets)
      failures.push(`counters ${typeSold}/${eventSold}, ${tickets} tickets`);
    if (tickets < created) failures.push(`${created} answered 201 but ${tickets} tickets`);
    const latency = results.map((r) => r.latency.p99);
    return {
      processes,
      slots,
      orders_per_s: Math.round(created / duration),
      p99_ms: Math.max(...latency),
      errors,
      server_cpu: serverCpu.map((c) => +c.toFixed(2)),
      postgres_cpu: pgCpu === null ? null : +pgCpu.toFixed(2),
      failures,
    };
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
    await admin.query('set search_path to public');
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

/** Postgres's CPU seconds so far (its backends are this machine's processes), or null when unknown. */
async function postgresCpu(admin) {
  try {
    const { rows } = await admin.query('select pg_backend_pid() as pid');
    const parent = readFileSync(`/proc/${rows[0].pid}/stat`, 'utf8').split(') ')[1].split(' ')[1];
    const { execFileSync } = await import('node:child_process');
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', parent], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    return children.reduce((sum, pid) => {
      try {
        return sum + cpuSeconds(pid);
      } catch {
        return sum;
      }
    }, cpuSeconds(parent));
  } catch {
    return null;
  }
}

const rows = [];
let failed = false;
console.log(`Postgres, ${connections} connections, ${duration} s per run, one event, one ticket per order`);
for (const processes of [1, 2])
  for (const slots of slotCounts) {
    const r = await run(processes, slots);
    rows.push(r);
    const base = rows[0];
    console.log(
      `${processes} process${processes > 1 ? 'es' : '  '}  slots ${String(slots).padStart(2)}  ` +
        `${String(r.orders_per_s).padStart(5)} orders/s (${(r.orders_per_s / base.orders_per_s).toFixed(2)}× 1 process, ${slotCounts[0]} slot)  ` +
        `p99 ${r.p99_ms} ms  CPU: servers ${r.server_cpu.join(' + ')}, Postgres ${r.postgres_cpu ?? '?'} cores` +
        (r.errors ? `  ${r.errors} errors` : '') +
        (r.failures.length ? `  FAILED: ${r.failures.join('; ')}` : ''),
    );
    if (r.failures.length) failed = true;
  }

const resultsFile = join(here, 'results.json');
const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : { scenarios: [] };
results.hot_event = { database: 'postgres', connections, duration_s: duration, runs: rows };
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
if (failed) process.exitCode = 1;
