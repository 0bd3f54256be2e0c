import type { Channel, Message, MessageStatus, TemplateName } from '@tickets/sdk';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, NONE, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';

type Colour = 'green' | 'yellow' | 'red' | 'dim';

/** Every status with its colour; a record, so a status added to the contract fails the build until it is here. */
const STATUS_COLOUR: Record<MessageStatus, Colour> = {
  queued: 'yellow',
  sending: 'yellow',
  sent: 'green',
  delivered: 'green',
  opened: 'green',
  read: 'green',
  bounced: 'red',
  failed: 'red',
  dead: 'red',
  suppressed: 'dim',
  cancelled: 'dim',
};
export const STATUSES = Object.keys(STATUS_COLOUR) as MessageStatus[];

const TEMPLATE_NAMES = Object.keys({
  order_confirmation: true,
  refund_confirmation: true,
  transfer_notice: true,
  event_reminder: true,
  event_cancelled: true,
  event_rescheduled: true,
  campaign: true,
  invitation: true,
  password_reset: true,
  webhook_disabled: true,
  reconciliation_mismatches: true,
} satisfies Record<TemplateName, true>) as TemplateName[];

const CHANNELS: Channel[] = ['email', 'whatsapp'];

export const SENDGRID_TEMPLATE_ID = /^d-[0-9a-f]{32}$/;

export const idArg = parse.id;

const channelOption = (description: string) =>
  new Option('--channel <channel>', description).choices(CHANNELS);

export function messageStatusLabel(out: Output, status: MessageStatus): string {
  return out.style[STATUS_COLOUR[status]](status);
}

/** A list of messages: a table on a terminal, tab-separated lines when piped. */
export async function messageTable(out: Output, messages: Message[]): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  const zone = localZone();
  await out.table(
    ['ID', 'CHANNEL', 'TEMPLATE', 'RECIPIENT', 'STATUS', 'ATTEMPTS', 'SENT/UPDATED'],
    messages.map((m) => {
      const when = m.sent_at ?? m.updated_at;
      return [
        m.id,
        m.channel,
        m.template,
        m.recipient,
        messageStatusLabel(out, m.status),
        m.attempts,
        out.tty ? formatDateTime(when, zone) : when,
      ];
    }),
  );
}

/** The key/value view of a message, then its history. */
async function showMessage(out: Output, m: Message): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  const zone = localZone();
  const at = (iso: string | null) => (out.tty ? formatDateTime(iso, zone) : iso);
  out.details([
    ['ID', m.id],
    ['Channel', m.channel],
    ['Template', m.template],
    ['Recipient', m.recipient],
    ['Subject', m.subject],
    ['Status', messageStatusLabel(out, m.status)],
    ['Attempts', m.attempts],
    ['Last error', m.last_error],
    ['Provider', m.provider],
    ['Provider ID', m.provider_message_id],
    ['Order', m.order_id],
    ['Ticket', m.ticket_id],
    ['Event', m.event_id],
    ['Due', m.sent_at ? undefined : at(m.send_at)],
    ['Sent', at(m.sent_at)],
    ['Created', at(m.created_at)],
    ['Updated', at(m.updated_at)],
  ]);
  if (!m.history?.length) return;
  out.line();
  await out.table(
    ['HISTORY', 'AT', 'DETAIL'],
    m.history.map((e) => [e.status, at(e.at), e.detail]),
  );
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** What `tickets messages list` was asked to do, once its flags are read. */
export interface MessageListOptions {
  order?: string;
  ticket?: string;
  event?: string;
  /** --to: an e-mail address or phone number. */
  to?: string;
  channel?: Channel;
  status?: MessageStatus;
  template?: TemplateName;
  limit: number;
  all: boolean;
}

export interface MessageShowOptions {
  id: string;
}

export interface MessageRetryOptions {
  id: string;
}

export interface MessagePreviewOptions {
  template: TemplateName;
  channel: Channel;
  /** --html: the e-mail's HTML instead of its subject and text. */
  html: boolean;
}

export type TemplateListOptions = Record<string, never>;

export interface TemplateSetOptions {
  template: TemplateName;
  /** A SendGrid dynamic template id (d-…), or `none`: back to the built-in one. */
  sendgridTemplateId: string;
}

export interface SuppressionListOptions {
  channel?: Channel;
  limit: number;
}

/** `tickets messages`: the group and each of its commands. */
export function registerMessages(program: Command): void {
  const messages = program
    .command('messages')
    .description('Messages to buyers and attendees (e-mail, WhatsApp): their status, retries and templates');
  examples(
    messages,
    'tickets messages list --order ord_…',
    'tickets messages show msg_…',
    'tickets messages preview order_confirmation',
  );
  newMessageListCommand(messages);
  newMessageShowCommand(messages);
  newMessageRetryCommand(messages);
  newMessagePreviewCommand(messages);
  const templates = newTemplateListCommand(messages);
  newTemplateSetCommand(templates);
  newSuppressionListCommand(messages);
}

/** `tickets messages list`: its flags become MessageListOptions for `run` (messageListRun). */
export function newMessageListCommand(
  messages: Command,
  run: Run<MessageListOptions> = messageListRun,
): Command {
  const command = limitOptions(messages.command('list'), 30)
    .description('List messages, newest first')
    .option('--order <order>', 'only messages about this order (ord_…)', idArg('ord', 'an order'))
    .option('--ticket <ticket>', 'only messages about this ticket (tkt_…)', idArg('tkt', 'a ticket'))
    .option('--event <event>', 'only messages about this event (evt_…)', idArg('evt', 'an event'))
    .option('--to <recipient>', 'only messages to this e-mail address or phone number (E.164)')
    .addOption(channelOption('only messages sent this way'))
    .addOption(new Option('--status <status>', 'only messages in this status').choices(STATUSES))
    .addOption(new Option('--template <template>', 'only messages of this template').choices(TEMPLATE_NAMES))
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: MessageListOptions = {
        order: flags.order as string | undefined,
        ticket: flags.ticket as string | undefined,
        event: flags.event as string | undefined,
        to: flags.to as string | undefined,
        channel: flags.channel as Channel | undefined,
        status: flags.status as MessageStatus | undefined,
        template: flags.template as TemplateName | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets messages list',
    'tickets messages list --order ord_…',
    'tickets messages list --status dead --channel email --limit 100',
    'tickets messages list --to bea@example.com --template order_confirmation --json',
  );
}

/** Messages newest first, up to --limit (saying so when more exist). */
export async function messageListRun(f: Factory, o: MessageListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'messages',
    (limit) =>
      client.messages.list({
        order: o.order,
        ticket: o.ticket,
        event: o.event,
        recipient: o.to,
        channel: o.channel,
        status: o.status,
        template: o.template,
        limit,
      }),
    o,
  );
  await f.out.result(list, (l) => messageTable(f.out, l));
  return EXIT.ok;
}

/** `tickets messages show <id>`. */
export function newMessageShowCommand(
  messages: Command,
  run: Run<MessageShowOptions> = messageShowRun,
): Command {
  const command = messages
    .command('show')
    .description('Show one message and every status it went through')
    .argument('<id>', 'the message (msg_…)', idArg('msg', 'a message'))
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets messages show msg_…', 'tickets messages show msg_… --json');
}

export async function messageShowRun(f: Factory, o: MessageShowOptions): Promise<number> {
  const client = await f.client();
  const message = await f.out.spin('Loading…', client.messages.get(o.id));
  await f.out.result(message, (m) => showMessage(f.out, m));
  return EXIT.ok;
}

/** `tickets messages retry <id>`. */
export function newMessageRetryCommand(
  messages: Command,
  run: Run<MessageRetryOptions> = messageRetryRun,
): Command {
  const command = messages
    .command('retry')
    .description('Send a failed, dead, bounced, suppressed or cancelled message again')
    .argument('<id>', 'the message (msg_…)', idArg('msg', 'a message'))
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(
    command,
    'tickets messages retry msg_…',
    'tickets messages list --status dead --json | jq -r ".[].id" | xargs -n1 tickets messages retry',
  );
}

export async function messageRetryRun(f: Factory, o: MessageRetryOptions): Promise<number> {
  const client = await f.client();
  const message = await f.out.spin('Queueing…', client.messages.retry(o.id));
  await f.out.result(message, (m) => {
    f.out.success(`Queued ${m.id} to ${m.recipient} again.`);
    return messageTable(f.out, [m]);
  });
  return EXIT.ok;
}

/** `tickets messages preview <template>`. */
export function newMessagePreviewCommand(
  messages: Command,
  run: Run<MessagePreviewOptions> = messagePreviewRun,
): Command {
  const command = messages
    .command('preview')
    .description('Render a template with sample data, exactly as it would be sent')
    .addArgument(new Argument('<template>', 'the template').choices(TEMPLATE_NAMES))
    .addOption(channelOption('render it for this channel').default('email'))
    .option('--html', "print the e-mail's HTML instead of its subject and text")
    .action(async (template: TemplateName, flags: { channel: Channel; html?: boolean }, cmd: Command) => {
      const options: MessagePreviewOptions = { template, channel: flags.channel, html: Boolean(flags.html) };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets messages preview order_confirmation',
    'tickets messages preview event_reminder --channel whatsapp',
    'tickets messages preview order_confirmation --html > confirmation.html',
  );
}

export async function messagePreviewRun(f: Factory, o: MessagePreviewOptions): Promise<number> {
  const { out } = f;
  if (o.html && o.channel !== 'email')
    throw new UsageError('--html goes with e-mail: a WhatsApp message is text only');
  const client = await f.client();
  const preview = await out.spin(
    'Rendering…',
    client.messages.templates.preview(o.template, { channel: o.channel }),
  );
  await out.result(preview, (p) => {
    if (o.html) return out.line(p.html ?? '');
    if (p.subject !== null) out.details([['Subject', p.subject]]);
    out.line();
    out.line(p.text.replace(/\n+$/, ''));
  });
  return EXIT.ok;
}

/** `tickets messages templates`: lists the templates, and is the group of `templates set`. */
export function newTemplateListCommand(
  messages: Command,
  run: Run<TemplateListOptions> = templateListRun,
): Command {
  const command = messages
    .command('templates')
    .description('List the templates, with the SendGrid dynamic template each is sent with')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(
    command,
    'tickets messages templates',
    'tickets messages templates set order_confirmation d-…',
    'tickets messages templates --json',
  );
}

export async function templateListRun(f: Factory, _o: TemplateListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const list = await out.spin('Loading…', client.messages.templates.list());
  await out.result(list, (l) =>
    out.table(
      ['TEMPLATE', 'CHANNELS', 'SENDGRID TEMPLATE', 'DESCRIPTION'],
      l.map((t) => [
        t.name,
        t.channels.join(','),
        t.sendgrid_template_id ?? (out.tty ? out.style.dim('built-in') : ''),
        t.description,
      ]),
    ),
  );
  return EXIT.ok;
}

/** `tickets messages templates set <template> <sendgrid-template-id>`. */
export function newTemplateSetCommand(
  templates: Command,
  run: Run<TemplateSetOptions> = templateSetRun,
): Command {
  const command = templates
    .command('set')
    .description('Send a template through a SendGrid dynamic template ("none": back to the built-in one)')
    .addArgument(new Argument('<template>', 'the template').choices(TEMPLATE_NAMES))
    .argument('<sendgrid-template-id>', 'the dynamic template (d-…), or none', (value: string) => {
      if (value === NONE || SENDGRID_TEMPLATE_ID.test(value)) return value;
      throw new InvalidArgumentError(
        'Expected a SendGrid dynamic template id (d- and 32 hex digits) or none.',
      );
    })
    .action(async (template: TemplateName, id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { template, sendgridTemplateId: id });
    });
  return examples(
    command,
    'tickets messages templates set order_confirmation d-0123456789abcdef0123456789abcdef',
    'tickets messages templates set order_confirmation none',
  );
}

export async function templateSetRun(f: Factory, o: TemplateSetOptions): Promise<number> {
  const client = await f.client();
  const id = o.sendgridTemplateId;
  const updated = await f.out.spin(
    'Saving…',
    client.messages.templates.update(o.template, { sendgrid_template_id: id === NONE ? null : id }),
  );
  await f.out.result(updated, (t) =>
    f.out.success(
      t.sendgrid_template_id
        ? `${t.name} is sent with SendGrid template ${t.sendgrid_template_id}.`
        : `${t.name} is sent with the built-in template.`,
    ),
  );
  return EXIT.ok;
}

/** `tickets messages suppressions`. */
export function newSuppressionListCommand(
  messages: Command,
  run: Run<SuppressionListOptions> = suppressionListRun,
): Command {
  const command = messages
    .command('suppressions')
    .description('Addresses not written to: bounced, complained, unsubscribed or opted out')
    .addOption(channelOption('only this channel'))
    .option('--limit <n>', 'at most this many', parse.int(1), 1000)
    .action(async (flags: { channel?: Channel; limit: number }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { channel: flags.channel, limit: flags.limit });
    });
  return examples(
    command,
    'tickets messages suppressions',
    'tickets messages suppressions --channel whatsapp --json',
  );
}

export async function suppressionListRun(f: Factory, o: SuppressionListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const { formatDateTime, localZone } = await import('../time.js');
  const list = await out.spin(
    'Loading…',
    client.messages.suppressions
      .list({ channel: o.channel, limit: Math.min(o.limit, 100) })
      .toArray({ limit: o.limit }),
  );
  await out.result(list, (l) =>
    out.table(
      ['CHANNEL', 'ADDRESS', 'REASON', 'HARD', 'SINCE'],
      l.map((s) => [
        s.channel,
        s.address,
        s.reason,
        s.hard,
        out.tty ? formatDateTime(s.created_at, localZone()) : s.created_at,
      ]),
    ),
  );
  return EXIT.ok;
}
