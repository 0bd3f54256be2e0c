import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  describeOnPostgres,
  startTestServer,
  type TestServer,
} from '../../server/test/harness.js';
import { BIN, type Cli, listeningUrl, makeCli, PASSWORD, uniqueEmail } from './run-cli.js';

describe('tickets server', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tickets-cli-server-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a database and says what it applied', async () => {
    const cli = makeCli({}, { spawn: true });
    try {
      const db = `sqlite:${join(dir, 'migrate.db')}`;
      const first = await cli.json(['server', 'migrate', '--db', db]);
      expect(first.applied[0]).toBe('0001_initial');
      expect(await cli.json(['server', 'migrate', '--db', db])).toEqual({ applied: [] });
      const bad = await cli(['server', 'migrate', '--db', 'mysql://nope']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain('DATABASE_URL');
    } finally {
      cli.cleanup();
    }
  });

  it('exits at once, with one line naming the port, when the port is taken', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const started = Date.now();
      const second = await execa(
        'node',
        [BIN, 'server', 'start', '--port', String(port), '--data-dir', join(dir, 'busy')],
        {
          env: { LOG_LEVEL: 'silent', NO_COLOR: '1', DATABASE_URL: undefined },
          reject: false,
          timeout: 20_000,
        },
      );
      expect(second.timedOut).toBe(false);
      expect(second.exitCode).toBe(1);
      expect(second.stderr.trim().split('\n')).toEqual([
        `error: port ${port} on 127.0.0.1 is already in use (another tickets server?); choose another with --port or PORT`,
      ]);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      busy.close();
    }
  });

  it('starts the server in-process on the embedded database, and stops on SIGTERM', async () => {
    const child = execa('node', [BIN, 'server', 'start', '--port', '0', '--data-dir', join(dir, 'data')], {
      env: { LOG_LEVEL: 'silent', NO_COLOR: '1', DATABASE_URL: undefined, PORT: undefined },
      reject: false,
    });
    const url = await listeningUrl(child);
    const cli = makeCli({}, { spawn: true });
    try {
      const signup = await cli([
        'signup',
        '--email',
        uniqueEmail(),
        '--name',
        'Ann',
        '--password',
        PASSWORD,
        '--api-url',
        url,
      ]);
      expect(signup.exitCode, signup.stderr).toBe(0);
      expect((await cli.json(['whoami'])).role).toBe('owner');
    } finally {
      cli.cleanup();
      child.kill('SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
  });
});

describeOnPostgres('postgres: tickets smoke test', () => {
  let server: TestServer;
  let cli: Cli;
  beforeAll(async () => {
    server = await startTestServer('postgres');
    cli = makeCli({}, { spawn: true });
  });
  afterAll(async () => {
    cli.cleanup();
    await server?.stop();
  });

  it('signs up, creates and publishes an event with a ticket type, and deletes another', async () => {
    const signup = await cli([
      'signup',
      '--email',
      uniqueEmail(),
      '--name',
      'Ann',
      '--password',
      PASSWORD,
      '--api-url',
      server.url,
    ]);
    expect(signup.exitCode, signup.stderr).toBe(0);
    const event = await cli.json([
      'events',
      'create',
      '--name',
      'Jazz Night',
      '--timezone',
      'America/New_York',
      '--currency',
      'USD',
      '--starts',
      '2031-07-04 20:00',
      '--ends',
      '2031-07-04 23:00',
    ]);
    // New York in July is UTC-4.
    expect(event.starts_at).toBe('2031-07-05T00:00:00.000Z');
    const type = await cli.json([
      'types',
      'create',
      event.id,
      '--name',
      'GA',
      '--price',
      '12.5',
      '--capacity',
      '40',
    ]);
    expect(type.price).toEqual({ amount: 1250, currency: 'USD' });
    expect((await cli.json(['events', 'publish', event.id])).status).toBe('published');
    const availability = await cli.json(['availability', event.id]);
    expect(availability.ticket_types).toMatchObject([{ name: 'GA', available: 40, on_sale: true }]);

    const draft = await cli.json([
      'events',
      'create',
      '--name',
      'Draft',
      '--timezone',
      'UTC',
      '--currency',
      'USD',
      '--starts',
      '2031-08-01 20:00',
      '--ends',
      '2031-08-01 22:00',
    ]);
    expect((await cli.json(['events', 'delete', draft.id, '--yes'])).deleted).toBe(true);
    expect(await cli.json(['events', 'list'])).toMatchObject([{ id: event.id }]);
  });

  it('migrates a fresh Postgres schema', async () => {
    const database = await createTestDatabase('postgres');
    try {
      const { applied } = await cli.json(['server', 'migrate', '--db', database.url]);
      expect(applied[0]).toBe('0001_initial');
    } finally {
      await database.drop();
    }
  });
});
