import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

  it('logs readable lines to stderr on a terminal and JSON lines to stdout when piped', async () => {
    const env = { NO_COLOR: '1', DATABASE_URL: undefined, PORT: undefined, CI: undefined, TERM: 'xterm' };
    // `script` gives the server a terminal, as when someone types `tickets server start`.
    const tty = execa(
      'script',
      ['-qec', `node ${BIN} server start --port 0 --data-dir ${join(dir, 'tty')}`, '/dev/null'],
      {
        env,
        extendEnv: true,
        reject: false,
      },
    );
    let seen = '';
    tty.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    for (let i = 0; i < 400 && !/listening on http/.test(seen); i++)
      await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (http:\/\/\S+)/.exec(seen)![1]!;
    await fetch(`${url}/api/health`);
    for (let i = 0; i < 200 && !/INFO/.test(seen.split('listening on')[1] ?? ''); i++)
      await new Promise((r) => setTimeout(r, 25));
    tty.kill('SIGTERM');
    await tty;
    const lines = seen.split(/\r?\n/).filter((l) => l.trim());
    expect(lines.some((l) => /^\[\d\d:\d\d:\d\d\] INFO: request /.test(l))).toBe(true);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);

    const piped = execa('node', [BIN, 'server', 'start', '--port', '0', '--data-dir', join(dir, 'piped')], {
      env: { NO_COLOR: '1', DATABASE_URL: undefined, PORT: undefined },
      reject: false,
    });
    const pipedUrl = await listeningUrl(piped);
    await fetch(`${pipedUrl}/api/health`);
    await new Promise((r) => setTimeout(r, 300));
    piped.kill('SIGTERM');
    const out = await piped;
    const json = out.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(json.some((l: { msg: string }) => l.msg === 'request')).toBe(true);
  });

  it('--detach returns once the server listens, logs to a file, and server stop ends it', async () => {
    const cli = makeCli({ DATABASE_URL: undefined, PORT: undefined }, { spawn: true });
    const data = join(dir, 'detached');
    try {
      const started = await cli(['server', 'start', '--detach', '--port', '0', '--data-dir', data]);
      expect(started.exitCode, started.stderr).toBe(0);
      const url = /running in the background at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stderr)!;
      expect(started.stderr).toContain(`Its log: ${join(data, 'server.log')}`);
      expect(started.stderr).toContain('Stop it:  tickets server stop');
      // It serves after the command returned, and its log is JSON lines in the file.
      expect((await fetch(`${url[1]}/api/health`)).status).toBe(200);
      const again = await cli(['server', 'start', '--detach', '--data-dir', data]);
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toContain(`a server already runs in the background at ${url[1]} (pid ${url[2]})`);

      const stopped = await cli(['server', 'stop', '--data-dir', data, '--json']);
      expect(stopped.exitCode, stopped.stderr).toBe(0);
      expect(JSON.parse(stopped.stdout)).toMatchObject({ pid: Number(url[2]), stopped: true });
      await expect(fetch(`${url[1]}/api/health`)).rejects.toThrow();
      const log = readFileSync(join(data, 'server.log'), 'utf8');
      expect(log).toContain('listening on');
      expect(log.split('\n').some((l) => l.startsWith('{') && JSON.parse(l).msg === 'shutting down')).toBe(
        true,
      );
      const none = await cli(['server', 'stop', '--data-dir', data]);
      expect(none.exitCode).toBe(1);
      expect(none.stderr).toContain('no server runs in the background');

      // A port that is taken: the command says why, and leaves nothing running.
      const busy = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
      try {
        const port = (busy.address() as AddressInfo).port;
        const failed = await cli(['server', 'start', '--detach', '--port', String(port), '--data-dir', data]);
        expect(failed.exitCode).toBe(1);
        expect(failed.stderr).toContain(
          `the server did not start: error: port ${port} on 127.0.0.1 is already in use`,
        );
      } finally {
        busy.close();
      }
    } finally {
      await cli(['server', 'stop', '--data-dir', data]);
      cli.cleanup();
    }
    // Five processes started one after another (12 s alone here): room for a busy machine.
  }, 60_000);
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
