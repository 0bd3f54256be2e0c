import { readFileSync } from 'node:fs';
import { Chalk } from 'chalk';
import { Command, CommanderError } from 'commander';
import { registerAnalytics } from './commands/analytics.js';
import { newApiCommand } from './commands/api.js';
import { registerApiKeys } from './commands/api-keys.js';
import { registerAudit } from './commands/audit.js';
import { registerAuth } from './commands/auth.js';
import { registerCheckin } from './commands/checkin.js';
import { newCompletionCommand } from './commands/completion.js';
import { registerConfig } from './commands/config.js';
import { registerDoor } from './commands/door.js';
import { registerEvents } from './commands/events.js';
import { registerIntegrations } from './commands/integrations.js';
import { registerInvoices } from './commands/invoices.js';
import { registerMarketing } from './commands/marketing.js';
import { registerMedia } from './commands/media.js';
import { registerMessages } from './commands/messages.js';
import { registerOrders } from './commands/orders.js';
import { registerOrgs } from './commands/orgs.js';
import { registerPassword } from './commands/password.js';
import { registerPayments } from './commands/payments.js';
import { registerRefunds } from './commands/refunds.js';
import { newReportsCommand } from './commands/reports.js';
import { registerServer } from './commands/server.js';
import { registerTickets } from './commands/tickets.js';
import { registerTypes } from './commands/types.js';
import { registerVouchers } from './commands/vouchers.js';
import { registerWebhooks } from './commands/webhooks.js';
import { Context } from './context.js';
import { CancelledError, CliError, EXIT, NotLoggedInError, UsageError } from './errors.js';
import { examples } from './help.js';
import { type IO, io, processIO, withIO } from './io.js';
import { printable } from './output.js';

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command('tickets')
    .description('Sell and check tickets for your events, from the command line.')
    .version(version(), '-v, --version')
    .option('--json', 'print machine-readable JSON on stdout, and nothing else')
    .option('--profile <name>', 'use this profile (default: the one chosen with `tickets config use`)')
    .option('--no-color', 'no colour in output (also: NO_COLOR=1)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(add --help for usage)')
    // Commander's errors become exit code 2 in main(), not a process.exit() in the middle of a write.
    .exitOverride()
    // Help and usage errors go to this invocation's streams (a test's, when run in-process).
    .configureOutput({
      writeOut: (text) => io().stdout.write(text),
      writeErr: (text) => io().stderr.write(text),
      getOutHelpWidth: () => io().stdout.columns ?? 80,
      getErrHelpWidth: () => io().stderr.columns ?? 80,
    });
  examples(
    program,
    'tickets server start',
    'tickets signup --api-url http://127.0.0.1:3000',
    'tickets events create --name "Jazz Night" --timezone Europe/Berlin --currency EUR \\\n      --starts "2026-12-31 20:00" --ends "2027-01-01 02:00"',
    'tickets events list --json',
    'tickets sell evt_… --type GA --qty 2 --name "Bea Buyer" --email bea@example.com',
  );
  program.addHelpText(
    'after',
    '\nEnvironment:\n  TICKETS_API_URL, TICKETS_API_KEY  override the profile\n  TICKETS_PROFILE                   profile to use\n  TICKETS_CONFIG_DIR                where profiles are kept\n  NO_COLOR                          no colour\n\nExit codes: 0 ok, 1 API error (validate: refused), 2 usage error or cancelled, 3 validate: could not check, 4 not logged in.\n',
  );

  registerServer(program);
  registerAuth(program);
  registerPassword(program);
  registerConfig(program);
  registerOrgs(program);
  registerApiKeys(program);
  registerWebhooks(program);
  registerPayments(program);
  registerIntegrations(program);
  registerVouchers(program);
  registerEvents(program);
  registerTypes(program);
  registerMedia(program);
  registerTickets(program);
  registerOrders(program);
  registerRefunds(program);
  registerAudit(program);
  newReportsCommand(program);
  registerInvoices(program);
  registerAnalytics(program);
  registerMessages(program);
  registerMarketing(program);
  registerCheckin(program);
  registerDoor(program);
  newApiCommand(program);
  newCompletionCommand(program);
  return program;
}

/**
 * Runs the CLI with `streams` (the process's own by default; a test's fakes in-process); resolves to the
 * exit code. Failures are reported on stderr, never as a stack trace.
 */
export function main(argv: string[] = process.argv, streams: IO = processIO()): Promise<number> {
  return withIO(streams, async () => {
    try {
      // To try crash reporting end to end (`TICKETS_DEBUG_CRASH=1 tickets …`): a bug on purpose.
      if (io().env.TICKETS_DEBUG_CRASH)
        throw new Error(`a crash on purpose (TICKETS_DEBUG_CRASH=${io().env.TICKETS_DEBUG_CRASH})`);
      await buildProgram().parseAsync(argv);
      // A command whose answer is a refusal (`tickets validate`) sets the code without an error.
      return Number(io().exitCode ?? EXIT.ok);
    } catch (err) {
      return report(err);
    }
  });
}

async function report(err: unknown): Promise<number> {
  const ctx = Context.current;
  const style = ctx?.out.errStyle ?? new Chalk({ level: 0 });
  const say = (line: string) => io().stderr.write(`${line}\n`);
  const error = (message: string) => say(`${style.red('error:')} ${message}`);

  if (err instanceof CommanderError) {
    // Commander has already printed its message (or the help/version asked for).
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof UsageError) {
    error(err.message);
    say(style.dim(`Run '${ctx?.commandPath ?? 'tickets'} --help' for usage.`));
    return EXIT.usage;
  }
  if (err instanceof CancelledError) {
    say('Cancelled.');
    return EXIT.usage;
  }
  if (err instanceof NotLoggedInError) {
    error(err.message);
    // A hint works as printed: piped, `tickets login` alone would stop at its first question.
    say(
      io().stdin.isTTY
        ? `Run ${style.bold('tickets login')} to sign in, or set TICKETS_API_KEY.`
        : `Sign in with ${style.bold('tickets login --email <e-mail> --password-stdin < password-file')}, or set TICKETS_API_KEY.`,
    );
    return EXIT.auth;
  }
  if (err instanceof CliError) {
    error(err.message);
    return EXIT.failure;
  }
  const { TicketsError } = await import('@tickets/sdk');
  if (err instanceof TicketsError) {
    const where = [err.code, err.requestId ? `request id ${err.requestId}` : undefined]
      .filter(Boolean)
      .join(', ');
    // The server's words, printed safely (a detail can quote what a client sent). Field errors are
    // listed once, each under the flag the user typed where the command has one (the detail of a
    // validation error only repeats the first of them).
    // A 409's detail already says what is wrong with the value, in the currency (e.g. "Only €15.00 is
    // left to refund."); its field entry gives programs the limit in minor units, which the CLI never takes.
    const fields = err.status === 409 ? [] : err.errors;
    const summary = fields.length
      ? `${fields.length === 1 ? 'a value was' : `${fields.length} values were`} refused`
      : printable(err.detail);
    error(`${summary} ${style.dim(`(${printable(where)})`)}`);
    for (const field of fields)
      say(`  ${style.bold(printable(flagFor(ctx?.flags ?? [], field.path)))}: ${printable(field.message)}`);
    if (err.code === 'connection_failed')
      say(
        `Is the server running? Start one with ${style.bold('tickets server start')}, or check --api-url / TICKETS_API_URL.`,
      );
    if (err.status === 401 && ctx?.authenticated) {
      say(
        io().stdin.isTTY
          ? `Run ${style.bold('tickets login')} to sign in again.`
          : `Sign in again with ${style.bold('tickets login --email <e-mail> --password-stdin < password-file')}.`,
      );
      return EXIT.auth;
    }
    return EXIT.failure;
  }
  // A bug in the CLI: still no stack trace unless asked for.
  error(err instanceof Error ? err.message : String(err));
  if (io().env.TICKETS_DEBUG && err instanceof Error && err.stack) say(err.stack);
  const sent = await reportCrashIfAllowed(err, ctx?.commandPath);
  if (sent) say(style.dim(`A crash report was sent (${sent}); thank you.`));
  return EXIT.failure;
}

/**
 * Sends a crash of the CLI to Sentry when the user opted in (`tickets config set telemetry on`) and
 * TICKETS_TELEMETRY_DSN names where; scrubbed of secrets by the server package's reporter. Never fails
 * the command: a report that cannot be sent is not reported.
 */
async function reportCrashIfAllowed(err: unknown, command: string | undefined): Promise<string | null> {
  const dsn = io().env.TICKETS_TELEMETRY_DSN;
  if (!dsn) return null;
  try {
    const { ConfigStore } = await import('./config.js');
    if (!(await ConfigStore.open()).telemetry) return null;
    const { reportCrash } = await import('@tickets/server');
    return await reportCrash(err, {
      dsn,
      release: `tickets-cli@${version()}`,
      tags: { command: command ?? 'tickets', node: process.version },
    });
  } catch {
    return null;
  }
}

/** API fields whose flag is not simply their name in kebab case. */
const FLAG_OF: Record<string, string> = {
  quantity: '--qty',
  ticket_type: '--type',
  starts_at: '--starts',
  ends_at: '--ends',
  organization_name: '--org-name',
  max_per_order: '--max',
  min_per_order: '--min',
  holders: '--holder',
  scopes: '--scope',
  ticket_type_ids: '--types',
};

/**
 * The flag that set an API field (`items.0.quantity` → `--qty`, `buyer.email` → `--email`), when the
 * running command has it; else the field's path as the API names it.
 */
export function flagFor(flags: readonly string[], path: string): string {
  const segments = path.split('.').filter((s) => s !== '' && !/^\d+$/.test(s));
  for (let i = segments.length - 1; i >= 0; i--) {
    const name = segments[i]!;
    for (const flag of [FLAG_OF[name], `--${name.replaceAll('_', '-')}`])
      if (flag && flags.includes(flag)) return flag;
  }
  return path || '(body)';
}
