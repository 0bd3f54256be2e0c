import type { ApiKeyScope } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { askFor, confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, listCommand } from '../help.js';
import { io } from '../io.js';

const SCOPES = ['full', 'checkin'] as const;
const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '');

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** What `tickets api-keys create` was asked to do, once its flags are read. */
export interface ApiKeyCreateOptions {
  /** What the key is for; asked on a terminal. */
  name?: string;
  scopes: ApiKeyScope[];
}

export interface ApiKeyRevokeOptions {
  id: string;
  yes: boolean;
}

/** `tickets api-keys`: the group and each of its commands. */
export function registerApiKeys(program: Command): void {
  const keys = program.command('api-keys').description('Long-lived keys for scripts and door devices');
  examples(keys, 'tickets api-keys create --name "Door 1" --scope checkin', 'tickets api-keys list');
  newApiKeyCreateCommand(keys);

  examples(
    listCommand(keys, {
      description: "List the organization's keys (never their secrets)",
      fetch: (client) => client.apiKeys.list({ limit: 100 }),
      head: ['ID', 'NAME', 'SCOPES', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'],
      row: (k) => [
        k.id,
        k.name,
        k.scopes.join(','),
        `${k.prefix}…`,
        day(k.created_at),
        day(k.last_used_at),
        day(k.revoked_at),
      ],
      // A key whose creator has left no longer works (a key never does more than its creator may).
      after: async (f, list) => {
        const live = list.filter((k) => !k.revoked_at && k.created_by);
        if (!live.length) return;
        const client = await f.client();
        const members = await client.orgs
          .listMembers({ limit: 100 })
          .toArray({ limit: 10_000 })
          .catch(() => null);
        if (!members) return;
        const present = new Set(members.map((m) => m.user.id));
        for (const k of live)
          if (!present.has(k.created_by as string))
            f.out.warn(
              `${k.id} (${k.name}): whoever created it is no longer a member, so it no longer works; revoke it and create a new one.`,
            );
      },
    }),
    'tickets api-keys list',
  );

  newApiKeyRevokeCommand(keys);
}

/** `tickets api-keys create`: its flags become ApiKeyCreateOptions for `run` (apiKeyCreateRun). */
export function newApiKeyCreateCommand(
  keys: Command,
  run: Run<ApiKeyCreateOptions> = apiKeyCreateRun,
): Command {
  const command = keys
    .command('create')
    .description('Create a key; its secret is shown this once')
    .option('--name <name>', 'what the key is for')
    .addOption(
      new Option(
        '--scope <scope...>',
        'what it may do: full (admin rights) or checkin (validate tickets only)',
      )
        .choices(SCOPES)
        .default(['full']),
    )
    .action(async (flags: { name?: string; scope: ApiKeyScope[] }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { name: flags.name, scopes: flags.scope });
    });
  return examples(
    command,
    'tickets api-keys create --name "CI deploys"',
    'tickets api-keys create --name "Door 1" --scope checkin --json | jq -r .secret',
  );
}

/** Creates a key and shows its secret, this once; the name is asked on a terminal. */
export async function apiKeyCreateRun(f: Factory, o: ApiKeyCreateOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const name = await askFor(f, o.name, { flag: '--name', message: 'Key name' });
  const key = await out.spin('Creating…', client.apiKeys.create({ name, scopes: o.scopes }));
  await out.result(key, (k) => {
    out.details([
      ['ID', k.id],
      ['Name', k.name],
      ['Scopes', k.scopes.join(', ')],
      ['Secret', k.secret],
    ]);
    out.warn('Save the secret now: it is not shown again.');
  });
  return EXIT.ok;
}

/** `tickets api-keys revoke <id>`. */
export function newApiKeyRevokeCommand(
  keys: Command,
  run: Run<ApiKeyRevokeOptions> = apiKeyRevokeRun,
): Command {
  const command = keys
    .command('revoke')
    .description('Revoke a key at once; anything using it stops working')
    .argument('<id>', 'the key (key_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets api-keys revoke key_01jd6x3k7qf0v8c6w2x9yq4e5b --yes');
}

/** Revokes a key at once, once confirmed (or with --yes). */
export async function apiKeyRevokeRun(f: Factory, o: ApiKeyRevokeOptions): Promise<number> {
  const client = await f.client();
  await confirmFor(f, o.yes, `Revoke API key ${o.id}? Anything using it stops working.`);
  const key = await f.out.spin('Revoking…', client.apiKeys.revoke(o.id));
  await f.out.result(key, (k) => f.out.success(`Revoked API key "${k.name}" (${k.id}).`));
  return EXIT.ok;
}
