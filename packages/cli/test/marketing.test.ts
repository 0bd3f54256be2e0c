import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

/** Contact lists and campaigns through the built `tickets` binary, against a real server writing to its local outbox. */
describe('sqlite: tickets lists, tickets campaigns', () => {
  let server: TestServer;
  let cli: Cli;
  let dir: string;
  let eventId: string;
  let listId: string;
  let campaignId: string;

  /** Shows the campaign until its totals match, or fails with what it last saw. */
  async function waitForTotals(id: string, totals: Record<string, number>) {
    const deadline = Date.now() + 10_000;
    let seen: unknown;
    while (Date.now() < deadline) {
      seen = (await cli.json(['campaigns', 'show', id])).totals;
      if (JSON.stringify(seen) === JSON.stringify(totals)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`totals did not become ${JSON.stringify(totals)}; saw ${JSON.stringify(seen)}`);
  }

  const sell = (name: string, email: string, ...flags: string[]) =>
    cli.json(['sell', eventId, '--type', 'GA', '--name', name, '--email', email, ...flags]);

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    dir = mkdtempSync(join(tmpdir(), 'tickets-campaign-'));
    eventId = await signUpWithEvent(cli, server.url, { org: 'Mailroom', event: 'Newsletter Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '10', '--capacity', '20']);
    await cli.json(['events', 'publish', eventId]);
    await sell('Bea Buyer', 'bea@example.com', '--marketing-opt-in');
    await sell('Otto Other', 'otto@example.com');
  });
  afterAll(async () => {
    cli.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  });

  it('creates a list of the buyers who opted in at the box office, and shows it', async () => {
    const created = await cli(['lists', 'create', 'Newsletter fans', '--event', eventId]);
    expect(created.exitCode, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/Created contact list lst_\w+ with 1 contact\./);
    listId = /^ID: (lst_\w+)$/m.exec(created.stdout)![1]!;

    const shown = await cli(['lists', 'show', listId]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Name: Newsletter fans');
    expect(shown.stdout).toContain(`Event: ${eventId}`);
    expect(shown.stdout).toContain('Who: buyers who opted in to marketing e-mail');
    expect(shown.stdout).toContain('Contacts: 1');
    expect(await cli.json(['lists', 'show', listId])).toMatchObject({
      id: listId,
      opted_in_only: true,
      contacts: 1,
    });

    const listed = await cli(['lists', 'list']);
    expect(listed.stdout.split('\n')).toContain(`${listId}\tNewsletter fans\t${eventId}\tyes\t1\t`);
  });

  it("lists a list's addresses, tab-separated when piped", async () => {
    const contacts = await cli(['lists', 'contacts', listId]);
    expect(contacts.exitCode, contacts.stderr).toBe(0);
    expect(contacts.stdout).toBe('bea@example.com\tBea Buyer\tyes');

    const everyone = await cli.json(['lists', 'create', 'All buyers', '--event', eventId, '--all-buyers']);
    expect(everyone).toMatchObject({ opted_in_only: false, contacts: 2 });
    const all = await cli(['lists', 'contacts', everyone.id]);
    expect(all.stdout.split('\n')).toEqual([
      'bea@example.com\tBea Buyer\tyes',
      'otto@example.com\tOtto Other\tno',
    ]);
    const deleted = await cli(['lists', 'delete', everyone.id, '--yes']);
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(deleted.stderr).toContain(`Deleted contact list ${everyone.id}.`);
  });

  it('exits 1 with a one-line error syncing a list when the server has no SendGrid key', async () => {
    const r = await cli(['lists', 'sync', listId]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: .*provider_not_configured/);
  });

  it('creates a campaign from --body-file as a draft', async () => {
    const file = join(dir, 'spring.txt');
    writeFileSync(file, 'Hello!\n\nWe are back in April.\n');
    const created = await cli.json([
      'campaigns',
      'create',
      '--name',
      'Spring',
      '--subject',
      'New dates for spring',
      '--body-file',
      file,
      '--list',
      listId,
    ]);
    expect(created).toMatchObject({
      name: 'Spring',
      subject: 'New dates for spring',
      body: 'Hello!\n\nWe are back in April.',
      list_id: listId,
      status: 'draft',
      totals: {},
    });
    campaignId = created.id;
    expect(campaignId).toMatch(/^cmp_/);

    const listed = await cli(['campaigns', 'list', '--status', 'draft']);
    expect(listed.stdout).toMatch(new RegExp(`^${campaignId}\\tSpring\\tdraft\\t${listId}\\t0\\t$`, 'm'));
  });

  it('previews a campaign with its merge fields filled, sends a test to oneself, and names a mistyped field', async () => {
    const typo = await cli([
      'campaigns',
      'create',
      '--name',
      'Typo',
      '--subject',
      'Hi {{nmae}}',
      '--body',
      'x',
      '--list',
      listId,
    ]);
    expect(typo.exitCode).toBe(1);
    expect(typo.stderr).toContain('--subject: {{nmae}} is not a merge field; use {{name}}');
    const merged = await cli.json([
      'campaigns',
      'create',
      '--name',
      'Merged',
      '--subject',
      'See you, {{first_name}}',
      '--body',
      'Dear {{name}}, {{event}} is soon.',
      '--list',
      listId,
    ]);
    const preview = await cli(['campaigns', 'preview', merged.id]);
    expect(preview.exitCode, preview.stderr).toBe(0);
    expect(preview.stderr).toMatch(/^As .+ <.+@.+>:$/m);
    expect(preview.stdout).toMatch(/^Subject: See you, \S+\n\nDear .+, Newsletter Night is soon\.\n/);
    expect(preview.stdout).not.toContain('{{');
    const test = await cli(['campaigns', 'test', merged.id, '--email', 'me@example.com']);
    expect(test.exitCode, test.stderr).toBe(0);
    expect(test.stderr).toMatch(/Queued a test of cmp_\w+ to me@example.com \(msg_\w+\)/);
    expect((await cli.json(['campaigns', 'show', merged.id])).totals).toEqual({});
  });

  it('takes the text from stdin with --body-file -', async () => {
    const r = await cli(
      ['campaigns', 'create', '--name', 'Piped', '--subject', 'Piped', '--body-file', '-', '--list', listId],
      { input: 'From a pipe.\n' },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Saved campaign cmp_\w+ as a draft/);
    expect(r.stdout).toMatch(/^Status: draft$/m);
    expect(r.stdout).toMatch(/^From a pipe\.$/m);
  });

  it('refuses to send without --yes when nobody can be asked', async () => {
    const r = await cli(['campaigns', 'send', campaignId]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--yes');
    expect((await cli.json(['campaigns', 'show', campaignId])).status).toBe('draft');
  });

  it('sends a campaign with --yes, and shows its totals once the e-mail is sent', async () => {
    const sent = await cli(['campaigns', 'send', campaignId, '--yes']);
    expect(sent.exitCode, sent.stderr).toBe(0);
    expect(sent.stderr).toContain(`Queued 1 message for ${campaignId}`);
    expect(sent.stdout).toMatch(new RegExp(`^${campaignId}\\tSpring\\t(sending|sent)\\t${listId}\\t1\\t`));

    await waitForTotals(campaignId, { sent: 1 });
    const shown = await cli(['campaigns', 'show', campaignId]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Subject: New dates for spring');
    expect(shown.stdout).toContain('Recipients: 1');
    expect(shown.stdout).toMatch(/^sent\t1$/m);
    expect(shown.stdout).toMatch(/^Sent: \d{4}-\d\d-\d\dT/m);
    expect(shown.stdout).toContain('We are back in April.');
  });

  it("lists a campaign's recipients, one message each", async () => {
    const r = await cli(['campaigns', 'recipients', campaignId, '--status', 'sent']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter(Boolean);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.split('\t').slice(1, 5)).toEqual(['email', 'campaign', 'bea@example.com', 'sent']);
    expect(await cli.json(['campaigns', 'recipients', campaignId, '--status', 'queued'])).toEqual([]);
  });

  it('exits 1 cancelling a campaign that has gone out, and deleting the list it uses', async () => {
    for (const args of [
      ['campaigns', 'cancel', campaignId],
      ['lists', 'delete', listId, '--yes'],
    ]) {
      const r = await cli(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^error: .+ \((campaign_not_cancellable|list_in_use)\b/);
      expect(r.stdout).toBe('');
    }
  });

  it('schedules a campaign with --send-at, and cancels it', async () => {
    const sendAt = new Date(Math.floor(Date.now() / 1000 + 86_400) * 1000).toISOString();
    const scheduled = await cli.json([
      'campaigns',
      'create',
      '--name',
      'Later',
      '--subject',
      'Later',
      '--body',
      'Soon.',
      '--list',
      listId,
      '--send-at',
      sendAt,
    ]);
    expect(scheduled.status).toBe('scheduled');
    expect(Date.parse(scheduled.send_at)).toBe(Date.parse(sendAt));

    const cancelled = await cli(['campaigns', 'cancel', scheduled.id]);
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain(`Cancelled campaign ${scheduled.id}.`);
    expect(cancelled.stdout).toMatch(new RegExp(`^${scheduled.id}\\tLater\\tcancelled\\t`));
  });

  it('exits 2 on usage mistakes, before asking the server', async () => {
    const base = ['campaigns', 'create', '--name', 'X', '--subject', 'Y'];
    const before = (await cli.json(['campaigns', 'list'])).length;
    for (const args of [
      ['lists', 'create'],
      ['lists', 'create', 'Fans', '--event', listId],
      ['lists', 'show', eventId],
      ['lists', 'contacts', campaignId],
      ['lists', 'delete', listId],
      ['campaigns', 'list', '--status', 'lost'],
      [...base, '--list', listId],
      [...base, '--list', listId, '--body', 'x', '--body-file', '-'],
      [...base, '--list', listId, '--body-file', join(dir, 'missing.txt')],
      [...base, '--list', eventId, '--body', 'x'],
      ['campaigns', 'create', '--subject', 'Y', '--body', 'x', '--list', listId],
      [...base, '--list', listId, '--body', 'x', '--send-at', 'tomorrow'],
      [...base, '--list', listId, '--body', 'x', '--sendgrid-template', 'd-123'],
      ['campaigns', 'show', listId],
      ['campaigns', 'send', campaignId],
      ['campaigns', 'recipients', campaignId, '--status', 'lost'],
    ]) {
      const r = await cli(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^error: /);
    }
    expect(await cli.json(['campaigns', 'list'])).toHaveLength(before);
  });
});
