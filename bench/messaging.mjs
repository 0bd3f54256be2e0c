// pnpm bench (messaging): messages delivered per second by one and by two `tickets server worker` processes on
// Postgres, against a fake e-mail provider (SendGrid's API shape) that answers after 50 ms; then with the provider
// failing 20% of requests: all delivered, none twice. The baseline, in the same run, is a bare HTTP client sending
// as many requests with the same concurrency to the same fake: the most any worker could do.
//
// What a message costs here is real: each is an order confirmation rendered from the database (HTML, text, an
// inline QR PNG per ticket and a PDF of the tickets) and sent with @sendgrid/mail.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, openDatabase, startServer } from '@tickets/server';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', 'packages/cli/dist/bin.js');
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const count = Number(process.env.BENCH_MESSAGES ?? 600);
const concurrency = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 16);
const latencyMs = 50;

/** A provider that accepts `POST /v3/mail/send` after `latencyMs`, failing a share of requests with 503. */
async function fakeProvider() {
  const sends = new Map();
  let failRate = 0;
  let first = 0;
  let last = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () =>
      setTimeout(() => {
        if (Math.random() < failRate) {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"errors":[{"message":"try again"}]}');
          return;
        }
        let id = 'bare';
        try {
          id = JSON.parse(Buffer.concat(chunks).toString()).custom_args?.message_id ?? 'bare';
        } catch {}
        sends.set(id, (sends.get(id) ?? 0) + 1);
        first ||= Date.now();
        last = Date.now();
        res.writeHead(202, { 'x-message-id': randomBytes(11).toString('base64url') });
        res.end();
      }, latencyMs),
    );
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    sends,
    setFailRate: (r) => {
      failRate = r;
    },
    window: () => ({ first, last }),
    reset: () => {
      first = 0;
      last = 0;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

async function bare(provider) {
  provider.reset();
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count)
        await fetch(`${provider.url}v3/mail/send`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        });
    }),
  );
  return count / ((Date.now() - started) / 1000);
}

function startWorker(env) {
  // BENCH_CPU_PROF=dir: a V8 CPU profile of each worker, to see where a message's time goes.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const child = spawn(process.execPath, [...profile, BIN, 'server', 'worker'], {
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

async function main() {
  const schema = `bench_msg_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const databaseUrl = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  const provider = await fakeProvider();
  const dataDir = mkdtempSync(join(tmpdir(), 'tickets-bench-msg-'));
  const env = {
    DATABASE_URL: databaseUrl,
    TICKETS_DATA_DIR: dataDir,
    SENDGRID_API_KEY: 'SG.bench',
    SENDGRID_API_URL: provider.url,
    TICKETS_WORKER_CONCURRENCY: String(concurrency),
    TICKETS_WORKER_POLL_MS: '50',
    TICKETS_MESSAGE_RETRY_BASE_MS: '50',
    TICKETS_MESSAGE_MAX_ATTEMPTS: '20',
  };
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent', TICKETS_WORKER: 'off' });
  const api = await startServer(config);
  const db = openDatabase(databaseUrl);
  const results = [];
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
    // Every message is a different order's confirmation, so nothing rendered for one is reused for another.
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
      const ids = orders.map((o) => o.id);
      const { rows } = await admin.query(`select id from ${schema}.outbox where order_id = any($1)`, [ids]);
      return rows.map((r) => r.id);
    };
    const baseline = await bare(provider);

    const run = async (label, workers, failRate) => {
      provider.setFailRate(failRate);
      provider.reset();
      const ids = await queue();
      const children = Array.from({ length: workers }, () => startWorker(env));
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { rows } = await admin.query(
          `select count(*)::int as n from ${schema}.outbox where id = any($1) and status = 'sent'`,
          [ids],
        );
        if (rows[0].n === ids.length) break;
        if (Date.now() > deadline) throw new Error(`${label}: only ${rows[0].n} of ${ids.length} sent`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(children.map(stop));
      const { first, last } = provider.window();
      const twice = ids.filter((id) => (provider.sends.get(id) ?? 0) > 1).length;
      const lost = ids.filter((id) => !provider.sends.get(id)).length;
      const { rows } = await admin.query(
        `select coalesce(sum(attempts), 0)::int as attempts from ${schema}.outbox where id = any($1)`,
        [ids],
      );
      const rate = ids.length / ((last - first) / 1000);
      results.push({ label, rate, lost, twice, attempts: rows[0].attempts });
      return rate;
    };
    await run('1 worker', 1, 0);
    await run('2 workers', 2, 0);
    await run('2 workers, 20% failures', 2, 0.2);

    console.log(
      `\nMessaging on Postgres: ${count} order confirmations per run, provider latency ${latencyMs} ms, concurrency ${concurrency} per worker`,
    );
    console.log(`  bare HTTP client, same concurrency: ${baseline.toFixed(0)} requests/s (1.00×)`);
    for (const r of results)
      console.log(
        `  ${r.label.padEnd(26)} ${r.rate.toFixed(0).padStart(5)} messages/s (${(r.rate / baseline).toFixed(2)}×)  attempts ${r.attempts}, lost ${r.lost}, sent twice ${r.twice}`,
      );
    const bad = results.filter((r) => r.lost || r.twice);
    if (bad.length) {
      console.error('FAILED: messages lost or sent twice');
      process.exitCode = 1;
    }
  } finally {
    await db.close();
    await api.close();
    await provider.close();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

await main();
