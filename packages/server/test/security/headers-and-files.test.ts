// Data at rest and on the wire: the SQLite database (the JWT secret, every event's private key) is
// this account's alone, and a wider one is warned about; every answer says nosniff and, unless it is a
// public image, no-store; HTML gets a Content-Security-Policy; a client going away is not an error.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Unsubscribes } from '../../src/modules/messaging/unsubscribe.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { http, signUp, startTestServer, type TestServer } from '../harness.js';

/** A server on a SQLite file in `dir`, its log lines (as objects) in `lines`. */
async function serverIn(dir: string, lines: Record<string, unknown>[]): Promise<RunningServer> {
  const config = loadConfig({
    PORT: '0',
    TICKETS_DATA_DIR: dir,
    DATABASE_URL: `sqlite:${join(dir, 'db', 'tickets.db')}`,
    TICKETS_WORKER: 'off',
  });
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return startServer(config, { log });
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('sqlite: files at rest', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it('creates the database folder 0700 and the file 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickets-modes-'));
    roots.push(dir);
    const lines: Record<string, unknown>[] = [];
    const server = await serverIn(dir, lines);
    await server.close();
    expect(mode(join(dir, 'db'))).toBe(0o700);
    expect(mode(join(dir, 'db', 'tickets.db'))).toBe(0o600);
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
  });

  it('warns at start-up when an existing database is readable by others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickets-modes-'));
    roots.push(dir);
    mkdirSync(join(dir, 'db'), { mode: 0o755 });
    writeFileSync(join(dir, 'db', 'tickets.db'), '', { mode: 0o644 });
    const lines: Record<string, unknown>[] = [];
    const server = await serverIn(dir, lines);
    await server.close();
    const warning = lines.find((l) => l.level === 40 && String(l.msg).includes('chmod'));
    expect(warning?.files).toEqual([`${join(dir, 'db')} (0755)`, `${join(dir, 'db', 'tickets.db')} (0644)`]);
  });

  it('logs a client that goes away mid-request at debug, not as an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickets-modes-'));
    roots.push(dir);
    const lines: Record<string, unknown>[] = [];
    const server = await serverIn(dir, lines);
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
    );
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    await server.close();
    expect(lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(lines.some((l) => l.level === 20 && l.msg === 'client went away')).toBe(true);
  });
});

describe('sqlite: headers on the wire', () => {
  let server: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    call = http(server.url);
    token = (await signUp(server.url)).token;
  });
  afterAll(() => server?.stop());

  it('says nosniff and no-store on answers carrying tokens, keys and personal data, and on errors', async () => {
    const login = await call('POST', '/api/auth/register', {
      body: { email: 'wire@example.com', password: 'correct horse battery staple', name: 'Wire' },
    });
    const key = await call('POST', '/api/api-keys', { token, body: { name: 'k', scopes: ['full'] } });
    const orders = await call('GET', '/api/orders', { token });
    const missing = await call('GET', '/api/events/evt_nope', { token });
    for (const res of [login, key, orders, missing]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('gives HTML a restrictive Content-Security-Policy', async () => {
    // A real link, made with the server's own secret (in the database).
    const link = await new Unsubscribes(server.db, server.url).url('org_x', 'reader@example.com');
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
