import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  type ApiKeyCreateOptions,
  apiKeyCreateRun,
  apiKeyRevokeRun,
  newApiKeyCreateCommand,
  newApiKeyRevokeCommand,
} from '../src/commands/api-keys.js';
import { configListRun, configSetRun, configUseRun, newConfigSetCommand } from '../src/commands/config.js';
import {
  type CampaignCreateOptions,
  campaignCreateRun,
  campaignSendRun,
  contactListCreateRun,
  contactListDeleteRun,
  newCampaignCreateCommand,
  newCampaignSendCommand,
  newContactListCreateCommand,
} from '../src/commands/marketing.js';
import {
  type MessageListOptions,
  messagePreviewRun,
  newMessageListCommand,
  newMessagePreviewCommand,
  newTemplateListCommand,
  newTemplateSetCommand,
  templateListRun,
} from '../src/commands/messages.js';
import {
  memberInviteRun,
  memberRemoveRun,
  newMemberRemoveCommand,
  newOrgSwitchCommand,
  orgShowRun,
  orgUpdateRun,
} from '../src/commands/orgs.js';
import { CancelledError, CliError, UsageError } from '../src/errors.js';
import type { Prompter } from '../src/factory.js';
import {
  type Cli,
  fakePrompter,
  flagRecorder,
  makeCli,
  PASSWORD,
  signUpWithEvent,
  thrown,
  uniqueEmail,
  withFactory,
} from './run-cli.js';

/** A prompter that records each yes/no question and gives one answer to all. */
function answering(answer: boolean): { prompter: Prompter; asked: string[] } {
  const asked: string[] = [];
  const prompter = fakePrompter({
    async confirm(message) {
      asked.push(message);
      return answer;
    },
  });
  return { prompter, asked };
}

/**
 * `tickets messages`, `lists`, `campaigns`, `orgs`, `api-keys` and `config` as gh tests a command:
 * flags read into options by the command built with a run function that only records them, and each
 * run function called directly with fake streams and a fake prompter, against a real in-process server.
 */
describe('sqlite: messages, marketing, orgs, api keys and profiles, run in-process', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Admin Run Org', event: 'Admin Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '10', '--capacity', '20']);
    await cli.json(['events', 'publish', eventId]);
    await cli.json([
      'sell',
      eventId,
      '--type',
      'GA',
      '--name',
      'Bea Buyer',
      '--email',
      'bea@example.com',
      '--marketing-opt-in',
    ]);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('reads the flags of messages, lists, campaigns, orgs, api-keys and config commands into options', async () => {
    const { record, parse } = flagRecorder();

    const messages = (p: Command) => p.command('messages');
    expect(
      await parse(
        (p) => newMessageListCommand(messages(p), record),
        'messages',
        'list',
        '--order',
        'ord_1',
        '--to',
        'bea@example.com',
        '--status',
        'dead',
        '--channel',
        'email',
        '--all',
      ),
    ).toEqual({
      order: 'ord_1',
      ticket: undefined,
      event: undefined,
      to: 'bea@example.com',
      channel: 'email',
      status: 'dead',
      template: undefined,
      limit: 30,
      all: true,
    } satisfies MessageListOptions);
    expect(
      await parse(
        (p) => newMessagePreviewCommand(messages(p), record),
        'messages',
        'preview',
        'event_reminder',
      ),
    ).toEqual({ template: 'event_reminder', channel: 'email', html: false });
    const sendgrid = `d-${'ab'.repeat(16)}`;
    expect(
      await parse(
        (p) => newTemplateSetCommand(newTemplateListCommand(messages(p), record), record),
        'messages',
        'templates',
        'set',
        'campaign',
        sendgrid,
      ),
    ).toEqual({ template: 'campaign', sendgridTemplateId: sendgrid });

    expect(
      await parse(
        (p) => newContactListCreateCommand(p.command('lists'), record),
        'lists',
        'create',
        'Fans',
        '--all-buyers',
      ),
    ).toEqual({ name: 'Fans', event: undefined, allBuyers: true });
    const campaigns = (p: Command) => p.command('campaigns');
    expect(
      await parse(
        (p) => newCampaignCreateCommand(campaigns(p), record),
        'campaigns',
        'create',
        '--name',
        'Spring',
        '--body-file',
        '-',
        '--list',
        'lst_1',
        '--send-at',
        '2031-05-01 10:00',
      ),
    ).toEqual({
      name: 'Spring',
      subject: undefined,
      body: undefined,
      bodyFile: '-',
      list: 'lst_1',
      sendAt: '2031-05-01 10:00',
      sendgridTemplate: undefined,
    } satisfies CampaignCreateOptions);
    expect(
      await parse((p) => newCampaignSendCommand(campaigns(p), record), 'campaigns', 'send', 'cmp_1', '-y'),
    ).toEqual({ id: 'cmp_1', yes: true });
    await expect(
      parse((p) => newCampaignSendCommand(campaigns(p), record), 'campaigns', 'send', 'lst_1'),
    ).rejects.toThrow(/cmp_/);

    const orgs = (p: Command) => p.command('orgs');
    expect(
      await parse(
        (p) => newMemberRemoveCommand(orgs(p).command('members'), record),
        'orgs',
        'members',
        'remove',
        'usr_1',
      ),
    ).toEqual({ userId: 'usr_1', yes: false });
    expect(await parse((p) => newOrgSwitchCommand(orgs(p), record), 'orgs', 'switch', 'org_1')).toEqual({
      org: 'org_1',
    });

    const keys = (p: Command) => p.command('api-keys');
    expect(
      await parse(
        (p) => newApiKeyCreateCommand(keys(p), record),
        'api-keys',
        'create',
        '--name',
        'Door',
        '--scope',
        'checkin',
      ),
    ).toEqual({ name: 'Door', scopes: ['checkin'] } satisfies ApiKeyCreateOptions);
    expect(await parse((p) => newApiKeyCreateCommand(keys(p), record), 'api-keys', 'create')).toEqual({
      name: undefined,
      scopes: ['full'],
    });
    expect(
      await parse((p) => newApiKeyRevokeCommand(keys(p), record), 'api-keys', 'revoke', 'key_1', '--yes'),
    ).toEqual({ id: 'key_1', yes: true });

    expect(
      await parse(
        (p) => newConfigSetCommand(p.command('config'), record),
        'config',
        'set',
        'door_event',
        'evt_1',
      ),
    ).toEqual({ key: 'door_event', value: 'evt_1' });
  });

  it('orgs members remove: answered no, the member stays; a script needs --yes; --yes --json removes', async () => {
    // An invited member, invited in-process: --json prints the invitation with its token.
    const email = uniqueEmail('rem');
    const invited = await withFactory(cli, { json: true }, (f) =>
      memberInviteRun(f, { email, role: 'staff' }),
    );
    expect(invited.result).toBe(0);
    expect(invited.stderr).toBe('');
    const invitation = JSON.parse(invited.stdout);
    expect(invitation).toMatchObject({ email, role: 'staff', status: 'pending' });
    const rem = makeCli();
    try {
      await rem.json([
        'signup',
        '--invitation',
        invitation.token,
        '--email',
        email,
        '--name',
        'Rem Member',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
    } finally {
      rem.cleanup();
    }
    const memberIds = async () =>
      (await cli.json(['orgs', 'members', 'list'])).map(
        (m: { user: { id: string } }) => m.user.id,
      ) as string[];
    const userId = (await cli.json(['orgs', 'members', 'list'])).find(
      (m: { user: { email: string } }) => m.user.email === email,
    ).user.id as string;

    const no = answering(false);
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no.prompter }, (f) =>
        memberRemoveRun(f, { userId, yes: false }),
      ),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    expect(no.asked).toEqual([`Remove ${userId} from the organization?`]);
    expect(await memberIds()).toContain(userId);

    const script = await thrown(withFactory(cli, {}, (f) => memberRemoveRun(f, { userId, yes: false })));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('refusing to do this without --yes when not running interactively');
    expect(await memberIds()).toContain(userId);
    // …which the command line reports as exit 2, the member still there.
    const piped = await cli(['orgs', 'members', 'remove', userId]);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toContain('without --yes');
    expect(await memberIds()).toContain(userId);

    const removed = await withFactory(cli, { json: true }, (f) => memberRemoveRun(f, { userId, yes: true }));
    expect(removed.result).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ id: userId, object: 'member', deleted: true });
    expect(await memberIds()).not.toContain(userId);
  });

  it('api-keys create asks a person at a terminal for the name; a script is told --name, and nothing is created', async () => {
    const keyNames = async () =>
      (await cli.json(['api-keys', 'list'])).map((k: { name: string }) => k.name) as string[];
    const asked: string[] = [];
    const prompter = fakePrompter({
      async input(message) {
        asked.push(message);
        return 'Asked Door';
      },
    });
    const r = await withFactory(cli, { tty: true, json: true, prompter }, (f) =>
      apiKeyCreateRun(f, { scopes: ['checkin'] }),
    );
    expect(r.result).toBe(0);
    expect(asked).toEqual(['Key name']);
    const key = JSON.parse(r.stdout);
    expect(key).toMatchObject({ name: 'Asked Door', scopes: ['checkin'] });
    expect(key.secret).toMatch(/^tk_/);
    expect(await keyNames()).toContain('Asked Door');

    const before = await keyNames();
    const script = await thrown(withFactory(cli, {}, (f) => apiKeyCreateRun(f, { scopes: ['full'] })));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --name');
    expect(await keyNames()).toEqual(before);
  });

  it('api-keys revoke: answered no, the key still works; answered yes, it is revoked', async () => {
    const key = await cli.json(['api-keys', 'create', '--name', 'Doomed Key']);
    const revokedAt = async () =>
      (await cli.json(['api-keys', 'list'])).find((k: { id: string }) => k.id === key.id).revoked_at;

    const no = answering(false);
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no.prompter }, (f) =>
        apiKeyRevokeRun(f, { id: key.id, yes: false }),
      ),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    expect(no.asked).toEqual([`Revoke API key ${key.id}? Anything using it stops working.`]);
    expect(await revokedAt()).toBeNull();
    const me = await cli.json(['whoami'], {
      env: { TICKETS_API_URL: server.url, TICKETS_API_KEY: key.secret },
    });
    expect(me.api_key).toMatchObject({ name: 'Doomed Key' });

    const refused = await thrown(withFactory(cli, {}, (f) => apiKeyRevokeRun(f, { id: key.id, yes: false })));
    expect(refused).toBeInstanceOf(UsageError);
    expect(await revokedAt()).toBeNull();

    const yes = answering(true);
    const revoked = await withFactory(cli, { tty: true, prompter: yes.prompter }, (f) =>
      apiKeyRevokeRun(f, { id: key.id, yes: false }),
    );
    expect(revoked.result).toBe(0);
    expect(yes.asked).toHaveLength(1);
    expect(revoked.stderr).toContain(`Revoked API key "Doomed Key" (${key.id}).`);
    expect(await revokedAt()).toBeTruthy();
  });

  it('campaigns: created with what a terminal answers; sending asks, names the list, and is refused to a script', async () => {
    const created = await withFactory(cli, { json: true }, (f) =>
      contactListCreateRun(f, { name: 'Run fans', event: eventId, allBuyers: false }),
    );
    const list = JSON.parse(created.stdout);
    expect(list).toMatchObject({ name: 'Run fans', contacts: 1, opted_in_only: true });

    const answers: Record<string, string> = {
      'Campaign name': 'Asked Campaign',
      Subject: 'Hello from the run',
      'Contact list (lst_…)': list.id,
    };
    const asked: string[] = [];
    const prompter = fakePrompter({
      async input(message) {
        asked.push(message);
        const answer = answers[message];
        if (answer === undefined) throw new Error(`unexpected question: ${message}`);
        return answer;
      },
    });
    const made = await withFactory(cli, { tty: true, json: true, prompter }, (f) =>
      campaignCreateRun(f, { body: 'See you soon.' }),
    );
    expect(made.result).toBe(0);
    expect(asked).toEqual(['Campaign name', 'Subject', 'Contact list (lst_…)']);
    const campaign = JSON.parse(made.stdout);
    expect(campaign).toMatchObject({
      name: 'Asked Campaign',
      subject: 'Hello from the run',
      list_id: list.id,
      status: 'draft',
    });

    // Not interactive: the first value missing is named, and nothing is saved.
    const count = async () => (await cli.json(['campaigns', 'list'])).length as number;
    const before = await count();
    const script = await thrown(
      withFactory(cli, {}, (f) => campaignCreateRun(f, { name: 'Scripted', body: 'x', list: list.id })),
    );
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --subject');
    expect(await count()).toBe(before);

    const status = async () => (await cli.json(['campaigns', 'show', campaign.id])).status as string;
    const no = answering(false);
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no.prompter }, (f) =>
        campaignSendRun(f, { id: campaign.id, yes: false }),
      ),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    // On a terminal the question names the campaign and its list, not only the id.
    expect(no.asked).toEqual([
      `Send campaign ${campaign.id} "Hello from the run" to 1 contact of "Run fans" now? This cannot be undone.`,
    ]);
    expect(await status()).toBe('draft');

    const refused = await thrown(
      withFactory(cli, {}, (f) => campaignSendRun(f, { id: campaign.id, yes: false })),
    );
    expect(refused).toBeInstanceOf(UsageError);
    expect(refused.message).toContain('without --yes');
    expect(await status()).toBe('draft');

    const sent = await withFactory(cli, { json: true }, (f) =>
      campaignSendRun(f, { id: campaign.id, yes: true }),
    );
    expect(sent.result).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({
      id: campaign.id,
      status: expect.stringMatching(/^(sending|sent)$/),
    });
    expect(sent.stderr).toBe('');
    expect(await status()).not.toBe('draft');
  });

  it('lists delete: answered no, the list stays; answered yes, it goes', async () => {
    const list = await cli.json(['lists', 'create', 'Short-lived', '--all-buyers']);
    const ids = async () => (await cli.json(['lists', 'list'])).map((l: { id: string }) => l.id) as string[];
    const no = answering(false);
    expect(
      await thrown(
        withFactory(cli, { tty: true, prompter: no.prompter }, (f) =>
          contactListDeleteRun(f, { id: list.id, yes: false }),
        ),
      ),
    ).toBeInstanceOf(CancelledError);
    expect(no.asked).toEqual([`Delete contact list ${list.id} "Short-lived" (1 contact)?`]);
    expect(await ids()).toContain(list.id);

    const yes = answering(true);
    const deleted = await withFactory(cli, { tty: true, prompter: yes.prompter }, (f) =>
      contactListDeleteRun(f, { id: list.id, yes: false }),
    );
    expect(deleted.result).toBe(0);
    expect(deleted.stderr).toContain(`Deleted contact list ${list.id}.`);
    expect(await ids()).not.toContain(list.id);
  });

  it('messages: templates as JSON, and --html with WhatsApp refused before asking the server', async () => {
    const templates = await withFactory(cli, { json: true }, (f) => templateListRun(f, {}));
    expect(templates.result).toBe(0);
    const names = JSON.parse(templates.stdout).map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(['order_confirmation', 'campaign', 'password_reset']));

    const piped = await withFactory(cli, {}, (f) => templateListRun(f, {}));
    expect(piped.stdout).toMatch(/^order_confirmation\temail,whatsapp\t\t/m);

    const wrong = await thrown(
      withFactory(cli, {}, (f) =>
        messagePreviewRun(f, { template: 'order_confirmation', channel: 'whatsapp', html: true }),
      ),
    );
    expect(wrong).toBeInstanceOf(UsageError);
    expect(wrong.message).toBe('--html goes with e-mail: a WhatsApp message is text only');
    const text = await withFactory(cli, {}, (f) =>
      messagePreviewRun(f, { template: 'order_confirmation', channel: 'email', html: false }),
    );
    expect(text.stdout).toMatch(/^Subject: \S/);
  });

  it('orgs show and config: --json views of the organization and the profiles; an unknown profile is an error', async () => {
    const org = await withFactory(cli, { json: true }, (f) => orgShowRun(f, {}));
    expect(JSON.parse(org.stdout)).toMatchObject({ name: 'Admin Run Org' });

    const set = await withFactory(cli, { json: true }, (f) =>
      configSetRun(f, { key: 'door_event', value: eventId }),
    );
    expect(set.result).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ name: 'default', current: true, door_event: eventId });
    expect(cli.config().profiles.default).toMatchObject({ door_event: eventId });
    const bad = await thrown(
      withFactory(cli, {}, (f) => configSetRun(f, { key: 'door_event', value: 'tomorrow' })),
    );
    expect(bad).toBeInstanceOf(UsageError);
    expect(cli.config().profiles.default).toMatchObject({ door_event: eventId });
    await withFactory(cli, {}, (f) => configSetRun(f, { key: 'door_event', value: 'none' }));
    expect(cli.config().profiles.default!.door_event).toBeUndefined();

    const listed = await withFactory(cli, { json: true }, (f) => configListRun(f, {}));
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ name: 'default', current: true, auth: 'session', api_url: server.url }),
    ]);
    const missing = await thrown(withFactory(cli, {}, (f) => configUseRun(f, { profile: 'nowhere' })));
    expect(missing).toBeInstanceOf(CliError);
    expect(missing.message).toContain('no profile named "nowhere"');
    expect(cli.config().current_profile).not.toBe('nowhere');
  });

  it("orgs update sets the contact address buyers' replies go to, and none goes back to the owner's", async () => {
    const nothing = await thrown(withFactory(cli, {}, (f) => orgUpdateRun(f, {})));
    expect(nothing).toBeInstanceOf(UsageError);
    expect(nothing.message).toContain('--name or --contact-email');
    const set = await withFactory(cli, {}, (f) => orgUpdateRun(f, { contactEmail: 'Hello@Admin.example' }));
    expect(set.result).toBe(0);
    expect(set.stderr).toContain('Replies to its e-mails go to hello@admin.example');
    const shown = await withFactory(cli, {}, (f) => orgShowRun(f, {}));
    expect(shown.stdout).toContain('Contact: hello@admin.example');
    const bad = await cli(['orgs', 'update', '--contact-email', 'not-an-address']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('--contact-email');
    const reset = await cli.json(['orgs', 'update', '--contact-email', 'none']);
    expect(reset.contact_email).toBeNull();
    expect((await withFactory(cli, {}, (f) => orgShowRun(f, {}))).stdout).toContain(
      "Contact: (the owner's address)",
    );
  });
});
