import { readFile } from 'node:fs/promises';
import type {
  Campaign,
  CampaignCreateInput,
  CampaignStatus,
  ContactList,
  MessageStatus,
  Tickets,
} from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, parse } from '../help.js';
import { type Output, printable } from '../output.js';
import { ask, canPrompt, confirmAction, readStdin } from '../prompt.js';
import {
  idArg,
  STATUSES as MESSAGE_STATUSES,
  messageStatusLabel,
  messageTable,
  SENDGRID_TEMPLATE_ID,
} from './messages.js';

type Colour = 'green' | 'yellow' | 'dim';

/** Every campaign status with its colour; a record, so a status added to the contract fails the build until it is here. */
const CAMPAIGN_COLOUR: Record<CampaignStatus, Colour> = {
  draft: 'dim',
  scheduled: 'yellow',
  sending: 'yellow',
  sent: 'green',
  cancelled: 'dim',
};
const CAMPAIGN_STATUSES = Object.keys(CAMPAIGN_COLOUR) as CampaignStatus[];

const listArg = idArg('lst', 'a contact list');
const campaignArg = idArg('cmp', 'a campaign');

const sendgridTemplateArg = (value: string): string => {
  if (!SENDGRID_TEMPLATE_ID.test(value))
    throw new InvalidArgumentError('Expected a SendGrid dynamic template id (d- and 32 hex digits).');
  return value;
};

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

const recipientCount = (c: Campaign) => Object.values(c.totals).reduce((sum, n) => sum + n, 0);

function campaignStatusLabel(out: Output, status: CampaignStatus): string {
  return out.style[CAMPAIGN_COLOUR[status]](status);
}

/** Timestamps as local wall-clock time on a terminal, ISO-8601 when piped. */
async function timeFormatter(out: Output): Promise<(iso: string | null) => string | null> {
  const { formatDateTime, localZone } = await import('../time.js');
  const zone = localZone();
  return (iso) => (iso && out.tty ? formatDateTime(iso, zone) : iso);
}

async function listTable(out: Output, lists: ContactList[]): Promise<void> {
  const at = await timeFormatter(out);
  await out.table(
    ['ID', 'NAME', 'EVENT', 'OPTED IN ONLY', 'CONTACTS', 'SYNCED'],
    lists.map((l) => [
      l.id,
      l.name,
      l.event_id ?? (out.tty ? out.style.dim('every event') : ''),
      l.opted_in_only,
      l.contacts,
      at(l.synced_at),
    ]),
  );
}

async function showList(out: Output, l: ContactList): Promise<void> {
  const at = await timeFormatter(out);
  out.details([
    ['ID', l.id],
    ['Name', l.name],
    ['Event', l.event_id ?? 'every event'],
    ['Who', l.opted_in_only ? 'buyers who opted in to marketing e-mail' : 'every buyer'],
    ['Contacts', l.contacts],
    ['SendGrid list', l.sendgrid_list_id],
    ['Synced', at(l.synced_at)],
    ['Created', at(l.created_at)],
  ]);
}

async function campaignTable(out: Output, campaigns: Campaign[]): Promise<void> {
  const at = await timeFormatter(out);
  await out.table(
    ['ID', 'NAME', 'STATUS', 'LIST', 'RECIPIENTS', 'SEND AT/SENT'],
    campaigns.map((c) => [
      c.id,
      c.name,
      campaignStatusLabel(out, c.status),
      c.list_id,
      recipientCount(c),
      at(c.sent_at ?? c.send_at),
    ]),
  );
}

/** The key/value view of a campaign, its recipients by message status, then its body. */
async function showCampaign(out: Output, c: Campaign): Promise<void> {
  const at = await timeFormatter(out);
  out.details([
    ['ID', c.id],
    ['Name', c.name],
    ['Status', campaignStatusLabel(out, c.status)],
    ['Subject', c.subject],
    ['List', c.list_id],
    ['SendGrid template', c.sendgrid_template_id],
    ['Send at', c.sent_at ? undefined : at(c.send_at)],
    ['Sent', at(c.sent_at)],
    ['Recipients', recipientCount(c)],
    ['Created', at(c.created_at)],
    ['Updated', at(c.updated_at)],
  ]);
  const totals = Object.entries(c.totals).sort(
    ([a], [b]) => statusOrder(a) - statusOrder(b) || a.localeCompare(b),
  );
  if (totals.length) {
    out.line();
    await out.table(
      ['STATUS', 'RECIPIENTS'],
      totals.map(([status, n]) => [isMessageStatus(status) ? messageStatusLabel(out, status) : status, n]),
    );
  }
  out.line();
  out.line(c.body);
}

const isMessageStatus = (s: string): s is MessageStatus => (MESSAGE_STATUSES as string[]).includes(s);
// The contract's order: queued → sent → delivered → opened … → cancelled; anything else after.
const statusOrder = (s: string) =>
  isMessageStatus(s) ? MESSAGE_STATUSES.indexOf(s) : MESSAGE_STATUSES.length;

/** Names the list in a confirmation question, when someone is there to read it. */
async function describeList(ctx: Context, client: Tickets, id: string): Promise<string> {
  const l = await ctx.out.spin('Loading…', client.lists.get(id));
  return `contact list ${l.id} "${l.name}" (${plural(l.contacts, 'contact')})`;
}

async function describeCampaign(ctx: Context, client: Tickets, id: string): Promise<string> {
  const c = await ctx.out.spin('Loading…', client.campaigns.get(id));
  const l = await ctx.out.spin('Loading…', client.lists.get(c.list_id));
  return `campaign ${c.id} "${c.subject}" to ${plural(l.contacts, 'contact')} of "${l.name}"`;
}

/** `--body` or `--body-file` (`-` for stdin): exactly one. */
async function readBody(f: { body?: string; bodyFile?: string }): Promise<string> {
  if (f.body !== undefined) return f.body;
  if (f.bodyFile === undefined)
    throw new UsageError('missing the text: give --body <text> or --body-file <path>');
  if (f.bodyFile === '-') return readStdin();
  try {
    return await readFile(f.bodyFile, 'utf8');
  } catch (err) {
    throw new UsageError(`--body-file: cannot read ${f.bodyFile} (${(err as NodeJS.ErrnoException).code})`);
  }
}

interface CampaignFlags {
  name?: string;
  subject?: string;
  body?: string;
  bodyFile?: string;
  list?: string;
  sendAt?: string;
  sendgridTemplate?: string;
}

export function registerMarketing(program: Command): void {
  registerLists(program);
  registerCampaigns(program);
}

function registerLists(program: Command): void {
  const lists = program
    .command('lists')
    .description("Contact lists for marketing e-mail: an event's buyers, or every event's");
  examples(
    lists,
    'tickets lists create "Jazz fans" --event evt_…',
    'tickets lists contacts lst_…',
    'tickets campaigns create --list lst_… --name Spring --subject "New dates" --body-file spring.txt',
  );

  examples(
    lists
      .command('list')
      .description('List the contact lists')
      .option('--limit <n>', 'at most this many', parse.int(1), 1000)
      .action(async (o: { limit: number }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const all = await ctx.out.spin(
          'Loading…',
          client.lists.list({ limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
        );
        await ctx.out.result(all, (l) => listTable(ctx.out, l));
      }),
    'tickets lists list',
    'tickets lists list --json',
  );

  examples(
    lists
      .command('create')
      .description(
        'Create a contact list of buyers who opted in to marketing e-mail (or of all, --all-buyers)',
      )
      .argument('<name>', 'what to call it')
      .option(
        '--event <event>',
        "only this event's buyers (default: every event's)",
        idArg('evt', 'an event'),
      )
      .option('--all-buyers', 'every buyer, not only those who opted in to marketing e-mail')
      .action(async (name: string, o: { event?: string; allBuyers?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        if (!name.trim()) throw new UsageError('the list needs a name');
        const client = await ctx.client();
        const list = await ctx.out.spin(
          'Creating…',
          client.lists.create({ name, event: o.event, opted_in_only: !o.allBuyers }),
        );
        await ctx.out.result(list, async (l) => {
          ctx.out.success(`Created contact list ${l.id} with ${plural(l.contacts, 'contact')}.`);
          await showList(ctx.out, l);
        });
      }),
    'tickets lists create "Jazz fans" --event evt_…',
    'tickets lists create "Everyone, ever" --all-buyers',
  );

  examples(
    lists
      .command('show')
      .description('Show a contact list and how many addresses it has now')
      .argument('<list>', 'the list (lst_…)', listArg)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const list = await ctx.out.spin('Loading…', client.lists.get(id));
        await ctx.out.result(list, (l) => showList(ctx.out, l));
      }),
    'tickets lists show lst_…',
    'tickets lists show lst_… --json | jq .contacts',
  );

  examples(
    lists
      .command('contacts')
      .description("List a contact list's addresses now (suppressed ones left out)")
      .argument('<list>', 'the list (lst_…)', listArg)
      .option('--limit <n>', 'at most this many', parse.int(1), 10_000)
      .action(async (id: string, o: { limit: number }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const contacts = await ctx.out.spin(
          'Loading contacts…',
          client.lists.contacts(id, { limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
        );
        await ctx.out.result(contacts, (l) =>
          ctx.out.table(
            ['E-MAIL', 'NAME', 'OPTED IN'],
            l.map((c) => [c.email, c.name, c.opted_in]),
          ),
        );
      }),
    'tickets lists contacts lst_…',
    'tickets lists contacts lst_… | cut -f1 > addresses.txt',
  );

  examples(
    lists
      .command('sync')
      .description(
        'Copy a contact list to SendGrid Marketing contacts (needs SENDGRID_API_KEY on the server)',
      )
      .argument('<list>', 'the list (lst_…)', listArg)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const sync = await ctx.out.spin('Syncing…', client.lists.sync(id));
        await ctx.out.result(sync, (s) =>
          ctx.out.success(
            `Sent ${plural(s.contacts, 'contact')} of ${s.list_id} to SendGrid list ${s.sendgrid_list_id} (import job ${s.job_id}).`,
          ),
        );
      }),
    'tickets lists sync lst_…',
  );

  examples(
    lists
      .command('delete')
      .description('Delete a contact list no campaign uses')
      .argument('<list>', 'the list (lst_…)', listArg)
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const label = !o.yes && canPrompt() ? await describeList(ctx, client, id) : id;
        await confirmAction(o.yes, `Delete ${label}?`);
        const deleted = await ctx.out.spin('Deleting…', client.lists.delete(id));
        await ctx.out.result(deleted, () => ctx.out.success(`Deleted contact list ${id}.`));
      }),
    'tickets lists delete lst_…',
    'tickets lists delete lst_… --yes',
  );
}

function registerCampaigns(program: Command): void {
  const campaigns = program
    .command('campaigns')
    .description('Marketing e-mail to a contact list: write, schedule, send, and follow its delivery');
  examples(
    campaigns,
    'tickets campaigns create --list lst_… --name Spring --subject "New dates" --body-file spring.txt',
    'tickets campaigns send cmp_…',
    'tickets campaigns show cmp_…',
  );

  examples(
    campaigns
      .command('list')
      .description('List campaigns, newest first')
      .addOption(new Option('--status <status>', 'only campaigns in this status').choices(CAMPAIGN_STATUSES))
      .option('--limit <n>', 'at most this many', parse.int(1), 1000)
      .action(async (o: { status?: CampaignStatus; limit: number }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const all = await ctx.out.spin(
          'Loading…',
          client.campaigns
            .list({ status: o.status, limit: Math.min(o.limit, 100) })
            .toArray({ limit: o.limit }),
        );
        await ctx.out.result(all, (l) => campaignTable(ctx.out, l));
      }),
    'tickets campaigns list',
    'tickets campaigns list --status scheduled --json',
  );

  examples(
    campaigns
      .command('create')
      .description('Write a campaign: a draft to send later, or scheduled with --send-at')
      .option('--name <name>', 'what to call it (for you, not the readers)')
      .option('--subject <subject>', "the e-mail's subject")
      .addOption(
        new Option('--body <text>', 'the text; paragraphs separated by blank lines').conflicts('bodyFile'),
      )
      .option('--body-file <path>', 'read the text from a file ("-": from stdin)')
      .option('--list <list>', 'the contact list to send it to (lst_…)', listArg)
      .option(
        '--send-at <date>',
        'schedule it, e.g. "2026-12-01 10:00" (your time zone) or ISO-8601 (default: a draft)',
        parse.date,
      )
      .option(
        '--sendgrid-template <id>',
        'send it with this SendGrid dynamic template (d-…) instead of the built-in one',
        sendgridTemplateArg,
      )
      .action(async (f: CampaignFlags, cmd: Command) => {
        const ctx = Context.of(cmd);
        const body = await readBody(f);
        if (!body.trim()) throw new UsageError('the text of the campaign is empty');
        const { parseDateTime, localZone } = await import('../time.js');
        const sendAt = f.sendAt === undefined ? undefined : parseDateTime(f.sendAt, localZone(), '--send-at');
        const name = await ask(f.name, { flag: '--name', message: 'Campaign name' });
        const subject = await ask(f.subject, { flag: '--subject', message: 'Subject' });
        const list = listArg(await ask(f.list, { flag: '--list', message: 'Contact list (lst_…)' }));
        const client = await ctx.client();
        const input: CampaignCreateInput = {
          name,
          subject,
          body,
          list,
          ...(sendAt ? { send_at: sendAt } : {}),
          ...(f.sendgridTemplate ? { sendgrid_template_id: f.sendgridTemplate } : {}),
        };
        const campaign = await ctx.out.spin('Saving…', client.campaigns.create(input));
        await ctx.out.result(campaign, async (c) => {
          ctx.out.success(
            c.status === 'scheduled'
              ? `Scheduled campaign ${c.id}; it goes out by itself at the time given.`
              : `Saved campaign ${c.id} as a draft; send it with: tickets campaigns send ${c.id}`,
          );
          await showCampaign(ctx.out, c);
        });
      }),
    'tickets campaigns create --list lst_… --name Spring --subject "New dates" --body-file spring.txt',
    'tickets campaigns create --list lst_… --name Reminder --subject "Tonight!" --body "Doors at 8." \\\n      --send-at "2026-12-31 12:00"',
    'generate-newsletter | tickets campaigns create --list lst_… --name News --subject News --body-file -',
  );

  examples(
    campaigns
      .command('show')
      .description('Show a campaign, its recipients by message status, and its text')
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const campaign = await ctx.out.spin('Loading…', client.campaigns.get(id));
        await ctx.out.result(campaign, (c) => showCampaign(ctx.out, c));
      }),
    'tickets campaigns show cmp_…',
    'tickets campaigns show cmp_… --json | jq .totals',
  );

  examples(
    campaigns
      .command('preview')
      .description(
        'Show a campaign as one contact of its list gets it: merge fields ({{name}}, {{event}}, …) filled in',
      )
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .option('--email <email>', 'as this contact of the list (default: its first)')
      .option('--html', 'print the HTML instead of the text')
      .action(async (id: string, o: { email?: string; html?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const preview = await ctx.out.spin('Rendering…', client.campaigns.preview(id, { email: o.email }));
        await ctx.out.result(preview, (p) => {
          ctx.out.info(
            p.as
              ? `As ${p.as.name ? `${p.as.name} <${p.as.email}>` : p.as.email}:`
              : 'The list is empty: merge fields are blank.',
          );
          ctx.out.line(`Subject: ${printable(p.subject)}`);
          ctx.out.line();
          ctx.out.line(printable(o.html ? p.html : p.text));
        });
      }),
    'tickets campaigns preview cmp_…',
    'tickets campaigns preview cmp_… --email bea@example.com --html > preview.html',
  );

  examples(
    campaigns
      .command('test')
      .description('Send a campaign once to yourself, marked [Test] (not counted in its totals)')
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .option('--email <email>', 'where it goes (default: your own address; needed with an API key)')
      .action(async (id: string, o: { email?: string }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const message = await ctx.out.spin('Queueing…', client.campaigns.test(id, { email: o.email }));
        await ctx.out.result(message, (m) =>
          ctx.out.success(
            `Queued a test of ${id} to ${m.recipient} (${m.id}); follow it with: tickets messages show ${m.id}`,
          ),
        );
      }),
    'tickets campaigns test cmp_…',
    'tickets campaigns test cmp_… --email me@example.com',
  );

  examples(
    campaigns
      .command('send')
      .description('Send a draft or scheduled campaign now: one e-mail to each address on its list')
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const label = !o.yes && canPrompt() ? await describeCampaign(ctx, client, id) : `campaign ${id}`;
        await confirmAction(o.yes, `Send ${label} now? This cannot be undone.`);
        const campaign = await ctx.out.spin('Sending…', client.campaigns.send(id));
        await ctx.out.result(campaign, async (c) => {
          ctx.out.success(
            `Queued ${plural(recipientCount(c), 'message')} for ${c.id}; follow them with: tickets campaigns show ${c.id}`,
          );
          await campaignTable(ctx.out, [c]);
        });
      }),
    'tickets campaigns send cmp_…',
    'tickets campaigns send cmp_… --yes --json',
  );

  examples(
    campaigns
      .command('cancel')
      .description('Cancel a draft or scheduled campaign, or the messages of a sending one not sent yet')
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const campaign = await ctx.out.spin('Cancelling…', client.campaigns.cancel(id));
        await ctx.out.result(campaign, async (c) => {
          ctx.out.success(`Cancelled campaign ${c.id}.`);
          await campaignTable(ctx.out, [c]);
        });
      }),
    'tickets campaigns cancel cmp_…',
  );

  examples(
    campaigns
      .command('recipients')
      .description("List a campaign's messages, one per recipient, with their status")
      .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
      .addOption(new Option('--status <status>', 'only messages in this status').choices(MESSAGE_STATUSES))
      .option('--limit <n>', 'at most this many', parse.int(1), 10_000)
      .action(async (id: string, o: { status?: MessageStatus; limit: number }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const messages = await ctx.out.spin(
          'Loading recipients…',
          client.campaigns
            .recipients(id, { status: o.status, limit: Math.min(o.limit, 100) })
            .toArray({ limit: o.limit }),
        );
        await ctx.out.result(messages, (l) => messageTable(ctx.out, l));
      }),
    'tickets campaigns recipients cmp_…',
    'tickets campaigns recipients cmp_… --status bounced --json',
  );
}
