import type { WebhookDelivery, WebhookEndpoint, WebhookEventType } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, parse } from '../help.js';
import { io } from '../io.js';
import { type Output, printable } from '../output.js';

/**
 * The event types an endpoint may subscribe to: the contract's WEBHOOK_EVENT_TYPES, spelled out so the
 * CLI need not load the contract (zod) to parse its flags. The check below fails the build when one is
 * added there and not here.
 */
export const EVENT_TYPES = [
  'order.paid',
  'order.refunded',
  'ticket.transferred',
  'ticket.checked_in',
  'event.published',
  'event.cancelled',
] as const satisfies readonly WebhookEventType[];
type Unlisted = Exclude<WebhookEventType, (typeof EVENT_TYPES)[number]>;
const everyTypeListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyTypeListed;

export type EndpointEvents = (WebhookEventType | '*')[];

const DELIVERY_STATUSES = [
  'queued',
  'sending',
  'sent',
  'failed',
  'dead',
  'cancelled',
] as const satisfies readonly WebhookDelivery['status'][];

export interface WebhookCreateOptions {
  /** Asked on a terminal. */
  url?: string;
  /** Asked on a terminal. */
  events?: EndpointEvents;
  description?: string;
}

export interface WebhookShowOptions {
  id: string;
}

export interface WebhookListOptions {
  limit: number;
  all: boolean;
}

export interface WebhookUpdateOptions {
  id: string;
  url?: string;
  events?: EndpointEvents;
  description?: string;
  status?: 'enabled' | 'disabled';
}

export interface WebhookDeleteOptions {
  id: string;
  yes: boolean;
}

export interface WebhookDeliveriesOptions {
  id: string;
  status?: WebhookDelivery['status'];
  limit: number;
  all: boolean;
}

export interface WebhookRetryOptions {
  id: string;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/**
 * `order.paid,order.refunded` (or `*`, every type now and later) as the API's list, or what is wrong
 * with it.
 */
export function readEvents(value: string): { events: EndpointEvents } | { error: string } {
  const items = [
    ...new Set(
      value
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  const known = new Set<string>([...EVENT_TYPES, '*']);
  const unknown = items.filter((t) => !known.has(t));
  if (items.length === 0 || unknown.length)
    return {
      error: `${unknown.length ? `Unknown event type ${unknown.map((t) => `"${t}"`).join(', ')}. ` : ''}Expected event types separated by commas (${EVENT_TYPES.join(', ')}), or * for all.`,
    };
  return { events: items as EndpointEvents };
}

const eventsArg = (value: string): EndpointEvents => {
  const read = readEvents(value);
  if ('error' in read) throw new InvalidArgumentError(read.error);
  return read.events;
};

const EVENTS_HELP = `what it receives, comma-separated: ${EVENT_TYPES.join(', ')}; or '*' for every type, now and later`;

const endpointId = parse.id('we', 'a webhook endpoint');
const deliveryId = parse.id('msg', 'a delivery');

function statusLabel(out: Output, status: WebhookEndpoint['status']): string {
  return status === 'enabled' ? out.style.green(status) : out.style.yellow(status);
}

/** The key/value view of an endpoint; its secret only where the API answered with one (create, rotate). */
export async function showEndpoint(out: Output, e: WebhookEndpoint): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  const when = (iso: string) => (out.tty ? formatDateTime(iso, localZone()) : iso);
  out.details([
    ['ID', e.id],
    ['URL', e.url ?? '(none: polled by tickets webhooks listen)'],
    ['Description', e.description],
    ['Events', e.events.join(',')],
    ['Status', statusLabel(out, e.status)],
    ['Disabled because', e.disabled_reason],
    ['Created', when(e.created_at)],
    ['Updated', e.updated_at === e.created_at ? null : when(e.updated_at)],
    ['Secret', e.secret],
  ]);
}

/** After a secret is shown: it is never shown again, and what to do with it. */
function secretShown(out: Output, rotated: boolean): void {
  out.warn(
    `Store the signing secret now: it won't be shown again.${rotated ? ' For 24 hours deliveries are signed with the old secret too, so your receiver can switch over.' : ''}`,
  );
  out.info(
    out.errStyle.dim(
      'Check each delivery with verifyWebhook(body, headers, secret) from @tickets/sdk, or any Standard Webhooks library.',
    ),
  );
}

/** `tickets webhooks`: the group and each of its commands. */
export function registerWebhooks(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description(
      'Webhook endpoints: URLs of yours the server POSTs events to (order.paid, …), signed; their deliveries',
    );
  examples(
    webhooks,
    'tickets webhooks create --url https://example.com/hooks/tickets --events order.paid,order.refunded',
    'tickets webhooks list',
    'tickets webhooks deliveries we_… --status failed',
  );
  newWebhookCreateCommand(webhooks);
  newWebhookListCommand(webhooks);
  newWebhookShowCommand(webhooks);
  newWebhookUpdateCommand(webhooks);
  newWebhookDeleteCommand(webhooks);
  newWebhookRotateSecretCommand(webhooks);
  newWebhookDeliveriesCommand(webhooks);
  newWebhookRetryCommand(webhooks);
  newWebhookListenCommand(webhooks);
}

export interface WebhookListenOptions {
  forwardTo: string;
  events: EndpointEvents;
  /** Stop after relaying this many (scripts, tests); none: until Ctrl-C. */
  max?: number;
}

/** `tickets webhooks listen`: relays deliveries to a local URL, like `stripe listen`. */
export function newWebhookListenCommand(
  webhooks: Command,
  run: Run<WebhookListenOptions> = webhookListenRun,
): Command {
  const command = webhooks
    .command('listen')
    .description(
      'Relay deliveries to a URL on this machine: a temporary endpoint, polled (works behind NAT), deleted on Ctrl-C',
    )
    .requiredOption('--forward-to <url>', 'where each delivery is POSTed, e.g. http://localhost:4000/hook')
    .option('--events <types>', "what to relay: comma-separated event types, or '*'", eventsArg, [
      '*',
    ] as EndpointEvents)
    .addOption(new Option('--max <n>', 'stop after relaying this many').argParser(parse.int(1)).hideHelp())
    .action(async (flags: { forwardTo: string; events: EndpointEvents; max?: number }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), flags);
    });
  return examples(
    command,
    'tickets webhooks listen --forward-to http://localhost:4000/hook',
    'tickets webhooks listen --forward-to http://localhost:4000/hook --events order.paid',
  );
}

export async function webhookListenRun(f: Factory, o: WebhookListenOptions): Promise<number> {
  let target: URL;
  try {
    target = new URL(o.forwardTo);
    if (!/^https?:$/.test(target.protocol)) throw new Error();
  } catch {
    throw new UsageError(`--forward-to must be an http(s) URL, not ${JSON.stringify(o.forwardTo)}`);
  }
  const client = await f.client();
  const endpoint = await f.out.spin(
    'Starting…',
    client.webhookEndpoints.create({
      mode: 'poll',
      events: o.events,
      description: `tickets webhooks listen → ${target.href}`,
    }),
  );
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  f.out.info(`Ready: relaying ${o.events.join(', ')} to ${target.href} (Ctrl-C to stop).`);
  f.out.info(`Signing secret: ${endpoint.secret} (verify with it as with a real endpoint's)`);
  let relayed = 0;
  // What was relayed since the last poll, acknowledged by the next one (else the server hands it out again).
  let ack: string[] = [];
  try {
    while (!stopping && (o.max === undefined || relayed < o.max)) {
      const { data } = await client.webhookEndpoints.poll(endpoint.id, { wait: 5, ack });
      ack = [];
      for (const d of data) {
        const at = f.now().toISOString().slice(11, 19);
        let answer: string;
        try {
          const res = await fetch(target, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...d.headers },
            body: d.body,
            signal: AbortSignal.timeout(30_000),
          });
          answer = String(res.status);
        } catch (err) {
          answer = `failed: ${(err as Error).message}`;
        }
        relayed++;
        ack.push(d.id);
        if (f.out.json) f.out.printJson({ id: d.id, type: d.type, forwarded_to: target.href, answer });
        else f.out.line(`${at}  ${d.type.padEnd(18)} ${d.id}  → ${answer}`);
      }
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    if (ack.length) await client.webhookEndpoints.poll(endpoint.id, { wait: 0, ack }).catch(() => {});
    await client.webhookEndpoints.delete(endpoint.id).catch(() => {});
  }
  return EXIT.ok;
}

/** `tickets webhooks create`: its flags become WebhookCreateOptions for `run` (webhookCreateRun). */
export function newWebhookCreateCommand(
  webhooks: Command,
  run: Run<WebhookCreateOptions> = webhookCreateRun,
): Command {
  const command = webhooks
    .command('create')
    .description('Subscribe a URL to events; its signing secret is shown this once')
    .option('--url <url>', 'where deliveries are POSTed (https)')
    .option('--events <types>', EVENTS_HELP, eventsArg)
    .option('--description <text>', 'what it is for')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        url: flags.url as string | undefined,
        events: flags.events as EndpointEvents | undefined,
        description: flags.description as string | undefined,
      });
    });
  return examples(
    command,
    'tickets webhooks create --url https://example.com/hooks/tickets --events order.paid,order.refunded',
    'tickets webhooks create --url https://example.com/hooks/all --events \'*\' --description "Data warehouse"',
    'tickets webhooks create --url https://example.com/hooks/tickets --events order.paid --json | jq -r .secret',
  );
}

/** Creates an endpoint and shows its secret, this once; the URL and events are asked on a terminal. */
export async function webhookCreateRun(f: Factory, o: WebhookCreateOptions): Promise<number> {
  const client = await f.client();
  const url = await askFor(f, o.url, { flag: '--url', message: 'Endpoint URL (https://…)' });
  let events = o.events;
  if (!events) {
    const answer = await askFor(f, undefined, {
      flag: '--events',
      message: `Event types, comma-separated (${EVENT_TYPES.join(', ')}; * for all)`,
      default: '*',
    });
    const read = readEvents(answer);
    if ('error' in read) throw new UsageError(`--events: ${read.error}`);
    events = read.events;
  }
  const endpoint = await f.out.spin(
    'Creating…',
    client.webhookEndpoints.create({ url, events, description: o.description }),
  );
  await f.out.result(endpoint, async (e) => {
    f.out.success(`Created webhook endpoint ${e.id}.`);
    await showEndpoint(f.out, e);
    secretShown(f.out, false);
  });
  return EXIT.ok;
}

/** `tickets webhooks list`. */
export function newWebhookListCommand(
  webhooks: Command,
  run: Run<WebhookListOptions> = webhookListRun,
): Command {
  const command = limitOptions(webhooks.command('list'), 100)
    .description("List the organization's webhook endpoints (never their secrets)")
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        limit: flags.limit as number,
        all: Boolean(flags.all),
      });
    });
  return examples(command, 'tickets webhooks list', 'tickets webhooks list --json');
}

export async function webhookListRun(f: Factory, o: WebhookListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'webhook endpoints',
    (limit) => client.webhookEndpoints.list({ limit }),
    o,
  );
  await f.out.result(list, () =>
    f.out.table(
      ['ID', 'URL', 'EVENTS', 'STATUS'],
      list.map((e) => [e.id, e.url ?? '(listen)', e.events.join(','), statusLabel(f.out, e.status)]),
    ),
  );
  return EXIT.ok;
}

/** `tickets webhooks show <id>`. */
export function newWebhookShowCommand(
  webhooks: Command,
  run: Run<WebhookShowOptions> = webhookShowRun,
): Command {
  const command = webhooks
    .command('show')
    .description('Show one endpoint: its URL, events and status (its secret is never shown again)')
    .argument('<id>', 'the endpoint (we_…)', endpointId)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets webhooks show we_…', 'tickets webhooks show we_… --json');
}

export async function webhookShowRun(f: Factory, o: WebhookShowOptions): Promise<number> {
  const client = await f.client();
  const endpoint = await f.out.spin('Loading…', client.webhookEndpoints.get(o.id));
  await f.out.result(endpoint, (e) => showEndpoint(f.out, { ...e, secret: undefined }));
  return EXIT.ok;
}

/** `tickets webhooks update <id>`. */
export function newWebhookUpdateCommand(
  webhooks: Command,
  run: Run<WebhookUpdateOptions> = webhookUpdateRun,
): Command {
  const command = webhooks
    .command('update')
    .description('Change its URL, events or description; disable it, or enable it again')
    .argument('<id>', 'the endpoint (we_…)', endpointId)
    .option('--url <url>', 'where deliveries are POSTed (https)')
    .option('--events <types>', `${EVENTS_HELP} (replaces the list)`, eventsArg)
    .option('--description <text>', 'what it is for ("" clears it)')
    .addOption(
      new Option('--enable', 'resume deliveries (also after the server disabled it for failing)').conflicts(
        'disable',
      ),
    )
    .addOption(new Option('--disable', 'stop deliveries until enabled again').conflicts('enable'))
    .action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        id,
        url: flags.url as string | undefined,
        events: flags.events as EndpointEvents | undefined,
        description: flags.description as string | undefined,
        status: flags.enable ? 'enabled' : flags.disable ? 'disabled' : undefined,
      });
    });
  return examples(
    command,
    'tickets webhooks update we_… --events order.paid,order.refunded,event.cancelled',
    'tickets webhooks update we_… --disable',
    'tickets webhooks update we_… --enable',
    'tickets webhooks update we_… --url https://example.com/hooks/v2 --json',
  );
}

export async function webhookUpdateRun(f: Factory, o: WebhookUpdateOptions): Promise<number> {
  if (o.url === undefined && o.events === undefined && o.description === undefined && o.status === undefined)
    throw new UsageError('nothing to change: give --url, --events, --description, --enable or --disable');
  const client = await f.client();
  const endpoint = await f.out.spin(
    'Saving…',
    client.webhookEndpoints.update(o.id, {
      url: o.url,
      events: o.events,
      description: o.description,
      status: o.status,
    }),
  );
  await f.out.result(endpoint, async (e) => {
    f.out.success(
      o.status === 'disabled'
        ? `Disabled ${e.id}: nothing is delivered to it until it is enabled again.`
        : o.status === 'enabled'
          ? `Enabled ${e.id}: deliveries resume.`
          : `Updated ${e.id}.`,
    );
    await showEndpoint(f.out, e);
  });
  return EXIT.ok;
}

/** `tickets webhooks delete <id>`. */
export function newWebhookDeleteCommand(
  webhooks: Command,
  run: Run<WebhookDeleteOptions> = webhookDeleteRun,
): Command {
  const command = webhooks
    .command('delete')
    .description('Delete an endpoint; its undelivered deliveries are cancelled')
    .argument('<id>', 'the endpoint (we_…)', endpointId)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets webhooks delete we_…', 'tickets webhooks delete we_… --yes');
}

/** Deletes an endpoint, once confirmed (or with --yes). */
export async function webhookDeleteRun(f: Factory, o: WebhookDeleteOptions): Promise<number> {
  const client = await f.client();
  let label = o.id;
  if (!o.yes && f.prompter.interactive) {
    const e = await f.out.spin('Loading…', client.webhookEndpoints.get(o.id));
    label = `${e.id} (${printable(e.url ?? 'listen')})`;
  }
  await confirmFor(
    f,
    o.yes,
    `Delete the webhook endpoint ${label}? Its undelivered deliveries are cancelled; this cannot be undone.`,
  );
  const deleted = await f.out.spin('Deleting…', client.webhookEndpoints.delete(o.id));
  await f.out.result(deleted, () => f.out.success(`Deleted the webhook endpoint ${label}.`));
  return EXIT.ok;
}

/** `tickets webhooks rotate-secret <id>`. */
export function newWebhookRotateSecretCommand(
  webhooks: Command,
  run: Run<WebhookShowOptions> = webhookRotateSecretRun,
): Command {
  const command = webhooks
    .command('rotate-secret')
    .description('A new signing secret, shown this once; the old one keeps signing too for 24 hours')
    .argument('<id>', 'the endpoint (we_…)', endpointId)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(
    command,
    'tickets webhooks rotate-secret we_…',
    'tickets webhooks rotate-secret we_… --json | jq -r .secret',
  );
}

export async function webhookRotateSecretRun(f: Factory, o: WebhookShowOptions): Promise<number> {
  const client = await f.client();
  const endpoint = await f.out.spin('Rotating…', client.webhookEndpoints.rotateSecret(o.id));
  await f.out.result(endpoint, async (e) => {
    f.out.success(`New signing secret for ${e.id}.`);
    f.out.details([
      ['ID', e.id],
      ['URL', e.url ?? '(none: polled by tickets webhooks listen)'],
      ['Secret', e.secret],
    ]);
    secretShown(f.out, true);
  });
  return EXIT.ok;
}

/** `tickets webhooks deliveries <id>`. */
export function newWebhookDeliveriesCommand(
  webhooks: Command,
  run: Run<WebhookDeliveriesOptions> = webhookDeliveriesRun,
): Command {
  const command = limitOptions(webhooks.command('deliveries'), 50)
    .description(
      "An endpoint's deliveries, newest first: status, attempts, its last answer and how long it took",
    )
    .argument('<id>', 'the endpoint (we_…)', endpointId)
    .addOption(new Option('--status <status>', 'only deliveries in this state').choices(DELIVERY_STATUSES))
    .action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        id,
        status: flags.status as WebhookDelivery['status'] | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      });
    });
  return examples(
    command,
    'tickets webhooks deliveries we_…',
    'tickets webhooks deliveries we_… --status failed --limit 20',
    'tickets webhooks deliveries we_… --status dead --json | jq -r ".[].id" | xargs -n1 tickets webhooks retry',
  );
}

export async function webhookDeliveriesRun(f: Factory, o: WebhookDeliveriesOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'deliveries',
    (limit) => client.webhookEndpoints.deliveries(o.id, { status: o.status, limit }),
    o,
  );
  await f.out.result(list, () => deliveriesTable(f.out, list));
  return EXIT.ok;
}

function deliveryStatus(out: Output, status: WebhookDelivery['status']): string {
  const colour = {
    queued: out.style.dim,
    sending: out.style.cyan,
    sent: out.style.green,
    failed: out.style.yellow,
    dead: out.style.red,
    cancelled: out.style.dim,
  }[status];
  return colour ? colour(status) : status;
}

/** Deliveries as a table (on a terminal) or tab-separated lines. */
export async function deliveriesTable(out: Output, list: WebhookDelivery[]): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  await out.table(
    ['ID', 'TYPE', 'STATUS', 'ATTEMPTS', 'RESPONSE', 'DURATION MS', 'LAST ERROR', 'CREATED'],
    list.map((d) => [
      d.id,
      d.type,
      deliveryStatus(out, d.status),
      d.attempts,
      d.response_code,
      d.duration_ms,
      d.last_error,
      out.tty ? formatDateTime(d.created_at, localZone()) : d.created_at,
    ]),
  );
}

/** `tickets webhooks retry <delivery>`. */
export function newWebhookRetryCommand(
  webhooks: Command,
  run: Run<WebhookRetryOptions> = webhookRetryRun,
): Command {
  const command = webhooks
    .command('retry')
    .description('Send a failed or dead delivery again, now (with the same webhook-id)')
    .argument('<delivery>', 'the delivery (msg_…)', deliveryId)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets webhooks retry msg_…', 'tickets webhooks retry msg_… --json');
}

export async function webhookRetryRun(f: Factory, o: WebhookRetryOptions): Promise<number> {
  const client = await f.client();
  const delivery = await f.out.spin('Retrying…', client.webhookEndpoints.retry(o.id));
  await f.out.result(delivery, async (d) => {
    const { formatDateTime, localZone } = await import('../time.js');
    f.out.success(`Sending ${d.id} again (${d.type} to ${d.endpoint}).`);
    f.out.details([
      ['ID', d.id],
      ['Endpoint', d.endpoint],
      ['Type', d.type],
      ['Status', deliveryStatus(f.out, d.status)],
      ['Attempts', d.attempts],
      [
        'Next attempt',
        d.next_attempt_at && (f.out.tty ? formatDateTime(d.next_attempt_at, localZone()) : d.next_attempt_at),
      ],
    ]);
  });
  return EXIT.ok;
}
