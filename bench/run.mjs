// pnpm bench: the tickets API against a bare node:http server in the same run, and the CLI's start-up.
// Figures are ratios against the baseline because these machines are noisy.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tmp = mkdtempSync(join(tmpdir(), 'tickets-bench-'));

function startChild(args, env = {}) {
  const child = spawn(process.execPath, [join(here, 'servers.mjs'), ...args], {
    cwd: join(root, 'packages/server'),
    env: { ...process.env, ...env },
    // Server logs go to a file, as they would in production; not to this terminal.
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ url: String(d).split('\n')[0].trim(), child }));
    child.once('exit', (code) => reject(new Error(`${args[0]} server exited with ${code}`)));
  });
}

async function json(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

function load(url, token) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, connections, duration, headers: { authorization: `Bearer ${token}` } },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

const summary = (r) => ({
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  errors: r.errors + r.non2xx,
});

async function benchTickets(label, databaseUrl) {
  const { url, child } = await startChild(['tickets', databaseUrl], {
    BENCH_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  });
  try {
    const session = await json(`${url}/api/auth/register`, {
      method: 'POST',
      body: JSON.stringify({ email: 'bench@example.com', password: 'correct horse battery', name: 'Bench' }),
    });
    const headers = { authorization: `Bearer ${session.access_token}` };
    const event = await json(`${url}/api/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: 'Benchmark Night',
        timezone: 'Europe/Berlin',
        starts_at: '2030-12-31T20:00:00+01:00',
        ends_at: '2031-01-01T02:00:00+01:00',
        currency: 'EUR',
        capacity: 1000,
        venue: { name: 'Hall', city: 'Berlin', country: 'DE' },
      }),
    });
    const body = JSON.stringify(await json(`${url}/api/events/${event.id}`, { headers }));
    const result = await load(`${url}/api/events/${event.id}`, session.access_token);
    return { label, body, ...summary(result) };
  } finally {
    child.kill('SIGTERM');
  }
}

async function benchBare(body) {
  const file = join(tmp, 'event.json');
  writeFileSync(file, body);
  const { url, child } = await startChild(['bare', file]);
  try {
    return { label: 'bare node:http (baseline)', ...summary(await load(`${url}/api/events/x`, 'x')) };
  } finally {
    child.kill('SIGTERM');
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeCommand(args, runs = 15) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

async function main() {
  console.log(`GET /api/events/:id, authenticated; ${connections} connections, ${duration} s each\n`);
  const schema = `bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const rows = [];
  try {
    const sqlite = await benchTickets('tickets on SQLite', `sqlite:${join(tmp, 'bench.db')}`);
    const baseline = await benchBare(sqlite.body);
    const postgres = await benchTickets('tickets on Postgres', `${postgresUrl}?schema=${schema}`);
    rows.push(baseline, sqlite, postgres);
    const fmt = (n, d = 0) => n.toFixed(d).padStart(9);
    console.log(
      `${'server'.padEnd(28)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(9)}  vs baseline`,
    );
    for (const r of rows)
      console.log(
        `${r.label.padEnd(28)}${fmt(r.rps)}${fmt(r.p50, 1)}${fmt(r.p99, 1)}${fmt(r.errors)}  ${(r.rps / baseline.rps).toFixed(2)}×`,
      );
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }

  console.log('\nCLI start-up (median of 15 runs)');
  const cli = join(root, 'packages/cli/dist/bin.js');
  const node = timeCommand(['-e', '0']);
  const version = timeCommand([cli, '--version']);
  console.log(`node -e 0            ${node.toFixed(1).padStart(7)} ms`);
  console.log(
    `tickets --version    ${version.toFixed(1).padStart(7)} ms  (${(version / node).toFixed(2)}× node -e 0)`,
  );
}

await main();
