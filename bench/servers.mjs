// Child-process servers for the benchmark, so the load generator never shares their event loop.
//   node bench/servers.mjs bare <json-file>     a bare node:http server answering that JSON
//   node bench/servers.mjs tickets <DATABASE_URL>   the tickets API
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [kind, arg] = process.argv.slice(2);
if (kind === 'bare') {
  const body = readFileSync(arg, 'utf8');
  const server = createServer((req, res) => {
    // The same work a minimal API must do: read the auth header, answer JSON with a request id.
    if (!req.headers.authorization) res.statusCode = 401;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('x-request-id', 'req_bench');
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`));
} else if (kind === 'tickets') {
  const { loadConfig, startServer } = await import('@tickets/server');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: arg,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  });
  // Request logs go to /dev/null-like sink cost-wise the same as production (pino to a file descriptor).
  const running = await startServer(config);
  process.stdout.write(`${running.url}\n`);
  process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
} else {
  console.error('usage: servers.mjs bare <file> | tickets <DATABASE_URL>');
  process.exit(2);
}
