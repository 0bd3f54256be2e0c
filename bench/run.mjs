// pnpm bench: the tickets API against a bare node:http server in the same run, and the CLI's start-up.
// Figures are ratios against the baseline because these machines are noisy.
//
// Scenarios, each on SQLite and on Postgres:
//   read       authenticated GET /api/events/:id
//   purchase   many buyers at once buying one ticket each for one event with plenty of room; every
//              request a distinct buyer and Idempotency-Key
//   family     the same with BENCH_FAMILY_SIZE (default 4) tickets per order: tickets/s
//   last 50    250 buyers at once for the last 50 tickets: exactly 50 are sold
//   validate   door scanners with a `checkin` API key: POST /api/tickets/validate, a different
//              pre-sold ticket's code per request (online validation at peak)
// After each selling run the database is checked: sold + held <= capacity, the counters equal the
// ticket rows, and every 2xx answer is exactly its order's tickets. A failed check fails the run (exit 1).
// After the validation run: every ticket admitted at most once (admission scans == distinct tickets
// admitted == presence rows), and every `admitted` answer is an admission in the database.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@tickets/server';
import autocannon from 'autocannon';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
/** Room for the purchase run: far more than either database sells in BENCH_DURATION seconds. */
const purchaseCapacity = Number(process.env.BENCH_PURCHASE_CAPACITY ?? Math.max(20_000, duration * 4_000));
const lastCapacity = 50;
/** Tickets per order in the family run. */
const familySize = Number(process.env.BENCH_FAMILY_SIZE ?? 4);
const lastBuyers = Number(process.env.BENCH_LAST_BUYERS ?? 250);
/** Tickets sold before the validation run, each scanned once: room above 5,000 scans/s, the target (a run that
 * runs out scans tickets again, and counts those `already_used` answers). */
const validateTickets = Number(process.env.BENCH_VALIDATE_TICKETS ?? Math.max(20_000, duration * 7_000));
/** The contract's most per purchase: 20 lines (one per ticket type) of 100 tickets. */
const typesPerOrder = 20;
const perLine = 100;
const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tmp = mkdtempSync(join(tmpdir(), 'tickets-bench-'));

/** The server process under load (one at a time), whose CPU time each load measures. */
let activeServer = null;

/**
 * CPU milliseconds a process has used, in all and on its main thread (Linux /proc; null elsewhere). The
 * main thread is what limits one server process: its JavaScript, and SQLite, run there.
 */
function cpuMs(pid) {
  const read = (path) => {
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    // utime + stime, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  try {
    return { all: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return null;
  }
}

function startChild(args, env = {}) {
  // BENCH_CPU_PROF=dir: a V8 CPU profile of each server process, to see where a request's time goes.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const child = spawn(process.execPath, [...profile, join(here, 'servers.mjs'), ...args], {
    cwd: join(root, 'packages/server'),
    env: { ...process.env, ...env },
    // Server logs go to a file, as they would in production; not to this terminal.
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => {
      activeServer = child.pid;
      resolve({ url: String(d).split('\n')[0].trim(), child });
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} server exited with ${code}`)));
  });
}

/** Stops a server and waits for it to exit, so nothing of it is left when its schema is dropped. */
function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function json(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * One load against the active server. Besides autocannon's figures, the server's CPU time per answered
 * request (`cpuUs`, main thread, in microseconds): far steadier than requests per second on a shared,
 * noisy machine, and 1,000,000 / cpuUs is what one core can answer.
 */
function load(options) {
  const before = activeServer && cpuMs(activeServer);
  return new Promise((resolve, reject) => {
    autocannon({ connections, duration, ...options }, (err, result) => {
      if (err) return reject(err);
      const after = activeServer && cpuMs(activeServer);
      const answered = result.requests.total;
      result.cpuUs = before && after && answered ? ((after.main - before.main) * 1000) / answered : null;
      resolve(result);
    });
  });
}

const readLoad = (url, token) => load({ url, headers: { authorization: `Bearer ${token}` } });

const summary = (r) => ({
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  errors: r.errors + r.non2xx,
  cpuUs: r.cpuUs,
});

/**
 * Buyers hammering POST /api/tickets/purchase. Request n is buyer n with Idempotency-Key n, so every
 * request is a distinct purchase, and each answer is recorded against the request it answers.
 */
function buyers(tag, sale) {
  const issued = new Map(); // n -> body
  const answers = new Map(); // n -> status
  const codes = new Map(); // problem code -> count
  const request = (n) => ({
    key: `bench-${tag}-${n}`,
    body: JSON.stringify({
      event: sale.eventId,
      items: [{ ticket_type: sale.typeId, quantity: sale.quantity ?? 1 }],
      buyer: { name: `Buyer ${n}`, email: `buyer${n}@${tag}.bench.example` },
      payment_method: 'manual',
      ...(sale.voucher ? { voucher: sale.voucher } : {}),
    }),
  });
  let next = 0;
  const requests = [
    {
      method: 'POST',
      path: '/api/tickets/purchase',
      // Called once for each request autocannon sends; the context travels with it to its answer.
      setupRequest: (req, context) => {
        const n = ++next;
        const { key, body } = request(n);
        issued.set(n, body);
        context.n = n;
        return { ...req, headers: { ...req.headers, 'idempotency-key': key }, body };
      },
      onResponse: (status, body, context) => {
        answers.set(context.n, status);
        if (status >= 300) {
          let code = String(status);
          try {
            code = `${status} ${JSON.parse(body).code}`;
          } catch {}
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      },
    },
  ];
  return { issued, answers, codes, request, requests };
}

function purchaseLoad(url, token, tag, sale, options = {}) {
  const b = buyers(tag, sale);
  return load({
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: b.requests,
    ...options,
  }).then((result) => ({ result, ...b }));
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
  return { eventId: event.id, typeId: type.id, capacity };
}

/**
 * Settles every request the load generator sent but saw no answer to (it drops the connections in
 * flight when its time is up, and the server may still have sold those tickets) by retrying it with
 * its Idempotency-Key, as a client would: a stored answer is replayed, an unsold one is sold now.
 */
async function settle(url, token, run) {
  let retried = 0;
  let replayed = 0;
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
      if (res.headers.get('idempotent-replayed') === 'true') replayed++;
      run.answers.set(n, res.status);
      if (res.status >= 300) {
        const code = `${res.status} ${answer.code}`;
        run.codes.set(code, (run.codes.get(code) ?? 0) + 1);
      }
      break;
    }
  }
  return { retried, replayed };
}

/** Checks the sale against the database and the availability endpoint; returns the figures and failures. */
async function audit(databaseUrl, api, sale, run, settled) {
  const failures = [];
  const check = (ok, what) => {
    if (!ok) failures.push(what);
  };
  const availability = await api('GET', `/api/tickets/availability?event=${sale.eventId}`);
  const type = availability.ticket_types.find((t) => t.ticket_type_id === sale.typeId);
  check(availability.sold + availability.held <= availability.capacity, 'event: sold + held > capacity');
  check(type.sold + type.held <= type.capacity, 'ticket type: sold + held > capacity');

  const db = openDatabase(databaseUrl, { poolSize: 1 });
  try {
    const k = db.kysely;
    const perBuyer = await k
      .selectFrom('tickets')
      .innerJoin('orders', 'orders.id', 'tickets.order_id')
      .select(['orders.buyer_email', k.fn.countAll().as('n')])
      .where('tickets.event_id', '=', sale.eventId)
      .groupBy('orders.buyer_email')
      .execute();
    const counters = await k
      .selectFrom('ticket_types')
      .innerJoin('events', 'events.id', 'ticket_types.event_id')
      .select([
        'ticket_types.sold as type_sold',
        'ticket_types.held as type_held',
        'events.sold as event_sold',
        'events.held as event_held',
      ])
      .where('ticket_types.id', '=', sale.typeId)
      .executeTakeFirstOrThrow();
    const ticketsOf = new Map(perBuyer.map((r) => [r.buyer_email, Number(r.n)]));
    const tickets = [...ticketsOf.values()].reduce((s, n) => s + n, 0);
    let ok2xx = 0;
    let wrong = 0;
    for (const [n, status] of run.answers) {
      const email = JSON.parse(run.issued.get(n)).buyer.email;
      const held = ticketsOf.get(email) ?? 0;
      ticketsOf.delete(email);
      if (status >= 200 && status < 300) ok2xx++;
      if (held !== (status >= 200 && status < 300 ? (sale.quantity ?? 1) : 0)) wrong++;
    }
    check(
      run.answers.size === run.issued.size,
      `${run.issued.size - run.answers.size} requests never answered`,
    );
    check(
      tickets === ok2xx * (sale.quantity ?? 1),
      `${tickets} tickets but ${ok2xx} 2xx answers of ${sale.quantity ?? 1}`,
    );
    check(wrong === 0, `${wrong} buyers whose tickets do not match their answer`);
    check(ticketsOf.size === 0, `${ticketsOf.size} tickets sold to buyers nobody sent`);
    check(
      counters.type_sold === tickets && counters.event_sold === tickets,
      `counters (type ${counters.type_sold}, event ${counters.event_sold}) != ${tickets} tickets`,
    );
    check(counters.type_held === 0 && counters.event_held === 0, 'inventory left held');
    check(
      availability.sold === tickets && type.sold === tickets,
      `availability reports ${type.sold} sold, the database has ${tickets} tickets`,
    );
    return {
      capacity: sale.capacity,
      sold: availability.sold,
      held: availability.held,
      ok2xx,
      tickets,
      refused: [...run.codes].map(([code, n]) => `${n}× ${code}`).join(', ') || '-',
      ...settled,
      failures,
    };
  } finally {
    await db.close();
  }
}

/**
 * An event with `validateTickets` tickets sold (20 ticket types, purchases of 20 × 100), and their
 * codes in a random order so no scan finds its neighbour's rows hot.
 */
async function presold(api, url, token, name) {
  const types = typesPerOrder;
  const perType = Math.ceil(validateTickets / (types * perLine)) * perLine;
  const event = await createEvent(api, name, perType * types);
  const typeIds = [];
  for (let i = 0; i < types; i++)
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
  // A few purchases at a time: the set-up, not the measurement.
  for (let start = 0; start < orders; start += 4) {
    const batch = [];
    for (let n = start; n < Math.min(orders, start + 4); n++)
      batch.push(
        json(`${url}/api/tickets/purchase`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'idempotency-key': `bench-door-${event.id}-${n}` },
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
  return { eventId: event.id, codes };
}

/** Scanners at the doors: request n scans code n, at one of 8 gates, from its connection's device. */
function scanLoad(url, key, codes) {
  let next = 0;
  const results = new Map(); // result -> count
  const admittedCodes = new Set();
  let twice = 0;
  const load_ = load({
    url,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/tickets/validate',
        setupRequest: (req, context) => {
          const n = next++;
          // Past the last ticket the codes repeat, and the answers say already_used (reported).
          context.code = codes[n % codes.length];
          return {
            ...req,
            body: JSON.stringify({
              code: context.code,
              device_id: `scanner-${n % connections}`,
              gate: `Gate ${n % 8}`,
            }),
          };
        },
        onResponse: (status, body, context) => {
          let result = String(status);
          if (status === 200) {
            try {
              result = JSON.parse(body).result;
            } catch {}
          }
          results.set(result, (results.get(result) ?? 0) + 1);
          if (result === 'admitted') {
            if (admittedCodes.has(context.code)) twice++;
            admittedCodes.add(context.code);
          }
        },
      },
    ],
  });
  return load_.then((result) => ({ result, results, admitted: admittedCodes.size, twice, sent: next }));
}

/** Exactly-once admission, read from the database after the run. */
async function auditDoor(databaseUrl, url, key, door, run) {
  const failures = [];
  const check = (ok, what) => {
    if (!ok) failures.push(what);
  };
  const db = openDatabase(databaseUrl, { poolSize: 1 });
  try {
    const k = db.kysely;
    // The load generator drops its connections when time is up, but the server finishes the scans
    // it was given: read once the log has stopped growing.
    const logged = async () =>
      Number(
        (
          await k
            .selectFrom('checkins')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('event_id', '=', door.eventId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    for (let before = -1, now = await logged(); now !== before; ) {
      await new Promise((r) => setTimeout(r, 250));
      [before, now] = [now, await logged()];
    }
    const scans = await k
      .selectFrom('checkins')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.count('ticket_id').distinct().as('tickets')])
      .where('event_id', '=', door.eventId)
      .where('result', '=', 'admitted')
      .executeTakeFirstOrThrow();
    const presence = await k
      .selectFrom('ticket_presence')
      .innerJoin('tickets', 'tickets.id', 'ticket_presence.ticket_id')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('tickets.event_id', '=', door.eventId)
      .executeTakeFirstOrThrow();
    const admissions = Number(scans.n);
    const tickets = Number(scans.tickets);
    check(
      admissions === tickets,
      `${admissions} admissions of ${tickets} distinct tickets: double admission`,
    );
    check(Number(presence.n) === tickets, `${presence.n} presence rows for ${tickets} admitted tickets`);
    check(run.twice === 0, `${run.twice} codes answered admitted twice`);
    // The live view must tell the same story as the tables.
    const t0 = performance.now();
    const stats = await json(`${url}/api/events/${door.eventId}/checkins/stats`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const statsMs = performance.now() - t0;
    const windows = stats.admissions.reduce((n, w) => n + w.count, 0);
    check(
      stats.admitted === tickets && stats.inside === tickets && windows === admissions,
      `stats say ${stats.admitted} admitted, ${stats.inside} inside, ${windows} in windows; the database ${tickets}`,
    );
    // Answers cut off when the load ended may have admitted a ticket nobody was told about.
    const answered = [...run.results.values()].reduce((a, b) => a + b, 0);
    check(
      tickets >= run.admitted && tickets <= run.admitted + (run.sent - answered),
      `${tickets} tickets admitted in the database, ${run.admitted} admitted answers, ${run.sent - answered} unanswered`,
    );
    return {
      tickets: door.codes.length,
      sent: run.sent,
      admissions,
      admittedTickets: tickets,
      statsMs,
      answers: [...run.results].map(([r, n]) => `${n}× ${r}`).join(', '),
      failures,
    };
  } finally {
    await db.close();
  }
}

async function benchTickets(label, databaseUrl) {
  const { url, child } = await startChild(['tickets', databaseUrl], {
    BENCH_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    // The request paths alone: scaled out, messages go through `tickets server worker` processes, whose
    // delivery bench/messaging.mjs measures. TICKETS_WORKER=on puts the worker back in the API process.
    TICKETS_WORKER: process.env.TICKETS_WORKER ?? 'off',
    TICKETS_DATA_DIR: tmp,
  });
  try {
    const session = await json(`${url}/api/auth/register`, {
      method: 'POST',
      body: JSON.stringify({ email: 'bench@example.com', password: 'correct horse battery', name: 'Bench' }),
    });
    const token = session.access_token;
    const headers = { authorization: `Bearer ${token}` };
    const api = (method, path, body) =>
      json(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });

    const event = await createEvent(api, 'Benchmark Night', 1000);
    const eventBody = JSON.stringify(await api('GET', `/api/events/${event.id}`));
    const read = summary(await readLoad(`${url}/api/events/${event.id}`, token));

    const tag = label.toLowerCase();
    const sale = await onSale(api, 'Benchmark Sale', purchaseCapacity);
    const selling = await purchaseLoad(url, token, `${tag}-sale`, sale);
    const saleCheck = await audit(databaseUrl, api, sale, selling, await settle(url, token, selling));
    const orderBody = JSON.stringify((await api('GET', `/api/orders?event=${sale.eventId}&limit=1`)).data[0]);

    // The same buyers with a discount code (20 % off, no limit on its uses): the code is read, priced
    // and redeemed (a conditional write on its row) in the sale, which takes the general path.
    const coded = await onSale(api, 'Voucher Sale', purchaseCapacity);
    const code = (
      await api('POST', '/api/vouchers', {
        code: `BENCH${tag}`,
        event: coded.eventId,
        discount: { percent: 20 },
      })
    ).data[0].code;
    const voucherSelling = await purchaseLoad(url, token, `${tag}-voucher`, { ...coded, voucher: code });
    const voucherCheck = await audit(
      databaseUrl,
      api,
      coded,
      voucherSelling,
      await settle(url, token, voucherSelling),
    );

    // pretix counts tickets per minute; orders of several tickets (a family, a group of friends) sell
    // more tickets per request than the one-ticket run above.
    const family = { ...(await onSale(api, 'Family Day', purchaseCapacity * 2)), quantity: familySize };
    const families = await purchaseLoad(url, token, `${tag}-family`, family);
    const familyCheck = await audit(databaseUrl, api, family, families, await settle(url, token, families));

    const last = await onSale(api, 'Last Tickets', lastCapacity);
    // One request per connection, all at once; `amount` ends the run when every one is answered.
    const rush = await purchaseLoad(url, token, `${tag}-last`, last, {
      connections: lastBuyers,
      amount: lastBuyers,
    });
    const lastCheck = await audit(databaseUrl, api, last, rush, await settle(url, token, rush));

    const door = await presold(api, url, token, 'Stadium Night');
    const doorKey = (await api('POST', '/api/api-keys', { name: 'Bench door', scopes: ['checkin'] })).secret;
    const scanning = await scanLoad(url, doorKey, door.codes);
    const doorCheck = await auditDoor(databaseUrl, url, doorKey, door, scanning);
    if (lastCheck.tickets !== lastCapacity)
      lastCheck.failures.push(`${lastCheck.tickets} of the last ${lastCapacity} tickets sold`);
    const soldOut = rush.codes.get('409 sold_out') ?? 0;
    if (soldOut !== lastBuyers - lastCapacity)
      lastCheck.failures.push(`${soldOut} answered 409 sold_out, not ${lastBuyers - lastCapacity}`);

    return {
      label,
      eventBody,
      orderBody,
      read,
      purchase: purchaseSummary(selling.result),
      saleCheck,
      voucher: purchaseSummary(voucherSelling.result),
      voucherCheck,
      family: ticketsSummary(families.result),
      familyCheck,
      last: { ...summary(rush.result), max: rush.result.latency.max },
      lastCheck,
      validate: purchaseSummary(scanning.result),
      doorCheck,
    };
  } finally {
    await stopChild(child);
  }
}

/** Tickets per second in orders of `familySize`, and the server's CPU time per ticket. */
function ticketsSummary(r) {
  const s = purchaseSummary(r);
  return { ...s, rps: s.rps * familySize, cpuUs: s.cpuUs && s.cpuUs / familySize };
}

/** Orders per second: 2xx answers over the run's length, so refusals never count as sales. */
function purchaseSummary(r) {
  return { ...summary(r), rps: r['2xx'] / r.duration };
}

async function benchBare(eventBody, orderBody) {
  const getFile = join(tmp, 'event.json');
  const postFile = join(tmp, 'order.json');
  writeFileSync(getFile, eventBody);
  writeFileSync(postFile, orderBody);
  const { url, child } = await startChild(['bare', getFile, postFile]);
  try {
    const read = summary(await readLoad(`${url}/api/events/x`, 'x'));
    const fake = { eventId: 'evt_x', typeId: 'tt_x' };
    const post = await purchaseLoad(url, 'x', 'bare', fake);
    return { read, purchase: purchaseSummary(post.result) };
  } finally {
    await stopChild(child);
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

const fmt = (n, d = 0) => n.toFixed(d).padStart(9);

/** Every figure of the run, written to bench/results.json at its end so runs can be compared. */
const scenarios = [];
const resultsFile = join(here, 'results.json');

/** Records the rows of a load (all but the baseline, the first) under `name`. */
function record(name, unit, rows) {
  const base = rows[0].rps;
  for (const r of rows.slice(1))
    scenarios.push({
      name,
      database: r.label.replace(/^tickets on /, '').toLowerCase(),
      value: Math.round(r.rps),
      unit,
      ratio: Number((r.rps / base).toFixed(3)),
      p99_ms: r.p99,
      ...(r.cpuUs ? { cpu_us: Math.round(r.cpuUs) } : {}),
    });
}

function printLoad(title, unit, rows, name) {
  if (name) record(name, unit, rows);
  console.log(title);
  console.log(
    `  ${'server'.padEnd(26)}${unit.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(9)}  vs bare${'CPU µs'.padStart(9)}${'per core/s'.padStart(12)}`,
  );
  const base = rows[0].rps;
  for (const r of rows)
    console.log(
      `  ${r.label.padEnd(26)}${fmt(r.rps)}${fmt(r.p50, 1)}${fmt(r.p99, 1)}${fmt(r.errors)}  ${`${(r.rps / base).toFixed(2)}×`.padStart(7)}${r.cpuUs ? fmt(r.cpuUs) : '        -'}${r.cpuUs ? fmt(1e6 / r.cpuUs).padStart(12) : '           -'}`,
    );
  console.log();
}

function printChecks(rows) {
  console.log('No-oversell checks (database read directly after each run)');
  console.log(
    `  ${'run'.padEnd(20)}${'capacity'.padStart(9)}${'sold'.padStart(7)}${'held'.padStart(6)}${'2xx'.padStart(7)}${'tickets'.padStart(9)}${'retried'.padStart(9)}  ${'refused'.padEnd(22)}result`,
  );
  for (const r of rows)
    console.log(
      `  ${r.label.padEnd(20)}${String(r.capacity).padStart(9)}${String(r.sold).padStart(7)}${String(r.held).padStart(6)}${String(r.ok2xx).padStart(7)}${String(r.tickets).padStart(9)}${`${r.retried}/${r.replayed}`.padStart(9)}  ${r.refused.padEnd(22)}${r.failures.length ? `FAIL: ${r.failures.join('; ')}` : 'ok'}`,
    );
  console.log(
    '  retried: requests cut off in flight when the load ended, settled by retrying their Idempotency-Key /\n' +
      '  of which the server had already sold (replayed). 2xx counts the load and the retries.\n',
  );
}

async function main() {
  console.log(`${connections} connections, ${duration} s per load; servers in child processes`);
  console.log(
    "CPU µs: the server process's main-thread CPU time per answer, far steadier than req/s on a shared,\n" +
      'noisy machine; per core/s: what one core answers at that cost (on Postgres the database works in\n' +
      'processes of its own, not counted here).\n',
  );
  const schema = `bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  let failed = false;
  try {
    const sqlite = await benchTickets('SQLite', `sqlite:${join(tmp, 'bench.db')}`);
    const bare = await benchBare(sqlite.eventBody, sqlite.orderBody);
    const postgres = await benchTickets('Postgres', `${postgresUrl}?schema=${schema}`);
    const dbs = [sqlite, postgres];

    printLoad(
      'GET /api/events/:id, authenticated',
      'req/s',
      [
        { label: 'bare node:http (baseline)', ...bare.read },
        ...dbs.map((d) => ({ label: `tickets on ${d.label}`, ...d.read })),
      ],
      'read',
    );
    printLoad(
      `POST /api/tickets/purchase, 1 ticket each, distinct buyer + Idempotency-Key per request\n` +
        `  (baseline: the bare server POSTed the same requests; it parses the body and answers 201 with an order)`,
      'orders/s',
      [
        { label: 'bare node:http POST', ...bare.purchase },
        ...dbs.map((d) => ({ label: `tickets on ${d.label}`, ...d.purchase })),
      ],
      'purchase',
    );
    printLoad(
      'POST /api/tickets/purchase with a discount code (20 % off, uses unlimited), as the purchase above\n' +
        '  (vs bare: against the plain purchase on the same database; target ≥ 0.8×)',
      'orders/s',
      dbs.flatMap((d) => [
        { label: `plain, ${d.label}`, ...d.purchase },
        { label: `with a code, ${d.label}`, ...d.voucher },
      ]),
      'purchase with a voucher',
    );
    for (const d of dbs)
      console.log(
        `  with a code / plain on ${d.label}: ${(d.voucher.rps / d.purchase.rps).toFixed(2)}× (orders/s), CPU µs ${fmt(d.voucher.cpuUs).trim()} vs ${fmt(d.purchase.cpuUs).trim()}\n`,
      );
    printLoad(
      `POST /api/tickets/purchase, ${familySize} tickets each (a family), distinct buyer + Idempotency-Key per request\n` +
        `  (tickets/s: tickets sold per second, the unit pretix quotes; CPU µs per ticket; baseline: bare POST req/s)`,
      'tickets/s',
      [
        { label: 'bare node:http POST', ...bare.purchase },
        ...dbs.map((d) => ({ label: `tickets on ${d.label}`, ...d.family })),
      ],
      `purchase of ${familySize}`,
    );
    console.log(
      `Last ${lastCapacity} tickets: ${lastBuyers} buyers at once, one connection each (last ms: the slowest answer)`,
    );
    console.log(
      `  ${'server'.padEnd(26)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'last ms'.padStart(9)}${'sold'.padStart(9)}  refused`,
    );
    for (const d of dbs)
      console.log(
        `  ${`tickets on ${d.label}`.padEnd(26)}${fmt(d.last.p50, 1)}${fmt(d.last.p99, 1)}${fmt(d.last.max, 1)}${fmt(d.lastCheck.tickets)}  ${d.lastCheck.refused}`,
      );
    console.log();
    const checks = dbs.flatMap((d) => [
      { label: `purchase, ${d.label}`, ...d.saleCheck },
      { label: `voucher, ${d.label}`, ...d.voucherCheck },
      { label: `family, ${d.label}`, ...d.familyCheck },
      { label: `last ${lastCapacity}, ${d.label}`, ...d.lastCheck },
    ]);
    printChecks(checks);

    printLoad(
      `POST /api/tickets/validate, online, a \`checkin\` API key, a different pre-sold ticket per request\n` +
        `  (baseline: the bare node:http POST above; validations/s counts 2xx answers)`,
      'valid./s',
      [
        { label: 'bare node:http POST', ...bare.purchase },
        ...dbs.map((d) => ({ label: `tickets on ${d.label}`, ...d.validate })),
      ],
      'validate',
    );
    console.log('Exactly-once admission checks (database read directly after each validation run)');
    console.log(
      `  ${'run'.padEnd(20)}${'sold'.padStart(8)}${'scans'.padStart(8)}${'admits'.padStart(8)}${'tickets'.padStart(9)}${'stats ms'.padStart(10)}  ${'answers'.padEnd(22)}result`,
    );
    for (const d of dbs) {
      const c = d.doorCheck;
      console.log(
        `  ${`validate, ${d.label}`.padEnd(20)}${String(c.tickets).padStart(8)}${String(c.sent).padStart(8)}${String(c.admissions).padStart(8)}${String(c.admittedTickets).padStart(9)}${fmt(c.statsMs, 1).padStart(10)}  ${c.answers.padEnd(22)}${c.failures.length ? `FAIL: ${c.failures.join('; ')}` : 'ok'}`,
      );
    }
    console.log(
      '  admits: admission scans recorded; tickets: distinct tickets admitted (must be equal, and equal\n' +
        '  to what GET /api/events/:id/checkins/stats reports; stats ms: how long it took). Stadium peak\n' +
        '  ~100 scans/s; the target is 50× that (5,000/s) on one small machine.\n',
    );
    failed = checks.some((c) => c.failures.length > 0) || dbs.some((d) => d.doorCheck.failures.length > 0);
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }

  console.log('CLI start-up (median of 15 runs)');
  const cli = join(root, 'packages/cli/dist/bin.js');
  const node = timeCommand(['-e', '0']);
  const version = timeCommand([cli, '--version']);
  console.log(`node -e 0            ${node.toFixed(1).padStart(7)} ms`);
  console.log(
    `tickets --version    ${version.toFixed(1).padStart(7)} ms  (${(version / node).toFixed(2)}× node -e 0)`,
  );
  writeFileSync(
    resultsFile,
    `${JSON.stringify({ generated_at: new Date().toISOString(), scenarios }, null, 2)}\n`,
  );
  console.log(`\nEvery figure: ${resultsFile}`);
  if (failed) {
    console.error('\nbench: a no-oversell or exactly-once admission check FAILED (see above)');
    process.exitCode = 1;
  }
}

await main();
