import type { AuditEntry } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';

export interface AuditOptions {
  actor?: string;
  action?: string;
  target?: string;
  /** An instant (ISO, UTC): entries at or after it. */
  since?: string;
  until?: string;
  limit: number;
  all: boolean;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

const UNITS: Record<string, number> = { m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * `--since 24h` (minutes, hours, days, weeks ago) or a date ("2026-12-01", "2026-12-01 18:00"), as an
 * ISO instant. `now` is passed in for tests.
 */
export function parseSince(value: string, now = Date.now()): string {
  const ago = /^(\d+)\s*([mhdw])$/i.exec(value.trim());
  if (ago) return new Date(now - Number(ago[1]) * UNITS[ago[2]!.toLowerCase()]! * 1000).toISOString();
  try {
    return new Date(parse.date(value)).toISOString();
  } catch {
    throw new InvalidArgumentError(
      'Expected a time ago such as 30m, 24h, 7d, 2w, or a date such as 2026-12-01.',
    );
  }
}

/** Who did it, readably: a user or key id, or `system`. */
const who = (e: AuditEntry) => e.actor.id ?? 'system';

/** What changed, in one cell: `role: staff → admin`, or the action's details. */
export function changeOf(e: AuditEntry): string {
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  if (e.after)
    return Object.keys(e.after)
      .map((k) => `${k}: ${show(e.before?.[k] ?? null)} → ${show(e.after?.[k])}`)
      .join('; ');
  return Object.entries(e.data)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');
}

export async function auditTable(out: Output, entries: AuditEntry[]): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  await out.table(
    ['WHEN', 'ACTOR', 'ACTION', 'TARGET', 'CHANGE', 'FROM'],
    entries.map((e) => [
      out.tty ? formatDateTime(e.created_at, localZone()) : e.created_at,
      who(e),
      e.action.startsWith('security.') ? out.style.red(e.action) : e.action,
      e.target,
      changeOf(e),
      e.ip,
    ]),
  );
}

/** `tickets audit`: the organization's audit log, newest first. */
export async function auditRun(f: Factory, o: AuditOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'entries',
    (limit) =>
      client.audit.list({
        actor: o.actor,
        action: o.action,
        target: o.target,
        from: o.since,
        to: o.until,
        limit,
      }),
    o,
  );
  await f.out.result(list, () => auditTable(f.out, list));
  return EXIT.ok;
}

export function registerAudit(program: Command): void {
  newAuditCommand(program);
  newFeedbackCommand(program);
}

/** `tickets audit`: its flags become AuditOptions for `run` (auditRun). */
export function newAuditCommand(program: Command, run: Run<AuditOptions> = auditRun): Command {
  const command = limitOptions(program.command('audit'), 50)
    .description(
      'Who did what: sign-ins, roles, keys, events, prices, refunds, transfers, billing (owners and admins)',
    )
    .option('--actor <id>', 'only what this user (usr_…) or API key (key_…) did', (v: string) => {
      if (!/^(usr|key)_\w+$/.test(v))
        throw new InvalidArgumentError(`Expected a user (usr_…) or key (key_…) id, got "${v}".`);
      return v;
    })
    .option('--action <action>', 'only this action (refund.created), or a prefix ending in a dot (refund.)')
    .option('--target <id>', 'only actions on this id (an order, a ticket, a member…)')
    .option('--since <when>', 'from this long ago (30m, 24h, 7d) or this date', (v: string) => parseSince(v))
    .option('--until <when>', 'until this long ago or this date', (v: string) => parseSince(v))
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: AuditOptions = {
        actor: flags.actor as string | undefined,
        action: flags.action as string | undefined,
        target: flags.target as string | undefined,
        since: flags.since as string | undefined,
        until: flags.until as string | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets audit --since 24h',
    'tickets audit --action refund. --since 7d',
    'tickets audit --actor usr_… --json',
    'tickets audit --target ord_…',
  );
}

export interface FeedbackOptions {
  message: string;
  email?: string;
  event?: string;
  order?: string;
  request?: string;
}

/** `tickets feedback "…"`: a report to whoever runs the server. */
export async function feedbackRun(f: Factory, o: FeedbackOptions): Promise<number> {
  const client = await f.client();
  const sent = await client.feedback.send({
    message: o.message,
    email: o.email,
    event: o.event,
    order: o.order,
    request_id: o.request,
  });
  await f.out.result(sent, (x) =>
    f.out.info(
      `Thank you: feedback ${x.id} was kept${x.sent_to_sentry ? ' and sent' : ''}${x.linked_error ? `, linked to the error of ${x.request_id}` : ''}.`,
    ),
  );
  return EXIT.ok;
}

/** `tickets feedback`: its arguments become FeedbackOptions for `run` (feedbackRun). */
export function newFeedbackCommand(program: Command, run: Run<FeedbackOptions> = feedbackRun): Command {
  const command = program
    .command('feedback')
    .description('Tell whoever runs the server what went wrong (name a failed request with --request)')
    .argument('<message>', 'what happened')
    .option('--email <email>', 'where to answer you')
    .option('--event <event>', 'the event it is about (evt_…)', parse.id('evt', 'an event'))
    .option('--order <order>', 'the order it is about (ord_…)', parse.id('ord', 'an order'))
    .option('--request <id>', 'the request id an error named (req_…): links the feedback to it')
    .action(async (message: string, flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        message,
        email: flags.email as string | undefined,
        event: flags.event as string | undefined,
        order: flags.order as string | undefined,
        request: flags.request as string | undefined,
      });
    });
  return examples(
    command,
    'tickets feedback "The door app froze after the 200th scan"',
    'tickets feedback "Refund failed" --request req_AbC123 --order ord_…',
  );
}
