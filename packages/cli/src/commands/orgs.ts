import type { Role } from '@tickets/sdk';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { NotLoggedInError, UsageError } from '../errors.js';
import { examples, listCommand } from '../help.js';
import { io } from '../io.js';
import { confirmAction } from '../prompt.js';

const ROLES = ['owner', 'admin', 'staff'] as const;
const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '');

export function registerOrgs(program: Command): void {
  const orgs = program.command('orgs').description('Your organization, its members and invitations');
  examples(orgs, 'tickets orgs show', 'tickets orgs members invite sam@example.com --role staff');

  examples(
    orgs
      .command('show')
      .description('Show the organization you act in')
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const org = await ctx.out.spin('Loading…', client.orgs.get());
        await ctx.out.result(org, (o) =>
          ctx.out.details([
            ['ID', o.id],
            ['Name', o.name],
            ['Created', o.created_at],
          ]),
        );
      }),
    'tickets orgs show',
  );

  const members = orgs.command('members').description('People in the organization, and their roles');
  examples(members, 'tickets orgs members list', 'tickets orgs members set-role usr_… admin');

  examples(
    listCommand(members, {
      description: 'List members',
      fetch: (client) => client.orgs.listMembers({ limit: 100 }),
      head: ['USER', 'NAME', 'E-MAIL', 'ROLE', 'JOINED'],
      row: (m) => [m.user.id, m.user.name, m.user.email, m.role, day(m.joined_at)],
    }),
    'tickets orgs members list',
    'tickets orgs members list --json',
  );

  examples(
    members
      .command('invite')
      .description('Invite someone: they are e-mailed the token they join with (also printed here)')
      .argument('<email>', 'their e-mail address')
      .addOption(new Option('--role <role>', 'their role').choices(ROLES).default('staff'))
      .action(async (email: string, o: { role: Role }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const invitation = await ctx.out.spin('Inviting…', client.orgs.invite({ email, role: o.role }));
        await ctx.out.result(invitation, (i) => {
          ctx.out.details([
            ['ID', i.id],
            ['E-mail', i.email],
            ['Role', i.role],
            ['Expires', i.expires_at],
            ['Token', i.token],
          ]);
          ctx.out.info(`\nAn invitation is on its way to ${i.email}, with this token. They join with:`);
          ctx.out.info(`  tickets signup --invitation ${i.token}        (new to tickets)`);
          ctx.out.info(`  tickets orgs members accept ${i.token}  (already have an account)`);
        });
      }),
    'tickets orgs members invite sam@example.com',
    'tickets orgs members invite lee@example.com --role admin --json',
  );

  examples(
    members
      .command('accept')
      .description('Join the organization that invited you (log in as the invited e-mail first)')
      .argument('<token>', 'the invitation token')
      .action(async (token: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const membership = await ctx.out.spin('Joining…', client.orgs.acceptInvitation(token));
        await ctx.out.result(membership, (m) => {
          ctx.out.success(`Joined ${m.organization.name} (${m.organization.id}) as ${m.role}.`);
          ctx.out.info(`To act in it: tickets orgs switch ${m.organization.id}`);
        });
      }),
    'tickets orgs members accept 8Jd2…',
  );

  examples(
    orgs
      .command('switch')
      .description('Act in another organization you belong to (the session moves; no password asked)')
      .argument('<org>', 'the organization (org_…; `tickets whoami` lists yours)', (value: string) => {
        if (!/^org_\w+$/.test(value)) throw new InvalidArgumentError('Expected an organization id (org_…).');
        return value;
      })
      .action(async (orgId: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const profile = await ctx.profile();
        if (profile.api_key || io().env.TICKETS_API_KEY)
          throw new UsageError('an API key belongs to one organization: log in with your e-mail to switch');
        const client = await ctx.client();
        if (!profile.refresh_token) throw new NotLoggedInError('no session to switch: log in first');
        const session = await ctx.out.spin('Switching…', client.auth.refresh(profile.refresh_token, orgId));
        const view = { user: session.user, organization: session.organization, role: session.role };
        await ctx.out.result(view, () =>
          ctx.out.success(
            `Now acting in ${session.organization.name} (${session.organization.id}) as ${session.role}.`,
          ),
        );
      }),
    'tickets orgs switch org_…',
  );

  examples(
    members
      .command('set-role')
      .description("Change a member's role")
      .argument('<user-id>', 'the member (usr_…)')
      .addArgument(new Argument('<role>', 'new role').choices(ROLES))
      .action(async (userId: string, role: Role, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const member = await ctx.out.spin('Updating…', client.orgs.updateMember(userId, role));
        await ctx.out.result(member, (m) =>
          ctx.out.success(`${m.user.name} <${m.user.email}> is now ${m.role}.`),
        );
      }),
    'tickets orgs members set-role usr_01jd6x3k7qf0v8c6w2x9yq4e5b admin',
  );

  examples(
    members
      .command('remove')
      .description('Remove a member from the organization')
      .argument('<user-id>', 'the member (usr_…)')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (userId: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        await confirmAction(o.yes, `Remove ${userId} from the organization?`);
        await ctx.out.spin('Removing…', client.orgs.removeMember(userId));
        await ctx.out.result({ id: userId, object: 'member', deleted: true }, () =>
          ctx.out.success(`Removed ${userId}.`),
        );
      }),
    'tickets orgs members remove usr_01jd6x3k7qf0v8c6w2x9yq4e5b --yes',
  );

  const invitations = orgs.command('invitations').description('Invitations the organization has sent');
  examples(invitations, 'tickets orgs invitations list');

  examples(
    listCommand(invitations, {
      description: 'List invitations',
      fetch: (client) => client.orgs.listInvitations({ limit: 100 }),
      head: ['ID', 'E-MAIL', 'ROLE', 'STATUS', 'EXPIRES'],
      row: (i) => [i.id, i.email, i.role, i.status, day(i.expires_at)],
    }),
    'tickets orgs invitations list --json',
  );

  examples(
    invitations
      .command('revoke')
      .description('Revoke a pending invitation')
      .argument('<id>', 'the invitation (inv_…)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const invitation = await ctx.out.spin('Revoking…', client.orgs.revokeInvitation(id));
        await ctx.out.result(invitation, (i) => ctx.out.success(`Revoked the invitation of ${i.email}.`));
      }),
    'tickets orgs invitations revoke inv_01jd6x3k7qf0v8c6w2x9yq4e5b',
  );
}
