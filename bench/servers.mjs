// Child-process servers for the benchmark, so the load generator never shares their event loop.
//   node bench/servers.mjs bare <get.json> <post.json>   a bare node:http server: GET answers the first
//       file; POST reads and parses the JSON body, then answers 201 with the second file
//   node bench/servers.mjs tickets <DATABASE_URL>   the tickets API
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [kind, arg, postArg] = process.argv.slice(2);
if (kind === 'bare') {
  const body = readFileSync(arg, 'utf8');
  const created = postArg ? readFileSync(postArg, 'utf8') : body;
  const answer = (req, res, status, json) => {
    // The same work a minimal API must do: read the auth header, answer JSON with a request id.
    res.statusCode = req.headers.authorization ? status : 401;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('x-request-id', 'req_bench');
    res.end(json);
  };
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return answer(req, res, 200, body);
    // A POST is read to the end and parsed, as any JSON API must before it can answer.
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      try {
        JSON.parse(text);
      } catch {
        return answer(req, res, 400, '{}');
      }
      answer(req, res, 201, created);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`));
} else if (kind === 'tickets') {
  const { loadConfig, startServer } = await import('@tickets/server');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: arg,
    // Its own data folder (outbox files, media), never the user's ~/.local/share/tickets.
    TICKETS_DATA_DIR: process.env.TICKETS_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'tickets-bench-')),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    // To measure the request paths alone: TICKETS_WORKER=off keeps the message worker out of the process.
    ...(process.env.TICKETS_WORKER ? { TICKETS_WORKER: process.env.TICKETS_WORKER } : {}),
  });
  // Request logs go to /dev/null-like sink cost-wise the same as production (pino to a file descriptor).
  const running = await startServer(config);
  process.stdout.write(`${running.url}\n`);
  process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
} else {
  console.error('usage: servers.mjs bare <get.json> [<post.json>] | tickets <DATABASE_URL>');
  process.exit(2);
}
