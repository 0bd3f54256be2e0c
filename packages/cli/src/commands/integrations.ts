import type { GoogleAnalyticsSettings } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import { readStdin } from '../prompt.js';

type Run<O> = (f: Factory, o: O) => Promise<number>;

export interface GaSetOptions {
  measurementId: string;
  apiSecret?: string;
  apiSecretStdin: boolean;
  disable: boolean;
}

const measurementId = (v: string) => {
  if (!/^G-[A-Z0-9]{4,20}$/.test(v))
    throw new InvalidArgumentError(`Expected a GA4 measurement id (G-…), got "${v}".`);
  return v;
};

function showSettings(f: Factory, s: GoogleAnalyticsSettings): void {
  f.out.details([
    ['Measurement id', s.measurement_id ?? '(not set up: nothing is sent)'],
    ['API secret', s.api_secret_last4 ? `…${s.api_secret_last4}` : ''],
    ['Sending', s.measurement_id ? (s.enabled ? 'yes' : 'no (turned off)') : 'no'],
    ['Events', s.events.join(', ')],
  ]);
}

/** `tickets integrations ga set`: the stream and its Measurement Protocol API secret (stdin, a prompt, or the flag). */
export async function gaSetRun(f: Factory, o: GaSetOptions): Promise<number> {
  if (o.apiSecret && o.apiSecretStdin) throw new UsageError('use either --api-secret or --api-secret-stdin');
  const typed = o.apiSecretStdin ? await readStdin(f.io.stdin) : o.apiSecret;
  const secret = await askFor(f, typed, {
    flag: '--api-secret',
    message: 'Measurement Protocol API secret (Admin → Data streams → your stream)',
    secret: true,
  });
  const client = await f.client();
  const saved = await f.out.spin(
    'Saving…',
    client.integrations.googleAnalytics.set({
      measurement_id: o.measurementId,
      api_secret: secret,
      enabled: !o.disable,
    }),
  );
  await f.out.result(saved, () => {
    showSettings(f, saved);
    if (saved.enabled) f.out.info('Check it with: tickets integrations ga test');
  });
  return EXIT.ok;
}

export async function gaShowRun(f: Factory): Promise<number> {
  const client = await f.client();
  const s = await f.out.spin('Loading…', client.integrations.googleAnalytics.get());
  await f.out.result(s, () => showSettings(f, s));
  return EXIT.ok;
}

/** `tickets integrations ga test`: GA4's validation server's verdict on a sample purchase; exit 1 when invalid. */
export async function gaTestRun(f: Factory): Promise<number> {
  const client = await f.client();
  const r = await f.out.spin('Asking Google Analytics…', client.integrations.googleAnalytics.test());
  await f.out.result(r, async () => {
    if (r.valid) {
      f.out.success('Google Analytics accepts a sample purchase from this stream.');
      return;
    }
    f.out.warn("Google Analytics' validation server found problems:");
    await f.out.table(
      ['FIELD', 'CODE', 'DESCRIPTION'],
      r.validation_messages.map((m) => [m.field_path, m.validation_code, m.description]),
    );
  });
  return r.valid ? EXIT.ok : EXIT.failure;
}

export async function gaRemoveRun(f: Factory, o: { yes: boolean }): Promise<number> {
  await confirmFor(f, o.yes, 'Stop sending to Google Analytics and forget its settings?');
  const client = await f.client();
  const s = await f.out.spin('Removing…', client.integrations.googleAnalytics.delete());
  await f.out.result(s, () => f.out.success('Google Analytics removed: nothing more is sent.'));
  return EXIT.ok;
}

/** `tickets integrations`: where the organization's events go besides tickets. */
export function registerIntegrations(program: Command, run: { set?: Run<GaSetOptions> } = {}): void {
  const integrations = program
    .command('integrations')
    .description("Send the organization's sales to other systems (Google Analytics 4)");
  examples(
    integrations,
    'tickets integrations ga set --measurement-id G-ABC123XYZ9',
    'tickets integrations ga test',
  );
  const ga = integrations
    .command('ga')
    .description('Google Analytics 4: purchases, refunds, checkouts and check-ins, sent server-side');
  examples(
    ga,
    'tickets integrations ga set --measurement-id G-ABC123XYZ9 --api-secret-stdin < secret.txt',
    'tickets integrations ga show',
    'tickets integrations ga test',
  );
  examples(
    ga
      .command('set')
      .description('Send to a GA4 web stream (its measurement id and Measurement Protocol API secret)')
      .requiredOption('--measurement-id <id>', 'the stream (G-…)', measurementId)
      .option(
        '--api-secret <secret>',
        'the Measurement Protocol API secret (prefer the prompt or --api-secret-stdin)',
      )
      .option('--api-secret-stdin', 'read the API secret from stdin')
      .option('--disable', 'keep the settings but send nothing')
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        io().exitCode = await (run.set ?? gaSetRun)(factoryOf(Context.of(cmd)), {
          measurementId: flags.measurementId as string,
          apiSecret: flags.apiSecret as string | undefined,
          apiSecretStdin: Boolean(flags.apiSecretStdin),
          disable: Boolean(flags.disable),
        });
      }),
    'tickets integrations ga set --measurement-id G-ABC123XYZ9',
    'tickets integrations ga set --measurement-id G-ABC123XYZ9 --api-secret-stdin < secret.txt --disable',
  );
  examples(
    ga
      .command('show')
      .description('Where events go (the API secret is never shown)')
      .action(async (_flags: unknown, cmd: Command) => {
        io().exitCode = await gaShowRun(factoryOf(Context.of(cmd)));
      }),
    'tickets integrations ga show --json',
  );
  examples(
    ga
      .command('test')
      .description(
        "Send a sample purchase to GA4's validation server and print its messages (exit 1 when invalid)",
      )
      .action(async (_flags: unknown, cmd: Command) => {
        io().exitCode = await gaTestRun(factoryOf(Context.of(cmd)));
      }),
    'tickets integrations ga test',
  );
  examples(
    ga
      .command('remove')
      .description('Stop sending and forget the settings')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (flags: { yes?: boolean }, cmd: Command) => {
        io().exitCode = await gaRemoveRun(factoryOf(Context.of(cmd)), { yes: Boolean(flags.yes) });
      }),
    'tickets integrations ga remove --yes',
  );
}
