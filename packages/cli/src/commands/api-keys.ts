import type { ApiKeyScope } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { examples, listCommand } from '../help.js';
import { ask, confirmAction } from '../prompt.js';

const SCOPES = ['full', 'checkin'] as const;
const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '');

export function registerApiKeys(program: Command): void {
  const keys = program.command('api-keys').description('Long-lived keys for scripts and door devices');
  examples(keys, 'tickets api-keys create --name "Door 1" --scope checkin', 'tickets api-keys list');

  examples(
    keys
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
      .action(async (o: { name?: string; scope: ApiKeyScope[] }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const name = await ask(o.name, { flag: '--name', message: 'Key name' });
        const key = await ctx.out.spin('Creating…', client.apiKeys.create({ name, scopes: o.scope }));
        await ctx.out.result(key, (k) => {
          ctx.out.details([
            ['ID', k.id],
            ['Name', k.name],
            ['Scopes', k.scopes.join(', ')],
            ['Secret', k.secret],
          ]);
          ctx.out.warn('Save the secret now: it is not shown again.');
        });
      }),
    'tickets api-keys create --name "CI deploys"',
    'tickets api-keys create --name "Door 1" --scope checkin --json | jq -r .secret',
  );

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

  examples(
    keys
      .command('revoke')
      .description('Revoke a key at once; anything using it stops working')
      .argument('<id>', 'the key (key_…)')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        await confirmAction(o.yes, `Revoke API key ${id}? Anything using it stops working.`);
        const key = await ctx.out.spin('Revoking…', client.apiKeys.revoke(id));
        await ctx.out.result(key, (k) => ctx.out.success(`Revoked API key "${k.name}" (${k.id}).`));
      }),
    'tickets api-keys revoke key_01jd6x3k7qf0v8c6w2x9yq4e5b --yes',
  );
}
