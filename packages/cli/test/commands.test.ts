import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, startTestServer, type TestServer } from '../../server/test/harness.js';
import { BIN, type Cli, listeningUrl, makeCli, PASSWORD, signUpWithEvent, uniqueEmail } from './run-cli.js';

/** Commands the feature files leave out, on both databases. */
describe.each(DIALECTS)('%s: more commands end to end', (dialect) => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Audit Hall', event: 'Audit Night' });
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it('prints its version', async () => {
    const r = await cli(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('deletes a ticket type only with --yes when not interactive', async () => {
    const type = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'Spare',
      '--price',
      '5',
      '--capacity',
      '3',
    ]);
    const refused = await cli(['types', 'delete', type.id]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('without --yes');
    const deleted = await cli.json(['types', 'delete', type.id, '--yes']);
    expect(deleted).toMatchObject({ id: type.id, deleted: true });
    expect(await cli.json(['types', 'list', eventId, '--all'])).toEqual([]);
    const again = await cli(['types', 'delete', type.id, '--yes']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/\(not_found, request id req_\S+\)/);
  });

  it('cancels an event, lists by status, and refuses to cancel it twice', async () => {
    const other = await cli.json([
      'events',
      'create',
      '--name',
      'To cancel',
      '--timezone',
      'UTC',
      '--currency',
      'EUR',
      '--starts',
      '2031-03-01 20:00',
      '--ends',
      '2031-03-01 22:00',
    ]);
    expect((await cli(['events', 'cancel', other.id])).exitCode).toBe(2);
    const cancelled = await cli.json(['events', 'cancel', other.id, '--yes']);
    expect(cancelled).toMatchObject({
      id: other.id,
      status: 'cancelled',
      cancellation: { refund: 'none', status: 'done', orders_total: 0 },
    });
    expect(await cli.json(['events', 'list', '--status', 'cancelled'])).toMatchObject([{ id: other.id }]);
    expect(
      (await cli.json(['events', 'list', '--status', 'draft'])).map((e: { id: string }) => e.id),
    ).toEqual([eventId]);
    const twice = await cli(['events', 'cancel', other.id, '--yes']);
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toMatch(/\(invalid_transition, request id req_\S+\)/);
    expect((await cli(['events', 'list', '--status', 'bogus'])).exitCode).toBe(2);
  });

  it('lists API keys without their secrets, as JSON and as a table', async () => {
    const key = await cli.json(['api-keys', 'create', '--name', 'Door 9', '--scope', 'checkin']);
    const listed = await cli.json(['api-keys', 'list']);
    expect(listed).toMatchObject([{ id: key.id, name: 'Door 9', scopes: ['checkin'], revoked_at: null }]);
    expect(JSON.stringify(listed)).not.toContain(key.secret);
    const table = await cli(['api-keys', 'list']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain(key.id);
    expect(table.stdout).toContain('Door 9');
    expect(table.stdout).not.toContain(key.secret);
    await cli.json(['api-keys', 'revoke', key.id, '--yes']);
    expect((await cli.json(['api-keys', 'list']))[0].revoked_at).toBeTruthy();
  });

  it('shows the organization and lists and revokes invitations', async () => {
    const me = await cli.json(['whoami']);
    expect(await cli.json(['orgs', 'show'])).toMatchObject({ id: me.organization.id, name: 'Audit Hall' });
    const invite = await cli.json(['orgs', 'members', 'invite', uniqueEmail('inv'), '--role', 'staff']);
    expect(await cli.json(['orgs', 'invitations', 'list'])).toMatchObject([
      { id: invite.id, status: 'pending' },
    ]);
    const revoked = await cli.json(['orgs', 'invitations', 'revoke', invite.id]);
    expect(revoked).toMatchObject({ id: invite.id, status: 'revoked' });
  });

  it('answers availability of an unknown event with exit 1 and the request id', async () => {
    const r = await cli(['availability', 'evt_01jd6x3k7qf0v8c6w2x9yq4e5b']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/\(not_found, request id req_\S+\)/);
  });
});

describe('sqlite: tickets server start --db', () => {
  it('serves the database --db names, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickets-cli-db-'));
    const file = join(dir, 'chosen.db');
    const child = execa('node', [BIN, 'server', 'start', '--port', '0', '--db', `sqlite:${file}`], {
      env: {
        LOG_LEVEL: 'silent',
        NO_COLOR: '1',
        DATABASE_URL: undefined,
        PORT: undefined,
        TICKETS_DATA_DIR: dir,
      },
      reject: false,
    });
    try {
      const url = await listeningUrl(child);
      expect(existsSync(file)).toBe(true);
      const ready = await http(url)('GET', '/api/health/ready');
      expect(ready.body).toMatchObject({ status: 'ready', database: 'ok' });
    } finally {
      child.kill('SIGTERM');
      expect((await child).exitCode).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs the binary on a pseudo-terminal (util-linux `script`), answering each prompt when it appears. */
function onTerminal(
  args: string[],
  env: Record<string, string | undefined>,
  answers: [RegExp, string][] = [],
): Promise<{ exitCode: number | null; output: string }> {
  const command = ['node', BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const pending = [...answers];
  // Each prompt is looked for only in what came after the last answer, so none is answered twice.
  let since = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const next = pending[0];
    if (next?.[0].test(output.slice(since))) {
      pending.shift();
      child.stdin.write(next[1]);
      since = output.length;
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, output });
    });
  });
}

describe.runIf(hasScript)('sqlite: tickets on a terminal', () => {
  let server: TestServer;
  let cli: Cli;
  let email: string;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    email = uniqueEmail('tty');
    const signup = await cli([
      'signup',
      '--email',
      email,
      '--name',
      'Tia',
      '--password',
      PASSWORD,
      '--api-url',
      server.url,
    ]);
    expect(signup.exitCode, signup.stderr).toBe(0);
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it('login prompts for the missing e-mail and password on a TTY', async () => {
    const env = {
      TICKETS_CONFIG_DIR: cli.configDir,
      NO_COLOR: '1',
      TICKETS_API_URL: undefined,
      TICKETS_API_KEY: undefined,
    };
    const r = await onTerminal(['--profile', 'tty', 'login', '--api-url', server.url], env, [
      [/E-mail/, `${email}\r`],
      [/Password/, `${PASSWORD}\r`],
    ]);
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toContain(`Logged in as ${email}`);
    expect(r.output).not.toContain(PASSWORD);
    expect((await cli.json(['--profile', 'tty', 'whoami'])).user.email).toBe(email);
  });

  it('colours output on a TTY, and not with NO_COLOR', async () => {
    const env = { TICKETS_CONFIG_DIR: cli.configDir, TICKETS_API_URL: undefined, TICKETS_API_KEY: undefined };
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for ANSI colour codes
    const sgr = /\u001b\[(1|2|3\d)m/;
    const coloured = await onTerminal(['whoami'], {
      ...env,
      NO_COLOR: undefined,
      FORCE_COLOR: undefined,
      CI: undefined,
    });
    expect(coloured.exitCode, coloured.output).toBe(0);
    expect(coloured.output).toMatch(sgr);
    const plain = await onTerminal(['whoami'], { ...env, NO_COLOR: '1' });
    expect(plain.exitCode, plain.output).toBe(0);
    expect(plain.output).toContain(email);
    expect(plain.output).not.toMatch(sgr);
  });
});
