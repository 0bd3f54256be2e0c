// Availability: one client must not hold the server. A client sending its headers or its body a byte at
// a time is answered 408 and cut off; one address cannot hold more than its share of connections; a
// client that goes away mid-request is no error of ours. Raw sockets, since fetch cannot be this slow.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness.js';

/** Connects to the server; `read()` gives all it has sent once it closes (or after `ms`). */
function open(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    connected: new Promise<void>((resolve) => socket.once('connect', () => resolve())),
    /** What arrived, and whether the server closed the connection, within `ms`. */
    read: async (ms: number) => {
      const isClosed = await Promise.race([closed.then(() => true), sleep(ms).then(() => false)]);
      return { received, closed: isClosed };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `text` a character at a time, `every` ms apart, until done or the socket closes. */
async function trickle(socket: Socket, text: string, every: number) {
  for (const ch of text) {
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(ch);
    await sleep(every);
  }
}

describe('sqlite: slow clients', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('sqlite', {
      TICKETS_HEADERS_TIMEOUT: '1',
      TICKETS_BODY_TIMEOUT: '1',
      TICKETS_MAX_CONNECTIONS_PER_IP: '6',
    });
  });
  afterAll(() => server?.stop());

  it('answers 408 and closes a connection whose headers arrive a byte at a time (slowloris)', async () => {
    const c = open(server.url);
    await c.connected;
    const started = Date.now();
    void trickle(c.socket, `GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`, 100);
    const { received, closed } = await c.read(5000);
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('answers 408 problem+json and closes a connection whose body arrives a byte at a time', async () => {
    const c = open(server.url);
    await c.connected;
    const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(100) });
    c.socket.write(
      `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const started = Date.now();
    void trickle(c.socket, body, 100);
    const { received, closed } = await c.read(5000);
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(received).toContain('"code":"request_timeout"');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('lets one address hold only so many connections; the next is refused 429 and closed', async () => {
    const held = Array.from({ length: 6 }, () => open(server.url));
    await Promise.all(held.map((c) => c.connected));
    await sleep(100);
    const extra = open(server.url);
    extra.socket.write('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n');
    const refused = await extra.read(2000);
    expect(refused.closed).toBe(true);
    expect(refused.received).toMatch(/^HTTP\/1\.1 429/);
    expect(refused.received).toContain('too_many_connections');
    // Once one closes, a new connection is served.
    held[0]!.socket.destroy();
    await sleep(100);
    const res = await fetch(`${server.url}/api/health`, { headers: { connection: 'close' } });
    expect(res.status).toBe(200);
    for (const c of held) c.socket.destroy();
  });
});
