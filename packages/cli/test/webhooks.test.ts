import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WEBHOOK_API_VERSION, type WebhookDelivery } from '@tickets/sdk';
import { typeid } from 'typeid-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer, waitFor } from '../../server/test/harness.js';
import {
  newWebhookCreateCommand,
  newWebhookUpdateCommand,
  readEvents,
  webhookDeleteRun,
} from '../src/commands/webhooks.js';
import { CancelledError } from '../src/errors.js';
import {
  type Cli,
  fakePrompter,
  flagRecorder,
  makeCli,
  signUpWithEvent,
  thrown,
  withFactory,
} from './run-cli.js';

describe('tickets webhooks: flags', () => {
  it('reads --events as a list of known types, or * for all', () => {
    expect(readEvents('order.paid,order.refunded')).toEqual({ events: ['order.paid', 'order.refunded'] });
    expect(readEvents(' order.paid , order.paid,')).toEqual({ events: ['order.paid'] });
    expect(readEvents('*')).toEqual({ events: ['*'] });
    expect(readEvents('order.paid,order.exploded')).toEqual({
      error: expect.stringMatching(
        /^Unknown event type "order\.exploded"\. Expected .*order\.paid.*\* for all/,
      ),
    });
    expect(readEvents(',')).toEqual({ error: expect.stringMatching(/^Expected event types/) });
  });

  it('turns --enable and --disable into a status, and refuses both', async () => {
    const { record, parse } = flagRecorder();
    const update = (...args: string[]) =>
      parse((p) => newWebhookUpdateCommand(p.command('webhooks'), record), 'webhooks', 'update', ...args);
    expect(await update('we_1', '--disable')).toMatchObject({ id: 'we_1', status: 'disabled' });
    expect(await update('we_1', '--enable', '--events', '*')).toMatchObject({
      status: 'enabled',
      events: ['*'],
    });
    expect(await update('we_1', '--description', '')).toEqual({
      id: 'we_1',
      url: undefined,
      events: undefined,
      description: '',
      status: undefined,
    });
    await expect(update('we_1', '--enable', '--disable')).rejects.toThrow(/cannot be used with/);
    await expect(update('ord_1', '--disable')).rejects.toThrow(/Expected a webhook endpoint id \(we_…\)/);
    const create = (...args: string[]) =>
      parse((p) => newWebhookCreateCommand(p.command('webhooks'), record), 'webhooks', 'create', ...args);
    expect(
      await create('--url', 'https://example.com/hook', '--events', 'order.paid,event.published'),
    ).toEqual({
      url: 'https://example.com/hook',
      events: ['order.paid', 'event.published'],
      description: undefined,
    });
    await expect(create('--events', 'orders')).rejects.toThrow(/Unknown event type "orders"/);
  });
});

/**
 * Endpoint URLs must be https and resolve to a public address. The sandbox has no DNS (example.com does
 * not resolve, which the server refuses: url_unresolvable), so the server is told to take private
 * addresses (TICKETS_WEBHOOK_ALLOW_PRIVATE) and the endpoints are https on 127.0.0.1. It stays https-only,
 * its default, so an http:// URL is still refused. Nothing is delivered: no test makes an event happen.
 */
const HOOK = 'https://127.0.0.1:9/hook';

describe('sqlite: tickets webhooks', () => {
  let server: TestServer;
  let cli: Cli;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { TICKETS_WEBHOOK_ALLOW_PRIVATE: 'true' });
    cli = makeCli();
    await signUpWithEvent(cli, server.url, { org: 'Webhook Hall', event: 'Hooked Night' });
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  const create = (url = HOOK, events = 'order.paid,order.refunded', ...more: string[]) =>
    cli.json(['webhooks', 'create', '--url', url, '--events', events, ...more]);

  it('creates an endpoint and shows its secret once, saying so', async () => {
    const shown = await cli([
      'webhooks',
      'create',
      '--url',
      HOOK,
      '--events',
      'order.paid,order.refunded',
      '--description',
      'Warehouse',
    ]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^ID: we_\w+$/m);
    expect(shown.stdout).toContain(`URL: ${HOOK}`);
    expect(shown.stdout).toContain('Events: order.paid,order.refunded');
    expect(shown.stdout).toContain('Status: enabled');
    expect(shown.stdout).toContain('Description: Warehouse');
    expect(shown.stdout).toMatch(/^Secret: whsec_\S+$/m);
    expect(shown.stderr).toMatch(/Created webhook endpoint we_\w+\./);
    expect(shown.stderr).toContain("Store the signing secret now: it won't be shown again.");

    const endpoint = await create(HOOK, '*');
    expect(endpoint).toMatchObject({
      id: expect.stringMatching(/^we_/),
      object: 'webhook_endpoint',
      url: HOOK,
      events: ['*'],
      status: 'enabled',
      disabled_reason: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/=]+$/),
    });
  });

  it('lists endpoints (id, url, events, status), never their secrets', async () => {
    const endpoint = await create(`${HOOK}/list`, 'event.published,event.cancelled');
    const table = await cli(['webhooks', 'list']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout.split('\n')).toContain(
      `${endpoint.id}\t${HOOK}/list\tevent.published,event.cancelled\tenabled`,
    );
    expect(table.stdout).not.toContain('whsec_');
    const list = await cli.json(['webhooks', 'list']);
    expect(list.map((e: { id: string }) => e.id)).toContain(endpoint.id);
    expect(list.every((e: { secret?: string }) => e.secret === undefined)).toBe(true);
  });

  it('shows one endpoint without its secret', async () => {
    const endpoint = await create(`${HOOK}/show`, 'order.paid', '--description', 'Show me');
    const shown = await cli(['webhooks', 'show', endpoint.id]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`ID: ${endpoint.id}`);
    expect(shown.stdout).toContain(`URL: ${HOOK}/show`);
    expect(shown.stdout).toContain('Description: Show me');
    expect(shown.stdout).not.toMatch(/Secret|whsec_/);
    const json = await cli.json(['webhooks', 'show', endpoint.id]);
    expect(json).toMatchObject({ id: endpoint.id, url: `${HOOK}/show`, events: ['order.paid'] });
    expect(json.secret).toBeUndefined();
  });

  it('disables an endpoint and enables it again; changes its events', async () => {
    const endpoint = await create(`${HOOK}/update`);
    const disabled = await cli.json(['webhooks', 'update', endpoint.id, '--disable']);
    expect(disabled).toMatchObject({ id: endpoint.id, status: 'disabled' });
    expect(disabled.secret).toBeUndefined();
    const listed = await cli(['webhooks', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${endpoint.id}\\t.*\\tdisabled$`, 'm'));

    const enabled = await cli(['webhooks', 'update', endpoint.id, '--enable', '--events', 'order.paid']);
    expect(enabled.exitCode, enabled.stderr).toBe(0);
    expect(enabled.stderr).toContain(`Enabled ${endpoint.id}`);
    expect(enabled.stdout).toContain('Status: enabled');
    expect(enabled.stdout).toContain('Events: order.paid');

    const nothing = await cli(['webhooks', 'update', endpoint.id]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
  });

  it('rotates the secret: a new one, shown once', async () => {
    const endpoint = await create(`${HOOK}/rotate`);
    const rotated = await cli.json(['webhooks', 'rotate-secret', endpoint.id]);
    expect(rotated).toMatchObject({ id: endpoint.id, secret: expect.stringMatching(/^whsec_/) });
    expect(rotated.secret).not.toBe(endpoint.secret);

    const shown = await cli(['webhooks', 'rotate-secret', endpoint.id]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    const secret = /^Secret: (whsec_\S+)$/m.exec(shown.stdout)?.[1];
    expect(secret).toBeTruthy();
    expect([endpoint.secret, rotated.secret]).not.toContain(secret);
    expect(shown.stderr).toContain("Store the signing secret now: it won't be shown again.");
  });

  it('deletes only with --yes when not interactive; then it is gone', async () => {
    const endpoint = await create(`${HOOK}/delete`);
    const refused = await cli(['webhooks', 'delete', endpoint.id]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('without --yes');
    expect((await cli.json(['webhooks', 'show', endpoint.id])).id).toBe(endpoint.id);

    const deleted = await cli.json(['webhooks', 'delete', endpoint.id, '--yes']);
    expect(deleted).toMatchObject({ id: endpoint.id, deleted: true });
    const gone = await cli(['webhooks', 'show', endpoint.id]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toMatch(/\(not_found, request id req_\S+\)/);
    const list = await cli.json(['webhooks', 'list', '--all']);
    expect(list.map((e: { id: string }) => e.id)).not.toContain(endpoint.id);
  });

  it('on a terminal, asks before deleting, naming the URL; no keeps it', async () => {
    const endpoint = await create(`${HOOK}/ask`);
    const asked: string[] = [];
    const prompter = fakePrompter({
      confirm: async (message) => {
        asked.push(message);
        return false;
      },
    });
    const { result } = await withFactory(cli, { prompter }, (f) =>
      thrown(webhookDeleteRun(f, { id: endpoint.id, yes: false })),
    );
    expect(result).toBeInstanceOf(CancelledError);
    expect(asked).toEqual([expect.stringContaining(`${endpoint.id} (${HOOK}/ask)`)]);
    expect((await cli.json(['webhooks', 'show', endpoint.id])).status).toBe('enabled');
  });

  it("lists a fresh endpoint's deliveries: none", async () => {
    const endpoint = await create(`${HOOK}/deliveries`);
    const table = await cli(['webhooks', 'deliveries', endpoint.id]);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toBe('');
    expect(await cli.json(['webhooks', 'deliveries', endpoint.id])).toEqual([]);
    expect(
      await cli.json(['webhooks', 'deliveries', endpoint.id, '--status', 'failed', '--limit', '5']),
    ).toEqual([]);
    const bad = await cli(['webhooks', 'deliveries', endpoint.id, '--status', 'lost']);
    expect(bad.exitCode).toBe(2);
  });

  it('retrying a delivery that does not exist is a one-line not_found', async () => {
    const r = await cli(['webhooks', 'retry', typeid('msg').toString()]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*\(not_found, request id req_\S+\)$/);
  });

  it('refuses a bad --events value in one line, before sending anything', async () => {
    const r = await cli(['webhooks', 'create', '--url', HOOK, '--events', 'order.paid,order.exploded']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    const [first] = r.stderr.split('\n');
    expect(first).toMatch(/^error: option '--events <types>' argument .* is invalid\./);
    expect(first).toContain('Unknown event type "order.exploded"');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const before = (await cli.json(['webhooks', 'list', '--all'])).length;
    await cli(['webhooks', 'create', '--url', HOOK, '--events', 'nope']);
    expect((await cli.json(['webhooks', 'list', '--all'])).length).toBe(before);
  });

  it("refuses an http:// URL (the server's default is https only): its message, in one line", async () => {
    const r = await cli(['webhooks', 'create', '--url', 'http://example.com/hook', '--events', 'order.paid']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^error: .*\(\w+, request id req_\S+\)$/);
    expect(r.stderr).toMatch(/https/i);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(lines).toHaveLength(1);
  });
});

/**
 * Real deliveries to a receiver on this machine (the server told to allow http and private addresses):
 * what the server signs verifies with the SDK's verifyWebhook and the secret the CLI showed, and the CLI
 * shows the deliveries' history and retries one.
 */
describe('sqlite: tickets webhooks, deliveries end to end', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let receiver: Server;
  let base: string;
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  /** What each path answers. */
  const answers = new Map<string, number>();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(answers.get(path) ?? 204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    server = await startTestServer('sqlite', {
      TICKETS_WEBHOOK_ALLOW_PRIVATE: 'true',
      TICKETS_WEBHOOK_ALLOW_HTTP: 'true',
      // A failed attempt is tried again within a second or so, not half a minute.
      TICKETS_MESSAGE_RETRY_BASE_MS: '200',
    });
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Delivery Hall', event: 'Delivered Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25.00', '--capacity', '50']);
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
    await new Promise((r) => receiver?.close(r));
  });

  const at = (path: string) => received.filter((r) => r.path === path);
  const deliveries = (id: string) => cli.json<WebhookDelivery[]>(['webhooks', 'deliveries', id]);

  it('listen relays deliveries to a local URL, signed with the secret it prints, and removes its endpoint', async () => {
    const other = await cli.json<{ id: string }>([
      'events',
      'create',
      '--name',
      'Listened',
      '--timezone',
      'Europe/Berlin',
      '--starts',
      '2031-05-01 20:00',
      '--ends',
      '2031-05-01 23:00',
      '--currency',
      'EUR',
    ]);
    const listening = cli([
      'webhooks',
      'listen',
      '--forward-to',
      `${base}/listen`,
      '--events',
      'event.published',
      '--max',
      '1',
    ]);
    // Its temporary endpoint appears; then an event happens.
    await waitFor(
      async () =>
        (await cli.json<{ mode: string }[]>(['webhooks', 'list'])).filter((e) => e.mode === 'poll').length,
      (n) => n === 1,
    );
    await cli.json(['events', 'publish', other.id]);
    const done = await listening;
    expect(done.exitCode, done.stderr).toBe(0);
    const secret = /Signing secret: (whsec_\S+)/.exec(done.stderr)?.[1];
    expect(secret).toBeDefined();
    const [hit] = at('/listen');
    expect(await verifyWebhook(hit!.body, hit!.headers, secret!)).toMatchObject({
      type: 'event.published',
      data: { object: { id: other.id } },
    });
    expect(done.stdout).toMatch(/event\.published\s+msg_\w+\s+→ 204/);
    // Gone when it stops.
    expect(
      (await cli.json<{ mode: string }[]>(['webhooks', 'list'])).filter((e) => e.mode === 'poll'),
    ).toEqual([]);
  });

  it('signs what it sends: verifyWebhook takes it with the secret shown at creation, and after a rotation with either', async () => {
    const endpoint = await cli.json(['webhooks', 'create', '--url', `${base}/all`, '--events', '*']);
    await cli.json(['events', 'publish', eventId]);
    await waitFor(
      async () => at('/all').length,
      (n) => n >= 1,
    );
    const [first] = at('/all');
    const event = await verifyWebhook(first!.body, first!.headers, endpoint.secret);
    expect(event).toMatchObject({
      object: 'event',
      type: 'event.published',
      api_version: WEBHOOK_API_VERSION,
      data: { object: { id: eventId } },
    });
    const messageId = first!.headers['webhook-id'];
    expect(messageId).toMatch(/^msg_/);

    // Its history: sent at the first attempt, the receiver's 204, how long it took.
    const [sent] = await waitFor(
      () => deliveries(endpoint.id),
      (list) => list[0]?.status === 'sent',
    );
    expect(sent).toMatchObject({ id: messageId, type: 'event.published', attempts: 1, response_code: 204 });
    const table = await cli(['webhooks', 'deliveries', endpoint.id]);
    expect(table.stdout).toMatch(
      new RegExp(`^${messageId}\\tevent\\.published\\tsent\\t1\\t204\\t\\d+\\t\\t\\S+$`, 'm'),
    );

    // A new secret: for a while each delivery carries a signature for each, and either verifies.
    const rotated = await cli.json(['webhooks', 'rotate-secret', endpoint.id]);
    await cli.json(['sell', eventId, '--name', 'Ann', '--email', 'ann@example.com', '--no-qr']);
    const paid = await waitFor(
      async () => at('/all').find((r) => r.body.includes('"order.paid"')),
      (r) => r !== undefined,
    );
    expect(String(paid!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [endpoint.secret, rotated.secret])
      expect((await verifyWebhook(paid!.body, paid!.headers, secret)).type).toBe('order.paid');
  });

  it('shows a failing delivery with the answer it got; once cancelled, retries it with the same webhook-id', async () => {
    answers.set('/failing', 500);
    const endpoint = await cli.json([
      'webhooks',
      'create',
      '--url',
      `${base}/failing`,
      '--events',
      'order.paid',
    ]);
    await cli.json(['sell', eventId, '--name', 'Bo', '--email', 'bo@example.com', '--no-qr']);
    // Each attempt is answered 500 and tried again later (soon, here: TICKETS_MESSAGE_RETRY_BASE_MS).
    const [failing] = await waitFor(
      () => deliveries(endpoint.id),
      (list) => (list[0]?.attempts ?? 0) >= 2 && list[0]?.response_code === 500,
    );
    expect(failing).toMatchObject({ type: 'order.paid', response_code: 500 });
    expect(failing!.last_error).toContain('500');
    const table = await cli(['webhooks', 'deliveries', endpoint.id]);
    expect(table.stdout).toMatch(
      new RegExp(`^${failing!.id}\\torder\\.paid\\t\\w+\\t\\d+\\t500\\t\\d+\\t.*500.*\\t\\S+$`, 'm'),
    );

    // Disabled, the endpoint gets nothing: the delivery's next attempt is cancelled.
    await cli.json(['webhooks', 'update', endpoint.id, '--disable']);
    const [cancelled] = await waitFor(
      () => cli.json(['webhooks', 'deliveries', endpoint.id, '--status', 'cancelled']),
      (list: unknown[]) => list.length > 0,
    );
    expect(cancelled).toMatchObject({ id: failing!.id, status: 'cancelled' });

    // Enabled again and answering: the delivery is sent again on request, with the same webhook-id.
    await cli.json(['webhooks', 'update', endpoint.id, '--enable']);
    answers.set('/failing', 204);
    const retried = await cli(['webhooks', 'retry', failing!.id]);
    expect(retried.exitCode, retried.stderr).toBe(0);
    expect(retried.stderr).toContain(`Sending ${failing!.id} again (order.paid to ${endpoint.id}).`);
    const [sent] = await waitFor(
      () => deliveries(endpoint.id),
      (list) => list[0]?.status === 'sent',
    );
    expect(sent).toMatchObject({ id: failing!.id, response_code: 204 });
    const ids = new Set(at('/failing').map((r) => r.headers['webhook-id']));
    expect([...ids]).toEqual([failing!.id]);
    expect(at('/failing').length).toBeGreaterThanOrEqual(3);

    // A sent delivery is not sent again: the server's refusal, in one line.
    const again = await cli(['webhooks', 'retry', failing!.id]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr.split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/^error: .*\(\w+, request id req_\S+\)$/);
  });
});
