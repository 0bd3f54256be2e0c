import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { App } from '../src/http/app.js';
import { buildApp } from '../src/server.js';
import { createTestDatabase, DIALECTS, http, type TestDatabase } from './harness.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../dist/main.js');

describe('configuration', () => {
  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', FACEBOOK_APP_ID: '1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('PORT="eighty"');
    expect(message).toContain('DATABASE_URL="mysql://x": must start with sqlite: or postgres://');
    expect(message).toContain('LOG_LEVEL="loud"');
  });

  it('requires both Facebook variables together', () => {
    expect(() => loadConfig({ FACEBOOK_APP_ID: '1' })).toThrow(/FACEBOOK_APP_ID and FACEBOOK_APP_SECRET/);
  });

  it('defaults to SQLite under the data directory', () => {
    const config = loadConfig({ TICKETS_DATA_DIR: '/srv/tickets' });
    expect(config.databaseUrl).toBe('sqlite:/srv/tickets/tickets.db');
    expect(config.port).toBe(3000);
    expect(config.bodyLimit).toBe(1024 * 1024);
  });

  it('refuses to start with bad configuration, exit code 2 and a message per variable', async () => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, PORT: '-1', HOST: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT="-1"');
    expect(stderr).toContain('HOST=""');
  });
});

describe('unexpected errors', () => {
  it('answer a 500 problem with the request id and no internals, and are logged', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
    const app = new App({
      log,
      bodyLimit: 1024,
      trustProxy: false,
      validateResponses: false,
      hooks: {
        authenticate: async () => ({ kind: 'user', userId: 'u', orgId: 'o', role: 'owner' }),
        authorize: () => {},
        idempotent: async (_s, _k, _h, run) => ({ ...(await run()), replayed: false }),
      },
    });
    app.handle(
      { method: 'GET', path: '/boom', summary: '', tag: 't', auth: 'public', response: z.object({}) },
      async () => {
        throw new Error('secret database password in a stack trace');
      },
    );
    const { createServer } = await import('node:http');
    const server = createServer(app.listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const res = await http(`http://127.0.0.1:${port}`)('GET', '/boom');
    server.close();
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('internal_error');
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(res.body.detail).toContain(res.body.request_id);
    expect(lines.join('')).toContain(res.body.request_id);
    expect(lines.join('')).toContain('secret database password');
  });
});

describe.each(DIALECTS)('%s: readiness and shutdown', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(() => database.drop());

  it('is not ready while migrations are pending', async () => {
    const db = openDatabase(database.url);
    const config = loadConfig({
      DATABASE_URL: database.url,
      TICKETS_JWT_SECRET: 'x'.repeat(32),
      LOG_LEVEL: 'silent',
    });
    const { app } = await buildApp(db, config, pino({ level: 'silent' }));
    const { createServer } = await import('node:http');
    const server = createServer(app.listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const res = await http(`http://127.0.0.1:${(server.address() as { port: number }).port}`)(
      'GET',
      '/api/health/ready',
    );
    server.close();
    await db.close();
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      status: 'not_ready',
      database: 'ok',
      migrations: {
        current: false,
        pending: [
          '0001_initial',
          '0002_orders',
          '0003_audit_outbox',
          '0004_invoices',
          '0005_payments',
          '0006_checkin',
          '0007_offline_checkin',
          '0008_messaging',
          '0009_lean_door',
          '0010_lean_outbox',
          '0011_sale_constraints',
          '0012_event_cancellations',
          '0013_invoice_errors',
          '0014_inventory_slots',
          '0015_refund_listing',
          '0016_password_resets',
          '0017_publishable_keys',
          '0018_default_tax_rate',
          '0019_invoice_reissue',
          '0020_org_contact',
          '0021_order_attribution',
          '0022_analytics_indexes',
          '0023_sales_rollup',
          '0024_event_analytics_indexes',
          '0025_audit_log',
          '0026_feedback',
          '0027_media',
          '0028_webhook_endpoints',
          '0029_payment_fees',
          '0030_payouts',
          '0031_reconciliations',
          '0032_google_analytics',
          '0034_fee_rollup',
          '0035_vouchers',
          '0036_payment_jobs',
        ],
      },
    });
  });

  it('on SIGTERM stops accepting, finishes the request in flight, and exits 0', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, PORT: '0', DATABASE_URL: database.url, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        output += d;
        const m = /listening on (http:\/\/\S+)/.exec(output);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`server exited early (${code}): ${output}`)));
    });
    child.stdout.on('data', (d) => {
      output += d;
    });
    // A request whose body arrives in two parts, with SIGTERM in between.
    const body = JSON.stringify({
      email: 'late@example.com',
      password: 'correct horse battery',
      name: 'Late',
    });
    const pending = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${url}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 200);
    });
    // 'close', not 'exit': the last lines of output may still be in the pipe when the process exits.
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const res = await pending;
    expect(res.status).toBe(201);
    expect(JSON.parse(res.text).user.email).toBe('late@example.com');
    expect(await exited).toBe(0);
    expect(output).toContain('tickets server stopped');
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });
});
