// node bench/confirmations.mjs: the purchase as the server really runs it. Every paid order queues its
// confirmation (HTML and text, the tickets' PDF, an inline QR image), and by default (`pnpm start`) the
// API process also renders and sends it. Buyers buy one ticket each for one event, on SQLite and on
// Postgres, in three layouts, each on a fresh database:
//   worker off        TICKETS_WORKER=off: nothing sent (what bench/run.mjs measures)
//   worker on         the default: the message worker in the API process
//   worker process    the API with TICKETS_WORKER=off and one `tickets server worker` process beside it
// E-mails go to the local .eml outbox, as on a fresh install. For each layout: orders/s, the ratio to
// "worker off", and how long confirmations took to go out (sent_at − created_at, read from the outbox
// once it has drained; p99 target < 5 s). Issue 19's targets: worker on ≥ 0.8× worker off on SQLite,
// ≥ 0.6× on Postgres.
//   BENCH_DURATION (default 5), BENCH_CONNECTIONS (default 24), BENCH_DIALECTS (default sqlite,postgres),
//   BENCH_CPU_PROF=dir (a CPU profile of every server and worker process, and of their threads)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@tickets/server';
import autocannon from 'autocannon';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const BIN = join(root, 'packages/cli/dist/bin.js');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 24);
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DRAIN_MS = 120_000;
const dialects = (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',');

const profile = () =>
  process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

function spawned(args, env) {
  return spawn(process.execPath, [...profile(), ...args], {
    cwd: join(root, 'packages/server'),
    env: { ...process.env, BENCH_LOG_LEVEL: 'warn', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function startServer(databaseUrl, env) {
  const child = spawned([join(here, 'servers.mjs'), 'tickets', databaseUrl], env);
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ url: String(d).split('\n')[0].trim(), child }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const stop = (child) =>
  new Promise((resolve) => {
    if (!child || child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

async function json(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function onSale(url) {
  const session = await json(`${url}/api/auth/register`, {
    method: 'POST',
    body: JSON.stringify({ email: 'confirm@example.com', password: 'correct horse battery', name: 'Bench' }),
  });
  const headers = { authorization: `Bearer ${session.access_token}` };
  const api = (path, body) => json(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const event = await api('/api/events', {
    name: 'Confirmation Night',
    timezone: 'Europe/Berlin',
    starts_at: '2030-12-31T20:00:00+01:00',
    ends_at: '2031-01-01T02:00:00+01:00',
    currency: 'EUR',
    venue: { name: 'Hall', city: 'Berlin', country: 'DE' },
  });
  const type = await api(`/api/events/${event.id}/ticket-types`, {
    name: 'General admission',
    price: { amount: 2500, currency: 'EUR' },
    capacity: 200_000,
  });
  await api(`/api/events/${event.id}/publish`, {});
  return { token: session.access_token, eventId: event.id, typeId: type.id };
}

function buy(url, sale, tag) {
  let n = 0;
  return new Promise((resolve, reject) =>
    autocannon(
      {
        url,
        connections,
        duration,
        headers: { authorization: `Bearer ${sale.token}`, 'content-type': 'application/json' },
        requests: [
          {
            method: 'POST',
            path: '/api/tickets/purchase',
            setupRequest: (req) => {
              n++;
              return {
                ...req,
                headers: { ...req.headers, 'idempotency-key': `${tag}-${n}` },
                body: JSON.stringify({
                  event: sale.eventId,
                  items: [{ ticket_type: sale.typeId, quantity: 1 }],
                  buyer: { name: `Buyer ${n}`, email: `buyer${n}@${tag}.bench.example` },
                  payment_method: 'manual',
                }),
              };
            },
          },
        ],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    ),
  );
}

const percentile = (xs, p) =>
  xs.length ? xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] : 0;

/** Waits for the outbox to drain, then the confirmations' delays (ms), sorted. */
async function delivered(databaseUrl) {
  const db = openDatabase(databaseUrl);
  try {
    const deadline = Date.now() + DRAIN_MS;
    for (;;) {
      const left = await db.kysely
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('status', 'in', ['queued', 'sending'])
        .executeTakeFirstOrThrow();
      if (Number(left.n) === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const rows = await db.kysely
      .selectFrom('outbox')
      .select(['status', 'created_at', 'sent_at'])
      .where('kind', '=', 'order_confirmation')
      .execute();
    const sent = rows.filter((r) => r.status === 'sent' && r.sent_at);
    const delays = sent.map((r) => Date.parse(r.sent_at) - Date.parse(r.created_at)).sort((a, b) => a - b);
    return { total: rows.length, sent: sent.length, delays };
  } finally {
    await db.close();
  }
}

async function layout(dialect, name, fresh) {
  const { databaseUrl, drop } = await fresh();
  const dataDir = mkdtempSync(join(tmpdir(), 'tickets-bench-confirm-'));
  const env = { TICKETS_DATA_DIR: dataDir, TICKETS_WORKER_POLL_MS: '200' };
  const { url, child } = await startServer(databaseUrl, {
    ...env,
    TICKETS_WORKER: name === 'worker on' ? 'on' : 'off',
  });
  let worker = null;
  try {
    const sale = await onSale(url);
    if (name === 'worker process')
      worker = spawned([BIN, 'server', 'worker'], { ...env, DATABASE_URL: databaseUrl });
    const result = await buy(url, sale, `${dialect}-${name.replace(' ', '-')}`);
    const rps = result['2xx'] / result.duration;
    const mail = name === 'worker off' ? null : await delivered(databaseUrl);
    return { dialect, name, rps, p99: result.latency.p99, errors: result.non2xx + result.errors, mail };
  } finally {
    await stop(worker);
    await stop(child);
    await drop();
  }
}

const LAYOUTS = ['worker off', 'worker on', 'worker process'];
const rows = [];
if (dialects.includes('sqlite'))
  for (const name of LAYOUTS)
    rows.push(
      await layout('sqlite', name, async () => ({
        databaseUrl: `sqlite:${join(mkdtempSync(join(tmpdir(), 'tickets-confirm-')), 'bench.db')}`,
        drop: async () => {},
      })),
    );
const admin = new pg.Client({ connectionString: postgresUrl });
await admin.connect();
try {
  if (dialects.includes('postgres'))
    for (const name of LAYOUTS)
      rows.push(
        await layout('postgres', name, async () => {
          const schema = `bench_confirm_${process.pid}_${name.replace(' ', '_')}`;
          await admin.query(`create schema ${schema}`);
          return {
            databaseUrl: `${postgresUrl}?schema=${schema}`,
            drop: () => admin.query(`drop schema if exists ${schema} cascade`),
          };
        }),
      );
} finally {
  await admin.end();
}

const TARGET = { sqlite: 0.8, postgres: 0.6 };
const fmt = (n, d = 0) => n.toFixed(d).padStart(9);
console.log(
  `POST /api/tickets/purchase, 1 ticket each, ${connections} connections, confirmations to the local .eml outbox`,
);
console.log(
  `  ${'database'.padEnd(10)}${'layout'.padEnd(16)}${'orders/s'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}${'vs off'.padStart(8)}${'sent'.padStart(13)}${'delay p50'.padStart(11)}${'p99 ms'.padStart(9)}  target`,
);
let failed = false;
const scenarios = [];
for (const r of rows) {
  const off = rows.find((o) => o.dialect === r.dialect && o.name === 'worker off');
  const ratio = r.rps / off.rps;
  const p99 = r.mail ? percentile(r.mail.delays, 99) : 0;
  let verdict = '';
  if (r.name === 'worker on') {
    const ok = ratio >= TARGET[r.dialect] && p99 < 5000;
    verdict = `${ok ? 'met' : 'NOT met'} (≥ ${TARGET[r.dialect]}×, delay p99 < 5 s)`;
  }
  if (r.mail && r.mail.sent !== r.mail.total) failed = true;
  if (r.errors) failed = true;
  console.log(
    `  ${r.dialect.padEnd(10)}${r.name.padEnd(16)}${fmt(r.rps)}${fmt(r.p99)}${String(r.errors).padStart(8)}${`${ratio.toFixed(2)}×`.padStart(8)}${(r.mail ? `${r.mail.sent}/${r.mail.total}` : '-').padStart(13)}${(r.mail ? fmt(percentile(r.mail.delays, 50)) : '        -').padStart(11)}${r.mail ? fmt(p99) : '        -'}  ${verdict}`,
  );
  scenarios.push({
    name: `purchase, ${r.name}`,
    database: r.dialect,
    value: Math.round(r.rps),
    unit: 'orders/s',
    ratio: Number(ratio.toFixed(3)),
    ...(r.mail ? { delivery_p99_ms: p99 } : {}),
  });
}
console.log(
  '  (vs off: orders/s against the same database with the worker off, in this run; sent: confirmations',
);
console.log(
  '   sent of those queued, after the outbox drained; a lost or failed confirmation fails the run)',
);
console.log();
const resultsFile = join(here, 'results.json');
const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : { scenarios: [] };
const names = new Set(scenarios.map((s) => `${s.name}/${s.database}`));
results.scenarios = results.scenarios.filter((s) => !names.has(`${s.name}/${s.database}`)).concat(scenarios);
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
if (failed) process.exitCode = 1;
