import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { changeOf, parseSince } from '../src/commands/audit.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

describe('tickets audit: parsing', () => {
  const now = Date.parse('2026-12-04T12:00:00.000Z');
  it('reads a time ago or a date as an instant', () => {
    expect(parseSince('24h', now)).toBe('2026-12-03T12:00:00.000Z');
    expect(parseSince('30m', now)).toBe('2026-12-04T11:30:00.000Z');
    expect(parseSince('7d', now)).toBe('2026-11-27T12:00:00.000Z');
    expect(parseSince('2w', now)).toBe('2026-11-20T12:00:00.000Z');
    expect(parseSince('2026-12-01T18:00:00Z', now)).toBe('2026-12-01T18:00:00.000Z');
    expect(() => parseSince('yesterday', now)).toThrow(/30m, 24h, 7d/);
  });
  it('shows what changed, field by field', () => {
    const e = {
      id: 'aud_1',
      object: 'audit_entry' as const,
      action: 'member.role_changed',
      actor: { kind: 'user' as const, id: 'usr_1' },
      target: 'usr_2',
      before: { role: 'staff' },
      after: { role: 'admin' },
      data: {},
      request_id: 'req_1',
      ip: '127.0.0.1',
      created_at: '2026-12-04T12:00:00.000Z',
    };
    expect(changeOf(e)).toBe('role: staff → admin');
    expect(changeOf({ ...e, before: null, after: null, data: { amount: 2500, currency: 'EUR' } })).toBe(
      'amount=2500 currency=EUR',
    );
  });
});

describe('sqlite: tickets audit', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Audit Hall', event: 'Audited Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25.00', '--capacity', '50']);
    await cli.json(['events', 'publish', eventId]);
    const order = await cli.json(['sell', eventId, '--name', 'Ann', '--email', 'ann@example.com', '--no-qr']);
    await cli.json(['orders', 'refund', order.id, '--yes']);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('lists refunds by action prefix, newest first, with who, what and from where', async () => {
    const entries = await cli.json(['audit', '--action', 'refund.', '--since', '1h']);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e: { action: string }) => e.action.startsWith('refund.'))).toBe(true);
    expect(entries[0]).toMatchObject({
      action: 'refund.created',
      actor: { kind: 'user', id: expect.stringMatching(/^usr_/) },
      ip: expect.any(String),
      request_id: expect.stringMatching(/^req_/),
    });
    const table = await cli(['audit', '--action', 'refund.created']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain('refund.created');
    expect(table.stdout).toContain('refunded_amount: 0 → 2500');
  });

  it('sends feedback, kept on the server (Sentry is off here)', async () => {
    const sent = await cli.json([
      'feedback',
      'The door app froze',
      '--event',
      eventId,
      '--request',
      'req_abc123',
    ]);
    expect(sent).toMatchObject({
      object: 'feedback',
      message: 'The door app froze',
      sent_to_sentry: false,
      request_id: 'req_abc123',
    });
    const kept = await server.db.kysely
      .selectFrom('feedback')
      .selectAll()
      .where('id', '=', sent.id)
      .executeTakeFirst();
    expect(kept).toMatchObject({
      event_id: eventId,
      request_id: 'req_abc123',
      actor: expect.stringMatching(/^usr_/),
    });
    const human = await cli(['feedback', 'Again']);
    expect(human.exitCode).toBe(0);
    expect(human.stderr + human.stdout).toMatch(/Thank you: feedback fb_\w+ was kept\./);
  });

  it('finds nothing in the future, and refuses a malformed filter before asking the server', async () => {
    expect(await cli.json(['audit', '--since', '2099-01-01'])).toEqual([]);
    const bad = await cli(['audit', '--since', 'soon']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/30m, 24h, 7d/);
    const badActor = await cli(['audit', '--actor', 'ann@example.com']);
    expect(badActor.exitCode).toBe(2);
  });
});
