// pnpm bench (webhooks): organizers' webhook deliveries per second from one `tickets server worker` process on
// Postgres, to a receiver that checks every delivery's Standard Webhooks signature and answers 200 after 20 ms;
// then with the receiver failing 20% of requests (500): all delivered, none twice. The baseline, in the same run,
// is a bare HTTP client POSTing as many signed bodies (a real delivery's body, re-signed under a fresh id) with
// the same concurrency to the same receiver: the most any worker could do. The method is bench/messaging.mjs's.
//
// Each run sells BENCH_WEBHOOKS orders (default 600) at the box office with the API's worker off: every paid
// order queues one `order.paid` delivery to the organizer's endpoint, and its buyer's e-mail confirmation.
// The confirmations are held back (their `available_at` moved a long way ahead) before the worker starts, so
// the backlog it drains is the deliveries alone: a delivery reads the order, signs its body and POSTs it.
// Deliveries/s are counted as the receiver sees them, from the first request's arrival to the last answer
// (the bare client's too); "from start" is from spawning the worker until the database says all are sent,
// its start-up included. Checks (exit 1): every delivery accepted exactly once (by webhook-id), about its own
// order, every signature valid, none left unsent (the database, and the deliveries API).
//   BENCH_WEBHOOKS (default 600), BENCH_WORKER_CONCURRENCY (or TICKETS_WORKER_CONCURRENCY; default 16),
//   BENCH_WEBHOOK_LATENCY_MS (default 20), BENCH_CPU_PROF=dir (a CPU profile of the worker),
//   TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, startServer } from '@tickets/server';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', 'packages/cli/dist/bin.js');
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const count = Number(process.env.BENCH_WEBHOOKS ?? 600);
const concurrency = Number(
  process.env.BENCH_WORKER_CONCURRENCY ?? process.env.TICKETS_WORKER_CONCURRENCY ?? 16,
);
const latencyMs = Number(process.env.BENCH_WEBHOOK_LATENCY_MS ?? 20);
/** Standard Webhooks' default tolerance for `webhook-timestamp`. */
const TOLERANCE_S = 300;

/** `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, written here from the spec rather than the server's code. */
function signature(secret, id, timestamp, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
}

function verified(secret, headers, body) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!secret || !id || !timestamp || !signatures) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_S) return false;
  const expected = signature(secret, id, timestamp, body);
  return signatures.split(' ').some((s) => {
    const [version, value] = s.split(',');
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * An organizer's endpoint: verifies each request's signature as it arrives, answers after `latencyMs` (500 for a
 * share of requests), and counts per webhook-id the requests and the accepted (2xx) ones.
 */
async function receiver() {
  let secret = '';
  let failRate = 0;
  let seen = new Map();
  let badSignatures = 0;
  let requests = 0;
  let first = 0;
  let last = 0;
  let sample = null;
  const server = createServer((req, res) => {
    first ||= Date.now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const id = String(req.headers['webhook-id'] ?? '');
      requests++;
      if (!verified(secret, req.headers, body)) badSignatures++;
      let event = null;
      try {
        event = JSON.parse(body);
      } catch {}
      const entry = seen.get(id) ?? { requests: 0, accepted: 0, event: null };
      entry.requests++;
      entry.event = event;
      seen.set(id, entry);
      if (!id.startsWith('bare_') && event) sample = event;
      setTimeout(() => {
        last = Date.now();
        if (Math.random() < failRate) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('try again');
          return;
        }
        entry.accepted++;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }, latencyMs);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks`,
    setSecret: (s) => {
      secret = s;
    },
    setFailRate: (r) => {
      failRate = r;
    },
    reset: () => {
      seen = new Map();
      badSignatures = 0;
      requests = 0;
      first = 0;
      last = 0;
    },
    state: () => ({ seen, badSignatures, requests, first, last }),
    sample: () => sample,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(r);
      }),
  };
}

/** `count` signed deliveries from a bare client, `concurrency` at a time: a real body under a fresh id each. */
async function bare(recv, secret, template) {
  recv.reset();
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const id = `bare_${next++}`;
        const body = JSON.stringify({ ...template, id, created_at: new Date().toISOString() });
        const timestamp = Math.floor(Date.now() / 1000);
        const res = await fetch(recv.url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': `v1,${signature(secret, id, timestamp, body).toString('base64')}`,
          },
        });
        await res.arrayBuffer();
        if (!res.ok) failures++;
      }
    }),
  );
  const { seen, badSignatures, first, last } = recv.state();
  const ids = Array.from({ length: count }, (_, i) => `bare_${i}`);
  return {
    rate: count / ((last - first) / 1000),
    failures,
    badSignatures,
    lost: ids.filter((id) => !seen.get(id)?.accepted).length,
    twice: ids.filter((id) => (seen.get(id)?.accepted ?? 0) > 1).length,
  };
}

function startWorker(env) {
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  return spawn(process.execPath, [...profile, BIN, 'server', 'worker'], {
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

async function main() {
  const schema = `bench_wh_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const databaseUrl = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  const recv = await receiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'tickets-bench-wh-'));
  const env = {
    DATABASE_URL: databaseUrl,
    TICKETS_DATA_DIR: dataDir,
    TICKETS_WEBHOOK_ALLOW_HTTP: 'true',
    TICKETS_WEBHOOK_ALLOW_PRIVATE: 'true',
    TICKETS_WORKER_CONCURRENCY: String(concurrency),
    TICKETS_WORKER_POLL_MS: '50',
    TICKETS_MESSAGE_RETRY_BASE_MS: '50',
    TICKETS_MESSAGE_MAX_ATTEMPTS: '20',
  };
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent', TICKETS_WORKER: 'off' });
  const api = await startServer(config);
  const runs = [];
  let baseline;
  try {
    const call = async (method, path, token, body) => {
      const res = await fetch(api.url + path, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const session = await call('POST', '/api/auth/register', null, {
      email: 'bench@example.com',
      password: 'correct horse battery staple',
      name: 'Bench',
    });
    const token = session.access_token;
    const event = await call('POST', '/api/events', token, {
      name: 'Bench Night',
      timezone: 'Europe/Berlin',
      starts_at: '2030-12-31T20:00:00+01:00',
      ends_at: '2031-01-01T02:00:00+01:00',
      currency: 'EUR',
    });
    const type = await call('POST', `/api/events/${event.id}/ticket-types`, token, {
      name: 'GA',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 100_000,
    });
    await call('POST', `/api/events/${event.id}/publish`, token);
    const endpoint = await call('POST', '/api/webhook-endpoints', token, {
      url: recv.url,
      events: ['order.paid'],
      description: 'bench receiver',
    });
    recv.setSecret(endpoint.secret);

    /** Sells `count` orders; their deliveries (webhook-id → order id), one per order, queued and not yet sent. */
    let buyer = 0;
    const queue = async () => {
      const orders = [];
      for (let i = 0; i < count; i += 50) {
        const batch = Array.from({ length: Math.min(50, count - i) }, () =>
          call('POST', '/api/tickets/purchase', token, {
            event: event.id,
            items: [{ ticket_type: type.id, quantity: 1 }],
            buyer: { name: `Bea Bench ${++buyer}`, email: `bea${buyer}@example.com` },
            payment_method: 'manual',
          }),
        );
        orders.push(...(await Promise.all(batch)));
      }
      const sold = new Set(orders.map((o) => o.id));
      const { rows } = await admin.query(
        `select id, payload, status from ${schema}.outbox where channel = 'webhook' and recipient = $1`,
        [endpoint.id],
      );
      const deliveries = new Map();
      for (const r of rows) {
        const orderId = JSON.parse(r.payload).order_id;
        if (!sold.has(orderId)) continue;
        if (r.status !== 'queued')
          throw new Error(`delivery ${r.id} is ${r.status} before the worker started`);
        deliveries.set(r.id, orderId);
      }
      const covered = new Set(deliveries.values());
      if (deliveries.size !== count || covered.size !== count)
        throw new Error(`${count} orders queued ${deliveries.size} deliveries for ${covered.size} of them`);
      // The buyers' confirmations wait: the worker's backlog is the deliveries alone.
      const held = await admin.query(
        `update ${schema}.outbox set available_at = '9999-12-31T00:00:00.000Z'
          where channel <> 'webhook' and status = 'queued' and available_at < '9999'`,
      );
      return { deliveries, held: held.rowCount };
    };

    /** Every delivery's status as the deliveries API answers it (newest first, 100 a page). */
    const apiStatuses = async () => {
      const statuses = new Map();
      let cursor = '';
      do {
        const page = await call(
          'GET',
          `/api/webhook-endpoints/${endpoint.id}/deliveries?limit=100${cursor ? `&starting_after=${encodeURIComponent(cursor)}` : ''}`,
          token,
        );
        for (const d of page.data) statuses.set(d.id, d.status);
        cursor = page.next_cursor ?? '';
      } while (cursor);
      return statuses;
    };

    const run = async (label, failRate) => {
      recv.setFailRate(failRate);
      recv.reset();
      const { deliveries, held } = await queue();
      const ids = [...deliveries.keys()];
      const spawnedAt = Date.now();
      const child = startWorker(env);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const { rows } = await admin.query(
          `select count(*)::int as n from ${schema}.outbox where id = any($1) and status = 'sent'`,
          [ids],
        );
        if (rows[0].n === ids.length) break;
        if (child.exitCode !== null) throw new Error(`${label}: the worker exited (${child.exitCode})`);
        if (Date.now() > deadline) throw new Error(`${label}: only ${rows[0].n} of ${ids.length} sent`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const doneAt = Date.now();
      await stop(child);
      const { seen, badSignatures, requests, first, last } = recv.state();
      const accepted = (id) => seen.get(id)?.accepted ?? 0;
      const wrongBody = ids.filter((id) => {
        const e = seen.get(id)?.event;
        return (
          e &&
          (e.id !== id ||
            e.object !== 'event' ||
            e.type !== 'order.paid' ||
            e.data?.object?.id !== deliveries.get(id))
        );
      }).length;
      const { rows } = await admin.query(
        `select coalesce(sum(attempts), 0)::int as attempts,
                count(*) filter (where status <> 'sent')::int as unsent
           from ${schema}.outbox where id = any($1)`,
        [ids],
      );
      const statuses = await apiStatuses();
      const r = {
        label,
        fail_rate: failRate,
        rate: ids.length / ((last - first) / 1000),
        from_start_s: (doneAt - spawnedAt) / 1000,
        first_delivery_ms: first - spawnedAt,
        requests,
        attempts: rows[0].attempts,
        lost: ids.filter((id) => accepted(id) === 0).length,
        twice: ids.filter((id) => accepted(id) > 1).length,
        stray: [...seen.keys()].filter((id) => !deliveries.has(id)).length,
        bad_signatures: badSignatures,
        wrong_body: wrongBody,
        unsent: rows[0].unsent,
        unsent_per_api: ids.filter((id) => statuses.get(id) !== 'sent').length,
        confirmations_held: held,
      };
      runs.push(r);
      return r;
    };
    await run('1 worker', 0);
    await run('1 worker, 20% failures', 0.2);

    const template = recv.sample();
    if (!template) throw new Error('no delivery reached the receiver to copy for the bare client');
    recv.setFailRate(0);
    baseline = await bare(recv, endpoint.secret, template);
  } finally {
    await api.close();
    await recv.close();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }

  console.log(
    `\nWebhooks on Postgres: ${count} order.paid deliveries per run, receiver latency ${latencyMs} ms, one worker at concurrency ${concurrency}`,
  );
  console.log(
    `  ${'bare HTTP client, same concurrency'.padEnd(36)}${baseline.rate.toFixed(0).padStart(5)} deliveries/s (1.00×)  lost ${baseline.lost}, twice ${baseline.twice}, bad signatures ${baseline.badSignatures}`,
  );
  for (const r of runs)
    console.log(
      `  ${r.label.padEnd(36)}${r.rate.toFixed(0).padStart(5)} deliveries/s (${(r.rate / baseline.rate).toFixed(2)}×)  ` +
        `from start ${r.from_start_s.toFixed(2)} s (first after ${r.first_delivery_ms} ms), attempts ${r.attempts} (receiver saw ${r.requests}), ` +
        `lost ${r.lost}, twice ${r.twice}, stray ${r.stray}, bad signatures ${r.bad_signatures}, wrong body ${r.wrong_body}, unsent ${r.unsent} (API ${r.unsent_per_api})`,
    );
  console.log(
    `  (deliveries/s: as the receiver saw them, first arrival to last answer; ${runs[0]?.confirmations_held ?? 0} e-mail confirmations per run held back)`,
  );

  const failures = [];
  if (baseline.lost || baseline.twice || baseline.badSignatures || baseline.failures)
    failures.push('bare client: requests lost, doubled, refused or badly signed');
  for (const r of runs) {
    if (r.lost || r.twice || r.stray)
      failures.push(`${r.label}: deliveries lost, accepted twice or unexpected`);
    if (r.bad_signatures) failures.push(`${r.label}: ${r.bad_signatures} bad signatures`);
    if (r.wrong_body) failures.push(`${r.label}: ${r.wrong_body} bodies not about their order`);
    if (r.unsent || r.unsent_per_api) failures.push(`${r.label}: deliveries left unsent`);
  }

  const resultsFile = join(here, 'results.json');
  const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : { scenarios: [] };
  const scenarios = runs.map((r) => ({
    name: `webhook deliveries, ${r.label}`,
    database: 'postgres',
    value: Math.round(r.rate),
    unit: 'deliveries/s',
    ratio: Number((r.rate / baseline.rate).toFixed(3)),
  }));
  const names = new Set(scenarios.map((s) => `${s.name}/${s.database}`));
  results.scenarios = results.scenarios
    .filter((s) => !names.has(`${s.name}/${s.database}`))
    .concat(scenarios);
  results.webhooks = {
    database: 'postgres',
    deliveries: count,
    latency_ms: latencyMs,
    concurrency,
    bare_per_s: Math.round(baseline.rate),
    runs: runs.map((r) => ({ ...r, rate: Math.round(r.rate) })),
  };
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

  if (failures.length) {
    console.error(`FAILED:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else
    console.log(
      'Checks: every delivery accepted once, about its order, signatures valid, none left unsent: ok',
    );
}

await main();
