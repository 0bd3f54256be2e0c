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
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';
import { type Output, printable } from '../output.js';
import { readStdin } from '../prompt.js';
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
async function describeList(f: Factory, client: Tickets, id: string): Promise<string> {
  const l = await f.out.spin('Loading…', client.lists.get(id));
  return `contact list ${l.id} "${l.name}" (${plural(l.contacts, 'contact')})`;
}

async function describeCampaign(f: Factory, client: Tickets, id: string): Promise<string> {
  const c = await f.out.spin('Loading…', client.campaigns.get(id));
  const l = await f.out.spin('Loading…', client.lists.get(c.list_id));
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

type Run<O> = (f: Factory, o: O) => Promise<number>;

export interface ContactListListOptions {
  limit: number;
}

export interface ContactListCreateOptions {
  name: string;
  /** --event: only this event's buyers (default: every event's). */
  event?: string;
  /** --all-buyers: every buyer, not only those who opted in. */
  allBuyers: boolean;
}

export interface ContactListShowOptions {
  id: string;
}

export interface ContactListContactsOptions {
  id: string;
  limit: number;
}

export interface ContactListSyncOptions {
  id: string;
}

export interface ContactListDeleteOptions {
  id: string;
  yes: boolean;
}

export interface CampaignListOptions {
  status?: CampaignStatus;
  limit: number;
}

/** What `tickets campaigns create` was asked to do, once its flags are read. */
export interface CampaignCreateOptions {
  name?: string;
  subject?: string;
  body?: string;
  /** A path, or `-` for stdin. */
  bodyFile?: string;
  list?: string;
  /** As typed: local time, or ISO-8601. */
  sendAt?: string;
  sendgridTemplate?: string;
}

export interface CampaignShowOptions {
  id: string;
}

export interface CampaignPreviewOptions {
  id: string;
  email?: string;
  html: boolean;
}

export interface CampaignTestOptions {
  id: string;
  email?: string;
}

export interface CampaignSendOptions {
  id: string;
  yes: boolean;
}

export interface CampaignCancelOptions {
  id: string;
}

export interface CampaignRecipientsOptions {
  id: string;
  status?: MessageStatus;
  limit: number;
}

/** `tickets lists` and `tickets campaigns`: the groups and each of their commands. */
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
  newContactListListCommand(lists);
  newContactListCreateCommand(lists);
  newContactListShowCommand(lists);
  newContactListContactsCommand(lists);
  newContactListSyncCommand(lists);
  newContactListDeleteCommand(lists);
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
  newCampaignListCommand(campaigns);
  newCampaignCreateCommand(campaigns);
  newCampaignShowCommand(campaigns);
  newCampaignPreviewCommand(campaigns);
  newCampaignTestCommand(campaigns);
  newCampaignSendCommand(campaigns);
  newCampaignCancelCommand(campaigns);
  newCampaignRecipientsCommand(campaigns);
}

/** `tickets lists list`. */
export function newContactListListCommand(
  lists: Command,
  run: Run<ContactListListOptions> = contactListListRun,
): Command {
  const command = lists
    .command('list')
    .description('List the contact lists')
    .option('--limit <n>', 'at most this many', parse.int(1), 1000)
    .action(async (flags: { limit: number }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { limit: flags.limit });
    });
  return examples(command, 'tickets lists list', 'tickets lists list --json');
}

export async function contactListListRun(f: Factory, o: ContactListListOptions): Promise<number> {
  const client = await f.client();
  const all = await f.out.spin(
    'Loading…',
    client.lists.list({ limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
  );
  await f.out.result(all, (l) => listTable(f.out, l));
  return EXIT.ok;
}

/** `tickets lists create <name>`. */
export function newContactListCreateCommand(
  lists: Command,
  run: Run<ContactListCreateOptions> = contactListCreateRun,
): Command {
  const command = lists
    .command('create')
    .description('Create a contact list of buyers who opted in to marketing e-mail (or of all, --all-buyers)')
    .argument('<name>', 'what to call it')
    .option('--event <event>', "only this event's buyers (default: every event's)", idArg('evt', 'an event'))
    .option('--all-buyers', 'every buyer, not only those who opted in to marketing e-mail')
    .action(async (name: string, flags: { event?: string; allBuyers?: boolean }, cmd: Command) => {
      const options: ContactListCreateOptions = {
        name,
        event: flags.event,
        allBuyers: Boolean(flags.allBuyers),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets lists create "Jazz fans" --event evt_…',
    'tickets lists create "Everyone, ever" --all-buyers',
  );
}

export async function contactListCreateRun(f: Factory, o: ContactListCreateOptions): Promise<number> {
  if (!o.name.trim()) throw new UsageError('the list needs a name');
  const client = await f.client();
  const list = await f.out.spin(
    'Creating…',
    client.lists.create({ name: o.name, event: o.event, opted_in_only: !o.allBuyers }),
  );
  await f.out.result(list, async (l) => {
    f.out.success(`Created contact list ${l.id} with ${plural(l.contacts, 'contact')}.`);
    await showList(f.out, l);
  });
  return EXIT.ok;
}

/** `tickets lists show <list>`. */
export function newContactListShowCommand(
  lists: Command,
  run: Run<ContactListShowOptions> = contactListShowRun,
): Command {
  const command = lists
    .command('show')
    .description('Show a contact list and how many addresses it has now')
    .argument('<list>', 'the list (lst_…)', listArg)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets lists show lst_…', 'tickets lists show lst_… --json | jq .contacts');
}

export async function contactListShowRun(f: Factory, o: ContactListShowOptions): Promise<number> {
  const client = await f.client();
  const list = await f.out.spin('Loading…', client.lists.get(o.id));
  await f.out.result(list, (l) => showList(f.out, l));
  return EXIT.ok;
}

/** `tickets lists contacts <list>`. */
export function newContactListContactsCommand(
  lists: Command,
  run: Run<ContactListContactsOptions> = contactListContactsRun,
): Command {
  const command = lists
    .command('contacts')
    .description("List a contact list's addresses now (suppressed ones left out)")
    .argument('<list>', 'the list (lst_…)', listArg)
    .option('--limit <n>', 'at most this many', parse.int(1), 10_000)
    .action(async (id: string, flags: { limit: number }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, limit: flags.limit });
    });
  return examples(
    command,
    'tickets lists contacts lst_…',
    'tickets lists contacts lst_… | cut -f1 > addresses.txt',
  );
}

export async function contactListContactsRun(f: Factory, o: ContactListContactsOptions): Promise<number> {
  const client = await f.client();
  const contacts = await f.out.spin(
    'Loading contacts…',
    client.lists.contacts(o.id, { limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
  );
  await f.out.result(contacts, (l) =>
    f.out.table(
      ['E-MAIL', 'NAME', 'OPTED IN'],
      l.map((c) => [c.email, c.name, c.opted_in]),
    ),
  );
  return EXIT.ok;
}

/** `tickets lists sync <list>`. */
export function newContactListSyncCommand(
  lists: Command,
  run: Run<ContactListSyncOptions> = contactListSyncRun,
): Command {
  const command = lists
    .command('sync')
    .description('Copy a contact list to SendGrid Marketing contacts (needs SENDGRID_API_KEY on the server)')
    .argument('<list>', 'the list (lst_…)', listArg)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets lists sync lst_…');
}

export async function contactListSyncRun(f: Factory, o: ContactListSyncOptions): Promise<number> {
  const client = await f.client();
  const sync = await f.out.spin('Syncing…', client.lists.sync(o.id));
  await f.out.result(sync, (s) =>
    f.out.success(
      `Sent ${plural(s.contacts, 'contact')} of ${s.list_id} to SendGrid list ${s.sendgrid_list_id} (import job ${s.job_id}).`,
    ),
  );
  return EXIT.ok;
}

/** `tickets lists delete <list>`. */
export function newContactListDeleteCommand(
  lists: Command,
  run: Run<ContactListDeleteOptions> = contactListDeleteRun,
): Command {
  const command = lists
    .command('delete')
    .description('Delete a contact list no campaign uses')
    .argument('<list>', 'the list (lst_…)', listArg)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets lists delete lst_…', 'tickets lists delete lst_… --yes');
}

/** Deletes a contact list, once confirmed (or with --yes). */
export async function contactListDeleteRun(f: Factory, o: ContactListDeleteOptions): Promise<number> {
  const client = await f.client();
  const label = !o.yes && f.prompter.interactive ? await describeList(f, client, o.id) : o.id;
  await confirmFor(f, o.yes, `Delete ${label}?`);
  const deleted = await f.out.spin('Deleting…', client.lists.delete(o.id));
  await f.out.result(deleted, () => f.out.success(`Deleted contact list ${o.id}.`));
  return EXIT.ok;
}

/** `tickets campaigns list`. */
export function newCampaignListCommand(
  campaigns: Command,
  run: Run<CampaignListOptions> = campaignListRun,
): Command {
  const command = campaigns
    .command('list')
    .description('List campaigns, newest first')
    .addOption(new Option('--status <status>', 'only campaigns in this status').choices(CAMPAIGN_STATUSES))
    .option('--limit <n>', 'at most this many', parse.int(1), 1000)
    .action(async (flags: { status?: CampaignStatus; limit: number }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { status: flags.status, limit: flags.limit });
    });
  return examples(command, 'tickets campaigns list', 'tickets campaigns list --status scheduled --json');
}

export async function campaignListRun(f: Factory, o: CampaignListOptions): Promise<number> {
  const client = await f.client();
  const all = await f.out.spin(
    'Loading…',
    client.campaigns.list({ status: o.status, limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
  );
  await f.out.result(all, (l) => campaignTable(f.out, l));
  return EXIT.ok;
}

/** `tickets campaigns create`: its flags become CampaignCreateOptions for `run` (campaignCreateRun). */
export function newCampaignCreateCommand(
  campaigns: Command,
  run: Run<CampaignCreateOptions> = campaignCreateRun,
): Command {
  const command = campaigns
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
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: CampaignCreateOptions = {
        name: flags.name as string | undefined,
        subject: flags.subject as string | undefined,
        body: flags.body as string | undefined,
        bodyFile: flags.bodyFile as string | undefined,
        list: flags.list as string | undefined,
        sendAt: flags.sendAt as string | undefined,
        sendgridTemplate: flags.sendgridTemplate as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets campaigns create --list lst_… --name Spring --subject "New dates" --body-file spring.txt',
    'tickets campaigns create --list lst_… --name Reminder --subject "Tonight!" --body "Doors at 8." \\\n      --send-at "2026-12-31 12:00"',
    'generate-newsletter | tickets campaigns create --list lst_… --name News --subject News --body-file -',
  );
}

/** Saves a campaign as a draft, or scheduled; the name, subject and list are asked on a terminal. */
export async function campaignCreateRun(f: Factory, o: CampaignCreateOptions): Promise<number> {
  const { out } = f;
  const body = await readBody(o);
  if (!body.trim()) throw new UsageError('the text of the campaign is empty');
  const { parseDateTime, localZone } = await import('../time.js');
  const sendAt = o.sendAt === undefined ? undefined : parseDateTime(o.sendAt, localZone(), '--send-at');
  const name = await askFor(f, o.name, { flag: '--name', message: 'Campaign name' });
  const subject = await askFor(f, o.subject, { flag: '--subject', message: 'Subject' });
  const list = listArg(await askFor(f, o.list, { flag: '--list', message: 'Contact list (lst_…)' }));
  const client = await f.client();
  const input: CampaignCreateInput = {
    name,
    subject,
    body,
    list,
    ...(sendAt ? { send_at: sendAt } : {}),
    ...(o.sendgridTemplate ? { sendgrid_template_id: o.sendgridTemplate } : {}),
  };
  const campaign = await out.spin('Saving…', client.campaigns.create(input));
  await out.result(campaign, async (c) => {
    out.success(
      c.status === 'scheduled'
        ? `Scheduled campaign ${c.id}; it goes out by itself at the time given.`
        : `Saved campaign ${c.id} as a draft; send it with: tickets campaigns send ${c.id}`,
    );
    await showCampaign(out, c);
  });
  return EXIT.ok;
}

/** `tickets campaigns show <campaign>`. */
export function newCampaignShowCommand(
  campaigns: Command,
  run: Run<CampaignShowOptions> = campaignShowRun,
): Command {
  const command = campaigns
    .command('show')
    .description('Show a campaign, its recipients by message status, and its text')
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(
    command,
    'tickets campaigns show cmp_…',
    'tickets campaigns show cmp_… --json | jq .totals',
  );
}

export async function campaignShowRun(f: Factory, o: CampaignShowOptions): Promise<number> {
  const client = await f.client();
  const campaign = await f.out.spin('Loading…', client.campaigns.get(o.id));
  await f.out.result(campaign, (c) => showCampaign(f.out, c));
  return EXIT.ok;
}

/** `tickets campaigns preview <campaign>`. */
export function newCampaignPreviewCommand(
  campaigns: Command,
  run: Run<CampaignPreviewOptions> = campaignPreviewRun,
): Command {
  const command = campaigns
    .command('preview')
    .description(
      'Show a campaign as one contact of its list gets it: merge fields ({{name}}, {{event}}, …) filled in',
    )
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .option('--email <email>', 'as this contact of the list (default: its first)')
    .option('--html', 'print the HTML instead of the text')
    .action(async (id: string, flags: { email?: string; html?: boolean }, cmd: Command) => {
      const options: CampaignPreviewOptions = { id, email: flags.email, html: Boolean(flags.html) };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets campaigns preview cmp_…',
    'tickets campaigns preview cmp_… --email bea@example.com --html > preview.html',
  );
}

export async function campaignPreviewRun(f: Factory, o: CampaignPreviewOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const preview = await out.spin('Rendering…', client.campaigns.preview(o.id, { email: o.email }));
  await out.result(preview, (p) => {
    out.info(
      p.as
        ? `As ${p.as.name ? `${p.as.name} <${p.as.email}>` : p.as.email}:`
        : 'The list is empty: merge fields are blank.',
    );
    out.line(`Subject: ${printable(p.subject)}`);
    out.line();
    out.line(printable(o.html ? p.html : p.text));
  });
  return EXIT.ok;
}

/** `tickets campaigns test <campaign>`. */
export function newCampaignTestCommand(
  campaigns: Command,
  run: Run<CampaignTestOptions> = campaignTestRun,
): Command {
  const command = campaigns
    .command('test')
    .description('Send a campaign once to yourself, marked [Test] (not counted in its totals)')
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .option('--email <email>', 'where it goes (default: your own address; needed with an API key)')
    .action(async (id: string, flags: { email?: string }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, email: flags.email });
    });
  return examples(
    command,
    'tickets campaigns test cmp_…',
    'tickets campaigns test cmp_… --email me@example.com',
  );
}

export async function campaignTestRun(f: Factory, o: CampaignTestOptions): Promise<number> {
  const client = await f.client();
  const message = await f.out.spin('Queueing…', client.campaigns.test(o.id, { email: o.email }));
  await f.out.result(message, (m) =>
    f.out.success(
      `Queued a test of ${o.id} to ${m.recipient} (${m.id}); follow it with: tickets messages show ${m.id}`,
    ),
  );
  return EXIT.ok;
}

/** `tickets campaigns send <campaign>`. */
export function newCampaignSendCommand(
  campaigns: Command,
  run: Run<CampaignSendOptions> = campaignSendRun,
): Command {
  const command = campaigns
    .command('send')
    .description('Send a draft or scheduled campaign now: one e-mail to each address on its list')
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets campaigns send cmp_…', 'tickets campaigns send cmp_… --yes --json');
}

/** Sends a campaign now, once confirmed (or with --yes): it cannot be undone. */
export async function campaignSendRun(f: Factory, o: CampaignSendOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const label =
    !o.yes && f.prompter.interactive ? await describeCampaign(f, client, o.id) : `campaign ${o.id}`;
  await confirmFor(f, o.yes, `Send ${label} now? This cannot be undone.`);
  const campaign = await out.spin('Sending…', client.campaigns.send(o.id));
  await out.result(campaign, async (c) => {
    out.success(
      `Queued ${plural(recipientCount(c), 'message')} for ${c.id}; follow them with: tickets campaigns show ${c.id}`,
    );
    await campaignTable(out, [c]);
  });
  return EXIT.ok;
}

/** `tickets campaigns cancel <campaign>`. */
export function newCampaignCancelCommand(
  campaigns: Command,
  run: Run<CampaignCancelOptions> = campaignCancelRun,
): Command {
  const command = campaigns
    .command('cancel')
    .description('Cancel a draft or scheduled campaign, or the messages of a sending one not sent yet')
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets campaigns cancel cmp_…');
}

export async function campaignCancelRun(f: Factory, o: CampaignCancelOptions): Promise<number> {
  const client = await f.client();
  const campaign = await f.out.spin('Cancelling…', client.campaigns.cancel(o.id));
  await f.out.result(campaign, async (c) => {
    f.out.success(`Cancelled campaign ${c.id}.`);
    await campaignTable(f.out, [c]);
  });
  return EXIT.ok;
}

/** `tickets campaigns recipients <campaign>`. */
export function newCampaignRecipientsCommand(
  campaigns: Command,
  run: Run<CampaignRecipientsOptions> = campaignRecipientsRun,
): Command {
  const command = campaigns
    .command('recipients')
    .description("List a campaign's messages, one per recipient, with their status")
    .argument('<campaign>', 'the campaign (cmp_…)', campaignArg)
    .addOption(new Option('--status <status>', 'only messages in this status').choices(MESSAGE_STATUSES))
    .option('--limit <n>', 'at most this many', parse.int(1), 10_000)
    .action(async (id: string, flags: { status?: MessageStatus; limit: number }, cmd: Command) => {
      const options: CampaignRecipientsOptions = { id, status: flags.status, limit: flags.limit };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets campaigns recipients cmp_…',
    'tickets campaigns recipients cmp_… --status bounced --json',
  );
}

export async function campaignRecipientsRun(f: Factory, o: CampaignRecipientsOptions): Promise<number> {
  const client = await f.client();
  const messages = await f.out.spin(
    'Loading recipients…',
    client.campaigns
      .recipients(o.id, { status: o.status, limit: Math.min(o.limit, 100) })
      .toArray({ limit: o.limit }),
  );
  await f.out.result(messages, (l) => messageTable(f.out, l));
  return EXIT.ok;
}
