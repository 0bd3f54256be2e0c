import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of the real server that misbehaves on purpose: `plan` says what to do with each
 * incoming request in turn ('503', '429:<seconds>', 'drop' closes the socket after forwarding, 'pass').
 */
export async function flakyProxy(target: string) {
  const plan: string[] = [];
  const seen: { method: string; idempotencyKey: string | undefined }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
    });
    const step = plan.shift() ?? 'pass';
    if (step === '503' || step.startsWith('429')) {
      req.resume();
      const [status, retry] = step.split(':');
      res.writeHead(Number(status), {
        'content-type': 'application/problem+json',
        ...(retry ? { 'retry-after': retry } : {}),
      });
      res.end(
        JSON.stringify({
          status: Number(status),
          code: status === '503' ? 'unavailable' : 'rate_limited',
          detail: 'try later',
        }),
      );
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const upstream = httpRequest(url, { method: req.method, headers: req.headers }, (up) => {
      if (step === 'drop') {
        // The server did the work, but the client never hears back.
        up.resume();
        up.on('end', () => res.socket?.destroy());
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, plan, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}
