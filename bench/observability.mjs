// node bench/observability.mjs: what observability costs the request paths. The purchase and the online
// validation loads of bench/run.mjs, each on a fresh database, in three configurations of the server:
//   off         no SENTRY_DSN, no TICKETS_METRICS_TOKEN
//   tracing 0   SENTRY_DSN pointing at a local fake Sentry (an envelope sink in this process),
//               SENTRY_TRACES_SAMPLE_RATE=0, TICKETS_METRICS_TOKEN set and GET /metrics scraped with
//               the bearer token every second during the loads (as a Prometheus would)
//   tracing 1.0 the same with SENTRY_TRACES_SAMPLE_RATE=1: every request a transaction sent to the sink
// Loads (BENCH_DURATION seconds each, BENCH_CONNECTIONS connections), as in bench/run.mjs:
//   purchase    POST /api/tickets/purchase, one ticket each, a distinct buyer and Idempotency-Key per
//               request, on an event with far more room than is sold; requests cut off when the load
//               ends are settled by retrying their key
//   validate    POST /api/tickets/validate with a `checkin` API key, a different pre-sold ticket's code
//               per request
// Two rounds in alternating order (off, tracing 0, tracing 1.0; then tracing 1.0, tracing 0, off), and
// per configuration and load the round with the lower CPU µs is kept, to damp the machine's noise.
// The server runs in a child process (this file, started as `observability.mjs serve <DATABASE_URL>`:
// bench/servers.mjs hands the server no Sentry or metrics settings).
//
// Reading the output: CPU µs is the server process's main-thread CPU time per answered request (from
// /proc; on SQLite the main thread is the bound, so it is the clean signal; req/s is noisier on a shared
// machine). Overhead = CPU µs on / CPU µs off − 1, in the same run. Target (the issue): under 5 % at
// tracing 0 for both loads (PASS/FAIL printed; a miss does not fail the run); at 1.0 it is recorded.
// Checks, each failing the run (exit 1): the sink got transactions from every tracing 1.0 server and
// none from tracing 0 (nor anything with Sentry off); every scrape answered 200 with metrics, at least
// BENCH_DURATION − 1 per load; no load errors or non-2xx answers once cut-off purchases are settled,
// and the tickets sold equal the 2xx answers.
//
//   BENCH_DURATION          seconds per load (default 5)
//   BENCH_CONNECTIONS       connections per load (default 20)
//   BENCH_OBS_WARMUP        seconds of unmeasured load before each measured one, so the JIT's first
//                           work is not counted (default 1; 0 for none)
//   BENCH_OBS_DIALECTS      databases, comma-separated: sqlite, postgres (default sqlite)
//   BENCH_LOG_LEVEL         the server's log level (default warn)
//   TEST_POSTGRES_URL       the Postgres server (default postgres://postgres@127.0.0.1:5432/test); each
//                           run on a schema of its own, bench_obs_<pid>_<n>, created and dropped
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const warmup = Number(process.env.BENCH_OBS_WARMUP ?? 1);
const dialects = (process.env.BENCH_OBS_DIALECTS ?? 'sqlite').split(',').map((d) => d.trim().toLowerCase());
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Room for the purchase run: far more than is sold in BENCH_DURATION seconds. */
const purchaseCapacity = Math.max(20_000, duration * 4_000);
/** Tickets sold before the validation run, each scanned once (as in bench/run.mjs). */
const validateTickets = Math.max(20_000, duration * 7_000);
const typesPerOrder = 20;
const perLine = 100;
const metricsToken = 'bench-observability-metrics-token';

const configurations = [
  { name: 'off', sentry: null },
  { name: 'tracing 0', sentry: '0' },
  { name: 'tracing 1.0', sentry: '1' },
];

// ---------------------------------------------------------------------------------------------------
// The server (child process)

/** `observability.mjs serve <DATABASE_URL>`: the tickets API with the observability settings of the environment. */
async function serve(databaseUrl) {
  const { loadConfig, startServer } = await import('@tickets/server');
  const passed = ['SENTRY_DSN', 'SENTRY_TRACES_SAMPLE_RATE', 'SENTRY_ENVIRONMENT'];
  passed.push('TICKETS_METRICS_TOKEN', 'TICKETS_INSTANCE', 'TICKETS_DATA_DIR');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    // The request paths alone, as in bench/run.mjs.
    TICKETS_WORKER: 'off',
    ...Object.fromEntries(passed.filter((n) => process.env[n]).map((n) => [n, process.env[n]])),
  });
  const running = await startServer(config);
  process.stdout.write(`${running.url}\n`);
  process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
}

function startChild(databaseUrl, env) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', databaseUrl], {
    cwd: join(root, 'packages/server'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ url: String(d).split('\n')[0].trim(), child }));
    child.once('exit', (code) => reject(new Error(`tickets server exited with ${code}`)));
  });
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------------------
// The fake Sentry and the scraper

/**
 * A fake Sentry ingest on 127.0.0.1: answers 200 `{}` to POST /api/<project>/envelope/, counting
 * envelopes, bytes (as sent) and items by type (read from the item headers, gunzipped first when the
 * SDK compressed the envelope).
 */
function startSink() {
  const counts = { envelopes: 0, bytes: 0, items: {}, unexpected: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || !/^\/api\/[^/]+\/envelope\/?(\?|$)/.test(req.url ?? '')) {
        counts.unexpected++;
        res.writeHead(404).end();
        return;
      }
      const raw = Buffer.concat(chunks);
      counts.envelopes++;
      counts.bytes += raw.length;
      try {
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        for (const type of itemTypes(body)) counts.items[type] = (counts.items[type] ?? 0) + 1;
      } catch {
        counts.items.unreadable = (counts.items.unreadable ?? 0) + 1;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ counts, port: server.address().port, close: () => server.close() }),
    ),
  );
}

/** The types of an envelope's items: a header line, then per item a header line and its payload. */
function itemTypes(body) {
  const types = [];
  const lineEnd = (from) => {
    const i = body.indexOf(10, from);
    return i === -1 ? body.length : i;
  };
  let at = lineEnd(0) + 1; // past the envelope's header
  while (at < body.length) {
    const end = lineEnd(at);
    if (end === at) {
      at++;
      continue;
    }
    const header = JSON.parse(body.subarray(at, end).toString('utf8'));
    types.push(typeof header.type === 'string' ? header.type : 'unknown');
    at = end + 1;
    // The payload: `length` bytes when the header says, else up to the next newline.
    at = typeof header.length === 'number' ? at + header.length + 1 : lineEnd(at) + 1;
  }
  return types;
}

/** Waits until the sink has had nothing new for half a second (the server's last envelopes are in). */
async function sinkSettled(sink) {
  for (let before = -1; sink.counts.envelopes !== before; ) {
    before = sink.counts.envelopes;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** GET /metrics with the bearer token once a second (the first at once) until stopped. */
function startScraper(url) {
  const s = { ok: 0, failed: [], maxMs: 0 };
  let inFlight = Promise.resolve();
  const scrape = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      const text = await res.text();
      if (res.ok && text.includes('tickets_http_requests_total')) s.ok++;
      else s.failed.push(`${res.status}`);
    } catch (err) {
      s.failed.push(err.message);
    }
    s.maxMs = Math.max(s.maxMs, performance.now() - t0);
  };
  inFlight = scrape();
  const timer = setInterval(() => {
    inFlight = scrape();
  }, 1000);
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      return s;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The loads (after bench/run.mjs)

/** CPU milliseconds of a process's main thread (Linux /proc; null elsewhere). */
function mainThreadCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime + stime, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** One autocannon load, with the server's main-thread CPU µs per answered request (`cpuUs`). */
function load(pid, options) {
  const before = mainThreadCpuMs(pid);
  return new Promise((resolve, reject) => {
    autocannon({ connections, duration, ...options }, (err, result) => {
      if (err) return reject(err);
      const after = mainThreadCpuMs(pid);
      const answered = result.requests.total;
      result.cpuUs =
        before !== null && after !== null && answered ? ((after - before) * 1000) / answered : null;
      resolve(result);
    });
  });
}

async function json(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function createEvent(api, name, capacity) {
  return api('POST', '/api/events', {
    name,
    timezone: 'Europe/Berlin',
    starts_at: '2030-12-31T20:00:00+01:00',
    ends_at: '2031-01-01T02:00:00+01:00',
    currency: 'EUR',
    capacity,
    venue: { name: 'Hall', city: 'Berlin', country: 'DE' },
  });
}

/** A published event whose capacity and single ticket type's capacity are both `capacity`. */
async function onSale(api, name, capacity) {
  const event = await createEvent(api, name, capacity);
  const type = await api('POST', `/api/events/${event.id}/ticket-types`, {
    name: 'General admission',
    price: { amount: 2500, currency: 'EUR' },
    capacity,
  });
  await api('POST', `/api/events/${event.id}/publish`);
  return { eventId: event.id, typeId: type.id };
}

/** Buyers: request n is buyer n with Idempotency-Key n, so every request is a distinct purchase. */
function purchaseLoad(pid, url, token, sale, tag, seconds = duration) {
  const issued = new Map(); // n -> body
  const answers = new Map(); // n -> status
  const request = (n) => ({
    key: `bench-obs-${tag}-${n}`,
    body: JSON.stringify({
      event: sale.eventId,
      items: [{ ticket_type: sale.typeId, quantity: 1 }],
      buyer: { name: `Buyer ${n}`, email: `buyer${n}@${tag}.obs.bench.example` },
      payment_method: 'manual',
    }),
  });
  let next = 0;
  return load(pid, {
    url,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/tickets/purchase',
        setupRequest: (req, context) => {
          const n = ++next;
          const { key, body } = request(n);
          issued.set(n, body);
          context.n = n;
          return { ...req, headers: { ...req.headers, 'idempotency-key': key }, body };
        },
        onResponse: (status, _body, context) => answers.set(context.n, status),
      },
    ],
  }).then((result) => ({ result, issued, answers, request }));
}

/**
 * Settles every purchase the load generator sent but saw no answer to (cut off when its time was up)
 * by retrying its Idempotency-Key, as a client would. Returns how many were retried.
 */
async function settle(url, token, run) {
  let retried = 0;
  for (const n of run.issued.keys()) {
    if (run.answers.has(n)) continue;
    const { key, body } = run.request(n);
    retried++;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${url}/api/tickets/purchase`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body,
      });
      const answer = await res.json();
      if (res.status === 409 && answer.code === 'idempotency_request_in_progress' && attempt < 100) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      run.answers.set(n, res.status);
      break;
    }
  }
  return retried;
}

/** An event with `validateTickets` tickets sold (purchases of 20 types × 100), their codes shuffled. */
async function presold(api, url, token) {
  const perType = Math.ceil(validateTickets / (typesPerOrder * perLine)) * perLine;
  const event = await createEvent(api, 'Stadium Night', perType * typesPerOrder);
  const typeIds = [];
  for (let i = 0; i < typesPerOrder; i++)
    typeIds.push(
      (
        await api('POST', `/api/events/${event.id}/ticket-types`, {
          name: `Block ${i + 1}`,
          price: { amount: 2500, currency: 'EUR' },
          capacity: perType,
        })
      ).id,
    );
  await api('POST', `/api/events/${event.id}/publish`);
  const orders = perType / perLine;
  const codes = [];
  for (let start = 0; start < orders; start += 4) {
    const batch = [];
    for (let n = start; n < Math.min(orders, start + 4); n++)
      batch.push(
        json(`${url}/api/tickets/purchase`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'idempotency-key': `bench-door-${n}` },
          body: JSON.stringify({
            event: event.id,
            items: typeIds.map((id) => ({ ticket_type: id, quantity: perLine })),
            buyer: { name: `Box office ${n}`, email: `box${n}@door.bench.example` },
            payment_method: 'manual',
          }),
        }),
      );
    for (const order of await Promise.all(batch)) for (const t of order.tickets) codes.push(t.code);
  }
  for (let i = codes.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [codes[i], codes[j]] = [codes[j], codes[i]];
  }
  return codes;
}

/** Scanners at the doors: request n scans code n, at one of 8 gates, from its connection's device. */
function scanLoad(pid, url, key, codes, seconds = duration) {
  let next = 0;
  const results = new Map(); // result -> count
  return load(pid, {
    url,
    duration: seconds,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/tickets/validate',
        setupRequest: (req) => {
          const n = next++;
          return {
            ...req,
            body: JSON.stringify({
              code: codes[n % codes.length],
              device_id: `scanner-${n % connections}`,
              gate: `Gate ${n % 8}`,
            }),
          };
        },
        onResponse: (status, body) => {
          let result = String(status);
          if (status === 200)
            try {
              result = JSON.parse(body).result;
            } catch {}
          results.set(result, (results.get(result) ?? 0) + 1);
        },
      },
    ],
  }).then((result) => ({ result, results }));
}

const figures = (r, ok) => ({
  rps: ok / r.duration,
  p50: r.latency.p50,
  p99: r.latency.p99,
  cpuUs: r.cpuUs,
  errors: r.errors,
});

// ---------------------------------------------------------------------------------------------------
// One configuration on a fresh database

let databases = 0;

/** A fresh database: a SQLite file in a temp dir, or a Postgres schema of its own (dropped after). */
async function freshDatabase(dialect) {
  const n = ++databases;
  if (dialect === 'sqlite')
    return {
      url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'tickets-bench-obs-')), 'bench.db')}`,
      drop: async () => {},
    };
  const schema = `bench_obs_${process.pid}_${n}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.query(`create schema ${schema}`);
  return {
    url: `${postgresUrl}?schema=${schema}`,
    drop: async () => {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    },
  };
}

async function runConfiguration(dialect, configuration, round, sink) {
  const failures = [];
  const check = (ok, what) => {
    if (!ok) failures.push(what);
  };
  const db = await freshDatabase(dialect);
  const env = { TICKETS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tickets-bench-obs-data-')) };
  if (configuration.sentry !== null) {
    env.SENTRY_DSN = `http://publickey@127.0.0.1:${sink.port}/1`;
    env.SENTRY_TRACES_SAMPLE_RATE = configuration.sentry;
    env.SENTRY_ENVIRONMENT = 'bench';
    env.TICKETS_METRICS_TOKEN = metricsToken;
    env.TICKETS_INSTANCE = `bench-obs-${round}`;
  }
  const before = structuredClone(sink.counts);
  const { url, child } = await startChild(db.url, env);
  const pid = child.pid;
  try {
    const session = await json(`${url}/api/auth/register`, {
      method: 'POST',
      body: JSON.stringify({ email: 'bench@example.com', password: 'correct horse battery', name: 'Bench' }),
    });
    const token = session.access_token;
    const api = (method, path, body) =>
      json(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const scraping = () => (configuration.sentry === null ? null : startScraper(url));
    const scrapesOf = (what, s) => {
      if (!s) return null;
      check(
        s.failed.length === 0,
        `${what}: ${s.failed.length} scrapes failed (${s.failed.slice(0, 3).join(', ')})`,
      );
      check(s.ok >= duration - 1, `${what}: ${s.ok} scrapes in ${duration} s`);
      return s;
    };

    const sale = await onSale(api, 'Benchmark Sale', purchaseCapacity);
    const warm = warmup > 0 ? await purchaseLoad(pid, url, token, sale, 'warm', warmup) : null;
    if (warm) await settle(url, token, warm);
    let scraper = scraping();
    const selling = await purchaseLoad(pid, url, token, sale, 'run');
    const purchaseScrapes = scrapesOf('purchase', await scraper?.stop());
    const retried = await settle(url, token, selling);
    const statuses = [...selling.answers.values(), ...(warm?.answers.values() ?? [])];
    const ok2xx = statuses.filter((s) => s >= 200 && s < 300).length;
    const refused = statuses.length - ok2xx;
    check(selling.result.errors === 0, `purchase: ${selling.result.errors} load errors`);
    check(refused === 0, `purchase: ${refused} non-2xx answers after settling`);
    const availability = await api('GET', `/api/tickets/availability?event=${sale.eventId}`);
    check(
      availability.sold === ok2xx,
      `purchase: ${availability.sold} tickets sold for ${ok2xx} 2xx answers`,
    );
    // (the warm-up's included: its answers are counted above, and it was settled the same way)

    const codes = await presold(api, url, token);
    const doorKey = (await api('POST', '/api/api-keys', { name: 'Bench door', scopes: ['checkin'] })).secret;
    // The warm-up scans tickets of its own: a quarter of them, the measured load the rest.
    if (warmup > 0) await scanLoad(pid, url, doorKey, codes.splice(-Math.floor(codes.length / 4)), warmup);
    scraper = scraping();
    const scanning = await scanLoad(pid, url, doorKey, codes);
    const validateScrapes = scrapesOf('validate', await scraper?.stop());
    const scans = scanning.result;
    check(scans.errors === 0, `validate: ${scans.errors} load errors`);
    check(scans.non2xx === 0, `validate: ${scans.non2xx} non-2xx answers`);

    await sinkSettled(sink);
    const got = sinkDelta(before, sink.counts);
    const transactions = got.items.transaction ?? 0;
    if (configuration.sentry === '1') check(transactions > 0, 'Sentry: no transactions at tracing 1.0');
    if (configuration.sentry === '0')
      check(transactions === 0, `Sentry: ${transactions} transactions at tracing 0`);
    if (configuration.sentry === null)
      check(got.envelopes === 0, `Sentry off, yet ${got.envelopes} envelopes`);
    return {
      dialect,
      configuration: configuration.name,
      round,
      purchase: { ...figures(selling.result, selling.result['2xx']), retried },
      validate: {
        ...figures(scans, scans['2xx']),
        answers: [...scanning.results].map(([r, n]) => `${n}× ${r}`).join(', '),
      },
      scrapes: purchaseScrapes && { purchase: purchaseScrapes, validate: validateScrapes },
      sink: got,
      failures,
    };
  } finally {
    await stopChild(child);
    await db.drop();
  }
}

function sinkDelta(before, now) {
  const items = {};
  for (const [type, n] of Object.entries(now.items))
    if (n - (before.items[type] ?? 0) > 0) items[type] = n - (before.items[type] ?? 0);
  return { envelopes: now.envelopes - before.envelopes, bytes: now.bytes - before.bytes, items };
}

// ---------------------------------------------------------------------------------------------------
// Report

const pad = (s, n) => String(s).padStart(n);
const fmt = (n, d = 0) => (n === null || n === undefined ? '-' : n.toFixed(d)).padStart(9);
const pct = (ratio) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

/** Per configuration and load, the round with the lower CPU µs (the higher req/s where CPU is unknown). */
function best(runs, dialect, configuration, loadName) {
  const candidates = runs
    .filter((r) => r.dialect === dialect && r.configuration === configuration)
    .map((r) => ({ ...r[loadName], round: r.round }));
  return candidates.reduce((a, b) =>
    a.cpuUs !== null && b.cpuUs !== null ? (b.cpuUs < a.cpuUs ? b : a) : b.rps > a.rps ? b : a,
  );
}

async function main() {
  console.log(
    `Observability overhead: ${connections} connections, ${duration} s per load, databases ${dialects.join(', ')}; ` +
      'two rounds (off, tracing 0, tracing 1.0 / tracing 1.0, tracing 0, off), the better kept',
  );
  const sink = await startSink();
  const runs = [];
  try {
    for (const dialect of dialects)
      for (const [round, order] of [configurations, [...configurations].reverse()].entries())
        for (const configuration of order) {
          const r = await runConfiguration(dialect, configuration, round + 1, sink);
          runs.push(r);
          console.log(
            `  ${dialect} round ${r.round} ${r.configuration.padEnd(12)} purchase ${fmt(r.purchase.rps)}/s ${fmt(r.purchase.cpuUs)} µs` +
              `   validate ${fmt(r.validate.rps)}/s ${fmt(r.validate.cpuUs)} µs` +
              `   sink ${r.sink.envelopes} envelopes${r.failures.length ? `   FAIL: ${r.failures.join('; ')}` : ''}`,
          );
        }
  } finally {
    sink.close();
  }

  const rows = [];
  for (const dialect of dialects)
    for (const loadName of ['purchase', 'validate']) {
      const off = best(runs, dialect, 'off', loadName);
      for (const c of configurations) {
        const b = best(runs, dialect, c.name, loadName);
        rows.push({
          dialect,
          load: loadName,
          configuration: c.name,
          ...b,
          rpsRatio: b.rps / off.rps,
          cpuRatio: off.cpuUs && b.cpuUs ? b.cpuUs / off.cpuUs : null,
        });
      }
    }

  console.log(
    `\nBest of two rounds per configuration (CPU µs: the server's main-thread CPU per answer; vs off: same run)`,
  );
  console.log(
    `  ${'database'.padEnd(10)}${'load'.padEnd(10)}${'config'.padEnd(13)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('CPU µs', 9)}${pad('round', 7)}${pad('rps vs off', 12)}${pad('CPU vs off', 12)}`,
  );
  for (const r of rows)
    console.log(
      `  ${r.dialect.padEnd(10)}${r.load.padEnd(10)}${r.configuration.padEnd(13)}${fmt(r.rps)}${fmt(r.p50, 1)}${fmt(r.p99, 1)}${fmt(r.cpuUs)}${pad(r.round, 7)}` +
        (r.configuration === 'off'
          ? `${pad('-', 12)}${pad('-', 12)}`
          : `${pad(`${r.rpsRatio.toFixed(3)}×`, 12)}${pad(r.cpuRatio === null ? '-' : pct(r.cpuRatio), 12)}`),
    );

  console.log(
    "\nFake Sentry and /metrics, per run (envelopes and items the sink received over the server's life)",
  );
  console.log(
    `  ${'database'.padEnd(10)}${'round'.padEnd(7)}${'config'.padEnd(13)}${pad('envelopes', 10)}${pad('KB', 8)}  ${'items'.padEnd(40)}${pad('scrapes', 9)}${pad('max ms', 8)}  result`,
  );
  for (const r of runs) {
    const items =
      Object.entries(r.sink.items)
        .map(([t, n]) => `${n} ${t}`)
        .join(', ') || '-';
    const s = r.scrapes;
    console.log(
      `  ${r.dialect.padEnd(10)}${String(r.round).padEnd(7)}${r.configuration.padEnd(13)}${pad(r.sink.envelopes, 10)}${pad((r.sink.bytes / 1024).toFixed(0), 8)}  ${items.padEnd(40)}` +
        `${pad(s ? `${s.purchase.ok}+${s.validate.ok}` : '-', 9)}${pad(s ? Math.max(s.purchase.maxMs, s.validate.maxMs).toFixed(0) : '-', 8)}` +
        `  ${r.failures.length ? `FAIL: ${r.failures.join('; ')}` : 'ok'}`,
    );
  }
  const rescanned = runs.filter((r) => /already_used/.test(r.validate.answers));
  console.log(
    `  scrapes: successful GET /metrics during the purchase + validate loads (at least ${duration - 1} each);\n` +
      '  max ms: the slowest scrape under load. Validate answers: ' +
      (rescanned.length
        ? `codes ran out and were scanned again in ${rescanned.length} runs (${rescanned[0].validate.answers})`
        : 'every scan admitted a ticket not scanned before'),
  );

  // Paste into the issue note.
  const of = (dialect, loadName, configuration) =>
    rows.find((r) => r.dialect === dialect && r.load === loadName && r.configuration === configuration);
  const verdicts = dialects.map((d) => {
    const p = of(d, 'purchase', 'tracing 0').cpuRatio;
    const v = of(d, 'validate', 'tracing 0').cpuRatio;
    const pass = p !== null && v !== null && p < 1.05 && v < 1.05;
    return { d, pass, text: `${d}: purchase ${pct(p)}, validate ${pct(v)}` };
  });
  const sinkOf = (d, c) => runs.filter((r) => r.dialect === d && r.configuration === c);
  const sum = (xs, f) => xs.reduce((n, x) => n + f(x), 0);
  const lines = [
    `Observability overhead (bench/observability.mjs), ${new Date().toISOString().slice(0, 10)}: ${duration} s per load, ` +
      `${connections} connections, each run on a fresh database; best of two rounds in alternating order. ` +
      '"On": SENTRY_DSN at a local fake ingest, TICKETS_METRICS_TOKEN set and GET /metrics scraped every second.',
    '',
    '| database | load | configuration | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs off | CPU overhead |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.dialect} | ${r.load} | ${r.configuration} | ${Math.round(r.rps)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.cpuUs === null ? '-' : Math.round(r.cpuUs)} | ` +
        (r.configuration === 'off'
          ? '- | - |'
          : `${r.rpsRatio.toFixed(3)}× | ${r.cpuRatio === null ? '-' : pct(r.cpuRatio)} |`),
    ),
    '',
    ...verdicts.map(
      (v) =>
        `- Tracing 0, target CPU overhead < 5 % on both loads: **${v.pass ? 'PASS' : 'FAIL'}** (${v.text})`,
    ),
    ...dialects.map(
      (d) =>
        `- Tracing 1.0 (recorded): ${d}: purchase ${pct(of(d, 'purchase', 'tracing 1.0').cpuRatio)}, validate ${pct(of(d, 'validate', 'tracing 1.0').cpuRatio)}`,
    ),
    ...dialects.flatMap((d) =>
      configurations
        .filter((c) => c.sentry !== null)
        .map((c) => {
          const rs = sinkOf(d, c.name);
          return (
            `- Fake Sentry, ${d} ${c.name}: ${sum(rs, (r) => r.sink.envelopes)} envelopes, ` +
            `${sum(rs, (r) => r.sink.items.transaction ?? 0)} transactions over ${rs.length} runs; ` +
            `scrapes ${sum(rs, (r) => r.scrapes.purchase.ok + r.scrapes.validate.ok)} ok, ` +
            `${sum(rs, (r) => r.scrapes.purchase.failed.length + r.scrapes.validate.failed.length)} failed`
          );
        }),
    ),
  ];
  console.log(`\nSummary for the issue note:\n${'-'.repeat(60)}\n${lines.join('\n')}\n${'-'.repeat(60)}`);

  const failed = runs.filter((r) => r.failures.length > 0);
  if (failed.length) {
    console.error(
      `\nbench: ${failed.length} run(s) failed a check:\n` +
        failed
          .map((r) => `  ${r.dialect} round ${r.round} ${r.configuration}: ${r.failures.join('; ')}`)
          .join('\n'),
    );
    process.exitCode = 1;
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]);
else await main();
