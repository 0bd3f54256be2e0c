// node bench/media.mjs: the local media store (issue 15). Images are served at
// /media/<med_id>/v<version>/<preset>, made by sharp on the first request (transform + disk cache),
// then answered from the cache (in memory while small) with `Cache-Control: public, max-age=31536000,
// immutable`, an ETag and `Vary: Accept`, in the format the Accept header asks for.
//
// Two measurements, on SQLite with a temporary TICKETS_DATA_DIR, the server in a child process:
//   cached preset   GET of one cached preset URL (`card`, Accept: image/webp,*/*) under load
//                   (BENCH_CONNECTIONS keep-alive connections, BENCH_DURATION seconds), against a bare
//                   node:http server in the same run that answers the same bytes with the same headers.
//                   Two rounds in alternating order (tickets, bare; bare, tickets), the round with more
//                   req/s kept per server. Target (the issue): tickets ≥ 0.5× the bare req/s (PASS/FAIL
//                   printed; a miss does not fail the run); p99 recorded, with its ratio to the bare one.
//                   The load is a node:http client loop, not autocannon: autocannon's JavaScript HTTP
//                   parser (http-parser-js) manages some 400 answers/s of a compressed image body (~130 KB
//                   of random-looking bytes; 8,000/s of the same length of one repeated byte), so it, not
//                   either server, was what req/s measured.
//   first request   ms for the first GET (to the last byte) of each preset and of the srcset width w_960,
//                   with Accept headers asking for WebP, AVIF and JPEG, of a freshly uploaded 4000×3000
//                   JPEG (a gradient with shapes, detail and grain, photo-like; each upload a different
//                   image, so a new asset whose variants are all made on that request). One upload per
//                   format per round, its variants requested one after another; the median over the rounds.
// Checks, each failing the run (exit 1): every load answer 200 with the asked content type and the whole
// body (every 64th compared byte for byte), no errors or timeouts; the cached answer carries the
// immutable Cache-Control, an ETag and `Vary: Accept`, and a second GET the same bytes; every served body
// (first requests and the cached one) decodes with sharp to its variant's size (card 800×450, …) in the
// asked format. The figures are added to bench/results.json (as `pnpm bench`'s other scripts do).
//
//   BENCH_DURATION          seconds per load (default 5)
//   BENCH_CONNECTIONS       connections per load (default 50)
//   BENCH_MEDIA_WARMUP      seconds of unmeasured load before each measured one (default 1; 0 for none)
//   BENCH_MEDIA_UPLOADS     rounds of fresh uploads for the first-request figures (default 3)
//   BENCH_LOG_LEVEL         the server's log level (default warn)
//   BENCH_CPU_PROF          a directory: V8 CPU profiles of the server processes
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
// sharp is the server's dependency, not the workspace root's: resolved from there (as the server does).
const sharp = createRequire(join(root, 'packages/server/package.json'))('sharp');

const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const warmup = Number(process.env.BENCH_MEDIA_WARMUP ?? 1);
const uploads = Math.max(1, Number(process.env.BENCH_MEDIA_UPLOADS ?? 3));
const WIDTH = 4000;
const HEIGHT = 3000;
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The Accept headers of the first-request runs; the first is the cached load's too. */
const FORMATS = [
  { name: 'webp', accept: 'image/webp,*/*', type: 'image/webp' },
  // As Chrome asks for images.
  { name: 'avif', accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8', type: 'image/avif' },
  { name: 'jpeg', accept: '*/*', type: 'image/jpeg' },
];
const fill = (width, height) => ({ width, height });
/** The variants measured and the size each must decode to from a 4000×3000 original. */
const VARIANTS = [
  { name: 'thumbnail', ...fill(200, 200) },
  { name: 'card', ...fill(800, 450) },
  { name: 'og', ...fill(1200, 630) },
  { name: 'email', ...fill(600, 240) },
  { name: 'full', width: 1920, height: Math.round((HEIGHT * 1920) / WIDTH) },
  { name: 'w_960', width: 960, height: Math.round((HEIGHT * 960) / WIDTH) },
];
const LOADED = { variant: 'card', format: FORMATS[0] };

// ---------------------------------------------------------------------------------------------------
// The servers (child processes)

/** `media.mjs serve <dataDir>`: the tickets API on SQLite, its data (media included) under dataDir. */
async function serve(dataDir) {
  const { loadConfig, startServer } = await import('@tickets/server');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: `sqlite:${join(dataDir, 'tickets.db')}`,
    TICKETS_DATA_DIR: dataDir,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    TICKETS_WORKER: 'off',
    TICKETS_MEDIA_MAX_IMAGE_BYTES: String(64 * 1024 * 1024),
  });
  const running = await startServer(config);
  process.stdout.write(`listening ${running.url}\n`);
  process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
}

/**
 * `media.mjs bare <body> <headers.json> <path>`: a bare node:http server answering GET <path> with the
 * body and headers the tickets server answered it with (anything else: 404).
 */
function bare(bodyFile, headersFile, path) {
  const body = readFileSync(bodyFile);
  const headers = JSON.parse(readFileSync(headersFile, 'utf8'));
  const server = createServer((req, res) => {
    if (req.url !== path) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, headers);
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`),
  );
}

function startChild(args) {
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const child = spawn(process.execPath, [...profile, fileURLToPath(import.meta.url), ...args], {
    cwd: join(root, 'packages/server'),
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    // The server's JSON log lines share stdout; the URL is on the line that starts `listening `.
    const onData = (d) => {
      out += d;
      const m = /^listening (\S+)$/m.exec(out);
      if (!m) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve({ url: m[1], child });
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args[0]} server exited with ${code}`)));
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
// The image

/** xorshift32: the same noise on every run. */
function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Random RGB pixels at w×h, scaled up by sharp (bicubic) to the photo's size: soft shapes of that scale. */
async function shapes(w, h, rnd) {
  const small = Buffer.alloc(w * h * 3);
  for (let i = 0; i < small.length; i++) small[i] = Math.floor(rnd() * 256);
  return sharp(small, { raw: { width: w, height: h, channels: 3 } })
    .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
    .raw()
    .toBuffer();
}

/**
 * A 4000×3000 photo-like picture, raw RGB: a sky-like gradient, large soft shapes, smaller ones and fine
 * detail (a few pixels across, as foliage or fabric) and sensor grain. Its JPEG (q92) is some 2.5 MB and
 * its resizes of a photo's size (card as WebP some 55 KB).
 */
async function basePicture() {
  const rnd = random(15);
  const large = await shapes(40, 30, rnd);
  const mid = await shapes(200, 150, rnd);
  const detail = await shapes(800, 600, rnd);
  // Clamped: what falls below 0 or above 255 is 0 or 255.
  const raw = new Uint8ClampedArray(WIDTH * HEIGHT * 3);
  let i = 0;
  for (let y = 0; y < HEIGHT; y++) {
    const fy = y / HEIGHT;
    for (let x = 0; x < WIDTH; x++) {
      const fx = x / WIDTH;
      const grain = (rnd() - 0.5) * 10;
      const sky = [70 + 120 * fy, 110 + 80 * fy - 30 * fx, 200 - 110 * fy];
      for (let c = 0; c < 3; c++, i++)
        raw[i] = sky[c] + 0.7 * (large[i] - 128) + 0.25 * (mid[i] - 128) + 0.08 * (detail[i] - 128) + grain;
    }
  }
  return raw;
}

/** Upload n's JPEG: the base picture with a patch of its own (so a different file, hash and asset). */
async function photo(raw, n) {
  const rnd = random(1000 + n);
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 64; x++) {
      const at = ((HEIGHT - 100 + y) * WIDTH + 100 + x) * 3;
      for (let c = 0; c < 3; c++) raw[at + c] = Math.floor(rnd() * 256);
    }
  return sharp(Buffer.from(raw.buffer), { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .jpeg({ quality: 92 })
    .toBuffer();
}

// ---------------------------------------------------------------------------------------------------
// The API

async function json(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function upload(url, token, eventId, jpeg, n) {
  const form = new FormData();
  form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), `photo-${n}.jpg`);
  const t0 = performance.now();
  const res = await fetch(`${url}/api/media?event=${eventId}&role=gallery`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const asset = await res.json();
  const ms = performance.now() - t0;
  if (res.status !== 201) throw new Error(`POST /api/media: ${res.status} ${JSON.stringify(asset)}`);
  return { asset, ms };
}

/** The URL of a variant of an asset, as its 201 answer gives it (a preset's, or a srcset width's). */
function variantUrl(asset, name) {
  if (!name.startsWith('w_')) return asset.urls?.[name];
  return (asset.srcset ?? '')
    .split(',')
    .map((s) => s.trim().split(' ')[0])
    .find((u) => u.endsWith(`/${name}`));
}

/** A GET to the last byte: status, headers, body and ms. */
async function get(url, accept) {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { accept } });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, ms: performance.now() - t0 };
}

/** What is wrong with an image answer (an empty list when nothing): status, type, decoded size and format. */
async function checkImage(answer, variant, format) {
  const problems = [];
  if (answer.status !== 200) return [`${answer.status}, not 200`];
  const type = answer.headers.get('content-type');
  if (type !== format.type) problems.push(`content-type ${type}, not ${format.type}`);
  try {
    const meta = await sharp(answer.body).metadata();
    const decoded = meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
    if (decoded !== format.name) problems.push(`decodes as ${decoded}, not ${format.name}`);
    const { info } = await sharp(answer.body).raw().toBuffer({ resolveWithObject: true });
    if (info.width !== variant.width || info.height !== variant.height)
      problems.push(`${info.width}×${info.height}, not ${variant.width}×${variant.height}`);
  } catch (err) {
    problems.push(`sharp cannot decode it: ${err.message}`);
  }
  return problems;
}

/** What is wrong with the caching headers of a preset's answer. */
function checkCaching(headers) {
  const problems = [];
  if (headers.get('cache-control') !== IMMUTABLE)
    problems.push(`cache-control ${headers.get('cache-control')}, not ${IMMUTABLE}`);
  if (!headers.get('etag')) problems.push('no etag');
  if (!/(^|,)\s*accept\s*(,|$)/i.test(headers.get('vary') ?? ''))
    problems.push(`vary ${headers.get('vary')}, not Accept`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// The loads

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

/**
 * GET url with the Accept header on `connections` keep-alive connections, each sending its next request
 * when the answer before has arrived, for `seconds`. Every answer is checked: 200, the content type, the
 * whole body (its length; every 64th compared byte for byte with `body`).
 */
function httpLoad(url, accept, seconds, body, type) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  const problems = new Map(); // problem -> count
  const note = (p) => problems.set(p, (problems.get(p) ?? 0) + 1);
  let n = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const connection = () =>
    new Promise((resolve) => {
      const next = () => {
        if (performance.now() >= deadline) return resolve();
        const sent = performance.now();
        const compare = ++n % 64 === 0;
        const req = http.get(url, { agent, headers: { accept } }, (res) => {
          const chunks = [];
          let length = 0;
          res.on('data', (chunk) => {
            length += chunk.length;
            if (compare) chunks.push(chunk);
          });
          res.on('end', () => {
            latencies.push(performance.now() - sent);
            if (res.statusCode !== 200) note(`${res.statusCode}`);
            else if (res.headers['content-type'] !== type)
              note(`content-type ${res.headers['content-type']}`);
            else if (length !== body.length) note(`a body of ${length} bytes, not ${body.length}`);
            else if (compare && !Buffer.concat(chunks).equals(body)) note('other bytes');
            next();
          });
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
        req.on('error', (err) => {
          note(`error ${err.message}`);
          next();
        });
      };
      next();
    });
  const cpu = process.cpuUsage();
  return Promise.all(Array.from({ length: connections }, connection)).then(() => {
    const elapsed = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const at = (q) =>
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? Number.NaN;
    return {
      answered: latencies.length,
      rps: (latencies.length * 1000) / elapsed,
      p50: at(0.5),
      p99: at(0.99),
      clientCpu: (used.user + used.system) / 1000 / elapsed,
      problems: [...problems].map(([p, count]) => `${count}× ${p}`),
    };
  });
}

/** A warm-up, then the measured load of GET url; the server's main-thread CPU µs per answer (`cpuUs`). */
async function load(label, server, url, accept, body, type) {
  if (warmup > 0) await httpLoad(url, accept, warmup, body, type);
  const before = mainThreadCpuMs(server.child.pid);
  const r = await httpLoad(url, accept, duration, body, type);
  const after = mainThreadCpuMs(server.child.pid);
  if (!r.answered) r.problems.push('no answers');
  const cpuUs =
    before !== null && after !== null && r.answered ? ((after - before) * 1000) / r.answered : null;
  return { label, ...r, cpuUs };
}

// ---------------------------------------------------------------------------------------------------
// The run

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const pad = (s, n) => String(s).padStart(n);
const fmt = (n, d = 0) => pad(n.toFixed(d), 9);

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'tickets-bench-media-'));
  const failures = [];
  let tickets = null;
  try {
    console.log(
      `Media (local store, SQLite): ${WIDTH}×${HEIGHT} JPEG uploads; ${connections} connections, ${duration} s per load` +
        `${warmup > 0 ? ` after ${warmup} s of warm-up` : ''}; servers in child processes`,
    );
    const t0 = performance.now();
    const raw = await basePicture();
    const pictureMs = performance.now() - t0;

    tickets = await startChild(['serve', tmp]);
    const { url } = tickets;
    const session = await json(`${url}/api/auth/register`, {
      method: 'POST',
      body: JSON.stringify({ email: 'bench@example.com', password: 'correct horse battery', name: 'Bench' }),
    });
    const token = session.access_token;
    const event = await json(`${url}/api/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({
        name: 'Media Night',
        timezone: 'Europe/Berlin',
        starts_at: '2030-12-31T20:00:00+01:00',
        ends_at: '2031-01-01T02:00:00+01:00',
        currency: 'EUR',
      }),
    });

    // First requests: per round, one fresh upload per format, its variants one after another.
    const firstMs = new Map(); // `${variant}/${format}` -> ms[]
    const uploadMs = [];
    const jpegBytes = [];
    let loadAsset = null;
    let n = 0;
    for (let round = 0; round < uploads; round++)
      for (const format of FORMATS) {
        const jpeg = await photo(raw, ++n);
        jpegBytes.push(jpeg.length);
        const { asset, ms } = await upload(url, token, event.id, jpeg, n);
        uploadMs.push(ms);
        if (asset.width !== WIDTH || asset.height !== HEIGHT)
          failures.push(`upload ${n}: ${asset.width}×${asset.height}, not ${WIDTH}×${HEIGHT}`);
        loadAsset ??= format === LOADED.format ? asset : null;
        for (const variant of VARIANTS) {
          const at = variantUrl(asset, variant.name);
          if (!at) {
            failures.push(`upload ${n}: no URL for ${variant.name}`);
            continue;
          }
          const answer = await get(at, format.accept);
          const problems = await checkImage(answer, variant, format);
          if (problems.length)
            failures.push(`first GET ${variant.name} as ${format.name}: ${problems.join('; ')}`);
          const key = `${variant.name}/${format.name}`;
          firstMs.set(key, [...(firstMs.get(key) ?? []), answer.ms]);
        }
      }

    // The cached preset: its answer (made above), checked, then replayed by the bare server.
    const cardUrl = variantUrl(loadAsset, LOADED.variant);
    const cached = await get(cardUrl, LOADED.format.accept);
    const variant = VARIANTS.find((v) => v.name === LOADED.variant);
    const cachedProblems = [
      ...(await checkImage(cached, variant, LOADED.format)),
      ...checkCaching(cached.headers),
    ];
    const again = await get(cardUrl, LOADED.format.accept);
    if (!again.body.equals(cached.body)) cachedProblems.push('a second GET answered other bytes');
    if (cachedProblems.length) failures.push(`cached ${LOADED.variant}: ${cachedProblems.join('; ')}`);
    const path = new URL(cardUrl).pathname;
    const replayed = {};
    for (const [name, value] of cached.headers)
      if (!['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)) replayed[name] = value;
    writeFileSync(join(tmp, 'card.body'), cached.body);
    writeFileSync(join(tmp, 'card.headers.json'), JSON.stringify(replayed));
    const bareServer = await startChild([
      'bare',
      join(tmp, 'card.body'),
      join(tmp, 'card.headers.json'),
      path,
    ]);
    const loads = [];
    try {
      const bareUrl = `${bareServer.url}${path}`;
      const bareAnswer = await get(bareUrl, LOADED.format.accept);
      if (!bareAnswer.body.equals(cached.body)) failures.push('the bare server answers other bytes');
      const runs = {
        tickets: () =>
          load('tickets', tickets, cardUrl, LOADED.format.accept, cached.body, LOADED.format.type),
        bare: () => load('bare', bareServer, bareUrl, LOADED.format.accept, cached.body, LOADED.format.type),
      };
      for (const order of [
        ['tickets', 'bare'],
        ['bare', 'tickets'],
      ])
        for (const name of order) loads.push(await runs[name]());
    } finally {
      await stopChild(bareServer.child);
    }
    for (const l of loads) if (l.problems.length) failures.push(`load, ${l.label}: ${l.problems.join('; ')}`);
    const best = (label) => loads.filter((l) => l.label === label).reduce((a, b) => (b.rps > a.rps ? b : a));
    const t = best('tickets');
    const b = best('bare');

    // Output.
    console.log(
      `  picture: ${(pictureMs / 1000).toFixed(1)} s to draw; JPEG q92 ${(median(jpegBytes) / 1e6).toFixed(1)} MB; ` +
        `upload (POST /api/media) median ${median(uploadMs).toFixed(0)} ms over ${uploadMs.length}\n`,
    );
    const ratio = t.rps / b.rps;
    console.log(
      `Cached preset: GET ${LOADED.variant} (${cached.body.length} bytes ${LOADED.format.name}, Accept: ${LOADED.format.accept});` +
        ` best of two rounds per server`,
    );
    console.log(
      `  ${'server'.padEnd(28)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('CPU µs', 9)}${pad('client', 8)}  vs bare  all rounds req/s`,
    );
    for (const r of [b, t])
      console.log(
        `  ${(r.label === 'bare' ? 'bare node:http (baseline)' : 'tickets /media/…').padEnd(28)}${fmt(r.rps)}${fmt(r.p50, 1)}${fmt(r.p99, 1)}` +
          `${r.cpuUs === null ? pad('-', 9) : fmt(r.cpuUs)}${pad(`${(r.clientCpu * 100).toFixed(0)} %`, 8)}  ${pad(`${(r.rps / b.rps).toFixed(2)}×`, 7)}  ` +
          loads
            .filter((l) => l.label === r.label)
            .map((l) => l.rps.toFixed(0))
            .join(', '),
      );
    console.log(
      `  req/s tickets/bare ${ratio.toFixed(2)}× (target ≥ 0.5×): ${ratio >= 0.5 ? 'PASS' : 'FAIL'}; ` +
        `p99 tickets/bare ${(t.p99 / b.p99).toFixed(2)}× (${t.p99.toFixed(1)} ms vs ${b.p99.toFixed(1)} ms)`,
    );
    console.log(
      "  CPU µs: the server process's main-thread CPU time per answer; client: the load generator's CPU (this\n" +
        "  process, in one core's terms): near 100 % it, not the server, bounds req/s.\n",
    );

    console.log(
      `First request (ms to the last byte, transform + disk cache): median of ${uploads} fresh upload${uploads > 1 ? 's' : ''} per format`,
    );
    console.log(
      `  ${'variant'.padEnd(12)}${'size'.padEnd(11)}${FORMATS.map((f) => pad(f.name, 9)).join('')}`,
    );
    for (const v of VARIANTS)
      console.log(
        `  ${v.name.padEnd(12)}${`${v.width}×${v.height}`.padEnd(11)}` +
          FORMATS.map((f) => fmt(median(firstMs.get(`${v.name}/${f.name}`) ?? [Number.NaN]))).join(''),
      );
    console.log(
      `  Accept: ${FORMATS.map((f) => `${f.name} "${f.accept}"`).join(', ')}; w_960: a srcset width\n`,
    );

    // Added to the figures `node bench/run.mjs` wrote (pnpm bench runs it first).
    const resultsFile = join(here, 'results.json');
    const results = existsSync(resultsFile)
      ? JSON.parse(readFileSync(resultsFile, 'utf8'))
      : { scenarios: [] };
    results.scenarios = results.scenarios.filter((s) => s.name !== 'media cached preset');
    results.scenarios.push({
      name: 'media cached preset',
      database: 'sqlite',
      value: Math.round(t.rps),
      unit: 'req/s',
      ratio: Number(ratio.toFixed(3)),
      p99_ms: Number(t.p99.toFixed(1)),
      bare_p99_ms: Number(b.p99.toFixed(1)),
      ...(t.cpuUs ? { cpu_us: Math.round(t.cpuUs) } : {}),
    });
    results.media_first_request = {
      database: 'sqlite',
      image: `${WIDTH}x${HEIGHT} jpeg`,
      uploads,
      unit: 'ms',
      upload_ms: Math.round(median(uploadMs)),
      ms: Object.fromEntries(
        VARIANTS.map((v) => [
          v.name,
          Object.fromEntries(
            FORMATS.map((f) => [f.name, Math.round(median(firstMs.get(`${v.name}/${f.name}`)))]),
          ),
        ]),
      ),
    };
    writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    if (tickets) await stopChild(tickets.child);
    rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`bench: ${failures.length} media check(s) FAILED:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else console.log('Checks: every load answer 200, every body decoded to its size and format: ok');
}

const [kind, ...args] = process.argv.slice(2);
if (kind === 'serve') await serve(args[0]);
else if (kind === 'bare') bare(...args);
else await main();
