import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

const SENDGRID_ID = `d-${'0123456789abcdef'.repeat(2)}`;

/** Messages through the built `tickets` binary, against a real server writing to its local outbox. */
describe('sqlite: tickets messages, orders resend', () => {
  let server: TestServer;
  let cli: Cli;
  let orderId: string;
  let messageId: string;

  /** Lists the order's messages until one matches, or fails with what it last saw. */
  async function waitForMessage(match: (m: { id: string; status: string }) => boolean) {
    const deadline = Date.now() + 10_000;
    let seen: { id: string; status: string }[] = [];
    while (Date.now() < deadline) {
      seen = await cli.json(['messages', 'list', '--order', orderId]);
      const found = seen.find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no matching message; saw ${JSON.stringify(seen)}`);
  }

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    const eventId = await signUpWithEvent(cli, server.url, { org: 'Post Room', event: 'Letters Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '10', '--capacity', '20']);
    await cli.json(['events', 'publish', eventId]);
    const order = await cli.json([
      'sell',
      eventId,
      '--type',
      'GA',
      '--name',
      'Bea Buyer',
      '--email',
      'bea@example.com',
    ]);
    orderId = order.id;
    messageId = (await waitForMessage((m) => m.status === 'sent')).id;
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('lists messages with filters, tab-separated when piped', async () => {
    const piped = await cli([
      'messages',
      'list',
      '--order',
      orderId,
      '--status',
      'sent',
      '--channel',
      'email',
    ]);
    expect(piped.exitCode, piped.stderr).toBe(0);
    const rows = piped.stdout.split('\n').filter(Boolean);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.split('\t')).toEqual([
      messageId,
      'email',
      'order_confirmation',
      'bea@example.com',
      'sent',
      '1',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    ]);
    expect(
      await cli.json(['messages', 'list', '--to', 'BEA@example.com', '--template', 'order_confirmation']),
    ).toEqual([expect.objectContaining({ id: messageId })]);
    expect(await cli.json(['messages', 'list', '--order', orderId, '--channel', 'whatsapp'])).toEqual([]);
    expect(await cli.json(['messages', 'list', '--order', orderId, '--status', 'failed'])).toEqual([]);
  });

  it('shows a message and its history', async () => {
    const shown = await cli(['messages', 'show', messageId]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`ID: ${messageId}`);
    expect(shown.stdout).toContain('Recipient: bea@example.com');
    expect(shown.stdout).toContain('Status: sent');
    expect(shown.stdout).toContain('Provider: file');
    expect(shown.stdout).toContain(`Order: ${orderId}`);
    expect(shown.stdout).toMatch(/^queued\t\d{4}-\d\d-\d\dT\S+\t$/m);
    expect(shown.stdout).toMatch(/^sent\t\d{4}-\d\d-\d\dT\S+\tfile /m);
    const json = await cli.json(['messages', 'show', messageId]);
    expect(json.history.map((e: { status: string }) => e.status)).toEqual(['queued', 'sent']);
  });

  it('previews a template: subject and text, or the HTML', async () => {
    const text = await cli(['messages', 'preview', 'order_confirmation']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Subject: \S/);
    expect(text.stdout).not.toContain('<html');
    const html = await cli(['messages', 'preview', 'order_confirmation', '--html']);
    expect(html.exitCode, html.stderr).toBe(0);
    expect(html.stdout).toMatch(/^<!doctype html>/i);
    const whatsapp = await cli.json(['messages', 'preview', 'order_confirmation', '--channel', 'whatsapp']);
    expect(whatsapp).toMatchObject({ channel: 'whatsapp', subject: null, html: null });
  });

  it('maps a template to a SendGrid template and back', async () => {
    const set = await cli(['messages', 'templates', 'set', 'order_confirmation', SENDGRID_ID]);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stderr).toContain(`order_confirmation is sent with SendGrid template ${SENDGRID_ID}.`);
    const listed = await cli(['messages', 'templates']);
    expect(listed.stdout).toMatch(
      new RegExp(`^order_confirmation\\temail,whatsapp\\t${SENDGRID_ID}\\t`, 'm'),
    );
    expect(listed.stdout).toMatch(/^refund_confirmation\t[a-z,]+\t\t/m);

    const none = await cli.json(['messages', 'templates', 'set', 'order_confirmation', 'none']);
    expect(none).toMatchObject({ name: 'order_confirmation', sendgrid_template_id: null });
    const all = await cli.json(['messages', 'templates']);
    expect(
      all.find((t: { name: string }) => t.name === 'order_confirmation').sendgrid_template_id,
    ).toBeNull();
  });

  it('resends an order confirmation, printing the queued message', async () => {
    const resent = await cli(['orders', 'resend', orderId]);
    expect(resent.exitCode, resent.stderr).toBe(0);
    expect(resent.stderr).toContain(`Queued 1 message for ${orderId}.`);
    const [row] = resent.stdout.split('\n');
    const [id, channel, template, recipient] = row!.split('\t');
    expect([channel, template, recipient]).toEqual(['email', 'order_confirmation', 'bea@example.com']);
    expect(id).toMatch(/^msg_/);
    expect(id).not.toBe(messageId);
    await waitForMessage((m) => m.id === id && m.status === 'sent');
  });

  it('exits 1 retrying a message that was sent, with the reason', async () => {
    const r = await cli(['messages', 'retry', messageId]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('message_not_retryable');
    expect(r.stdout).toBe('');
  });

  it('lists no suppressions for a fresh organization', async () => {
    expect(await cli.json(['messages', 'suppressions', '--channel', 'email'])).toEqual([]);
  });

  it('exits 2 on usage mistakes, before asking the server', async () => {
    for (const args of [
      ['messages', 'list', '--channel', 'sms'],
      ['messages', 'list', '--status', 'lost'],
      ['messages', 'list', '--order', 'evt_123'],
      ['messages', 'show', orderId],
      ['messages', 'preview', 'welcome'],
      ['messages', 'preview', 'order_confirmation', '--channel', 'whatsapp', '--html'],
      ['messages', 'templates', 'set', 'order_confirmation', 'd-123'],
      ['messages', 'suppressions', '--channel', 'pigeon'],
      ['orders', 'resend', messageId],
    ]) {
      const r = await cli(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^error: /);
    }
  });
});
