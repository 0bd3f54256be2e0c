import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Db } from '../db/database.js';
import { nowIso } from '../time.js';
import { outboxMessages, outboxOldestQueued, registry } from './metrics.js';

/** Statuses worth a gauge: what is waiting or went wrong (delivered ones only ever grow). */
const WATCHED = ['queued', 'sending', 'failed', 'bounced', 'dead'] as const;

/**
 * `GET /metrics`: this process's metrics in Prometheus's text format, for a scraper that presents the
 * bearer token (TICKETS_METRICS_TOKEN). Without the token configured the path is not served at all;
 * with a wrong or missing one it answers 401 and nothing else. The outbox's gauges are read from the
 * database at each scrape (an index range per status: cheap at a scrape a second).
 */
export function metricsRoute(db: Db, token: string) {
  const expected = Buffer.from(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      const body = JSON.stringify({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        code: 'metrics_token_required',
        detail: 'GET /metrics needs Authorization: Bearer <TICKETS_METRICS_TOKEN>.',
      });
      res.writeHead(401, {
        'content-type': 'application/problem+json',
        'www-authenticate': 'Bearer realm="metrics"',
        'cache-control': 'no-store',
      });
      res.end(body);
      return;
    }
    await probeOutbox(db);
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  };
}

/** How long the oldest message due has waited to be sent, in seconds (0: none waits). */
export async function oldestQueued(db: Db): Promise<number> {
  const oldest = await db.kysely
    .selectFrom('outbox')
    .select((eb) => eb.fn.min<string | null>('available_at').as('at'))
    .where('status', '=', 'queued')
    .where('available_at', '<=', nowIso())
    .executeTakeFirst();
  return oldest?.at ? Math.max(0, (Date.now() - Date.parse(oldest.at)) / 1000) : 0;
}

async function probeOutbox(db: Db): Promise<void> {
  const k = db.kysely;
  const [counts, oldest] = await Promise.all([
    k
      .selectFrom('outbox')
      .select(['channel', 'status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('status', 'in', [...WATCHED])
      .groupBy(['channel', 'status'])
      .execute(),
    oldestQueued(db),
  ]);
  outboxMessages.reset();
  for (const r of counts) outboxMessages.set({ channel: r.channel ?? 'none', status: r.status }, Number(r.n));
  outboxOldestQueued.set(oldest);
}

/** A server of its own for `GET /metrics` alone (a worker process, which serves no API). */
export async function serveMetrics(
  db: Db,
  token: string,
  host: string,
  port: number,
): Promise<{ server: Server; url: string }> {
  const route = metricsRoute(db, token);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      route(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Only GET /metrics here.\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const at = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${at.port}/metrics` };
}
