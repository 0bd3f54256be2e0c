import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of the real server that misbehaves on purpose: `plan` says what to do with each
 * incoming request in turn: a status ('503', '500', '429:<seconds>' with Retry-After) answered with a
 * problem+json body and request id `req_proxy<status>`, 'drop' (closes the socket after forwarding), or
 * 'pass'.
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
    if (/^\d{3}(:\d+)?$/.test(step)) {
      req.resume();
      const [status, retry] = step.split(':');
      const codes: Record<string, string> = { '503': 'unavailable', '429': 'rate_limited' };
      res.writeHead(Number(status), {
        'content-type': 'application/problem+json',
        'x-request-id': `req_proxy${status}`,
        ...(retry ? { 'retry-after': retry } : {}),
      });
      res.end(
        JSON.stringify({
          status: Number(status),
          code: codes[status!] ?? `proxy_${status}`,
          detail: codes[status!] ? 'try later' : `planned ${status}`,
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
