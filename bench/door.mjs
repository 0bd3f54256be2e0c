// node bench/door.mjs: door mode end to end on loopback. A tickets server (SQLite) in its own process,
// `tickets door` spawned with piped stdin as a USB scanner would type into it; N codes written one at
// a time, each after the previous verdict line appeared. Reports stdin-write → verdict-line latency.
//   BENCH_DOOR_SCANS   codes scanned (default 300; a third of them scanned twice, i.e. refusals)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const cliBin = join(root, 'packages/cli/dist/bin.js');
const scans = Number(process.env.BENCH_DOOR_SCANS ?? 300);
const tmp = mkdtempSync(join(tmpdir(), 'tickets-bench-door-'));
const env = { ...process.env, TICKETS_CONFIG_DIR: tmp, NO_COLOR: '1' };
delete env.TICKETS_API_URL;
delete env.TICKETS_API_KEY;
delete env.TICKETS_PROFILE;

function tickets(args) {
  const r = spawnSync(process.execPath, [cliBin, ...args, '--json'], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tickets ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const server = spawn(
  process.execPath,
  [join(here, 'servers.mjs'), 'tickets', `sqlite:${join(tmp, 'door.db')}`],
  {
    cwd: join(root, 'packages/server'),
    // The door path alone, and no .eml files outside the temp dir.
    env: { ...process.env, BENCH_LOG_LEVEL: 'warn', TICKETS_WORKER: 'off', TICKETS_DATA_DIR: tmp },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const url = await new Promise((resolve, reject) => {
  server.stdout.once('data', (d) => resolve(String(d).split('\n')[0].trim()));
  server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
});

try {
  tickets([
    'signup',
    '--email',
    `door-${process.pid}@example.com`,
    '--name',
    'Bench Door',
    '--password',
    'correct horse battery staple',
    '--org-name',
    'Bench Door Org',
    '--api-url',
    url,
  ]);
  const event = tickets([
    'events',
    'create',
    '--name',
    'Door Bench',
    '--timezone',
    'Europe/Berlin',
    '--currency',
    'EUR',
    '--starts',
    '2031-12-31 20:00',
    '--ends',
    '2032-01-01 02:00',
  ]);
  tickets(['types', 'create', event.id, '--name', 'GA', '--price', '25', '--capacity', String(scans)]);
  tickets(['events', 'publish', event.id]);
  // Two thirds fresh tickets (admitted), then a third of those again (refused: already used).
  const fresh = Math.ceil((scans * 2) / 3);
  const codes = [];
  for (let left = fresh; left > 0; left -= 100) {
    const order = tickets([
      'sell',
      event.id,
      '--qty',
      String(Math.min(100, left)),
      '--name',
      'Bea Buyer',
      '--email',
      'bea@example.com',
      '--no-qr',
    ]);
    codes.push(...order.tickets.map((t) => t.code));
  }
  const sequence = [...codes, ...codes].slice(0, scans);

  const door = spawn(process.execPath, [cliBin, 'door', event.id, '--gate', 'Bench'], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buffered = '';
  let waiting = null;
  door.stdout.setEncoding('utf8');
  door.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl = buffered.indexOf('\n');
    while (nl !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(line);
      }
      nl = buffered.indexOf('\n');
    }
  });
  const verdictFor = (code) =>
    new Promise((resolve) => {
      waiting = resolve;
      door.stdin.write(`${code}\n`);
    });

  const latencies = [];
  const tally = { admitted: 0, refused: 0, other: 0 };
  for (const code of sequence) {
    const started = process.hrtime.bigint();
    const line = await verdictFor(code);
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (line.startsWith('ADMITTED')) tally.admitted++;
    else if (line.startsWith('REFUSED')) tally.refused++;
    else tally.other++;
  }
  door.stdin.end();
  await new Promise((resolve) => door.once('exit', resolve));

  // The first scan also pays for the door's start-up (SDK import, list look-up): reported apart.
  const [first, ...rest] = latencies;
  const sorted = rest.sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  console.log(`tickets door on SQLite, loopback: ${scans} scans, one at a time (stdin write → verdict line)`);
  console.log(`  verdicts   admitted ${tally.admitted}, refused ${tally.refused}, other ${tally.other}`);
  console.log(`  first scan ${first.toFixed(1)} ms (includes the door's start-up)`);
  console.log(
    `  p50 ${pct(50).toFixed(1)} ms   p99 ${pct(99).toFixed(1)} ms   max ${sorted.at(-1).toFixed(1)} ms   (target p99 < 50 ms)`,
  );
  const expectedAdmitted = Math.min(fresh, scans);
  if (tally.admitted !== expectedAdmitted || tally.other !== 0) {
    console.error(`bench: expected ${expectedAdmitted} admitted and no other verdicts`);
    process.exitCode = 1;
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  rmSync(tmp, { recursive: true, force: true });
}
