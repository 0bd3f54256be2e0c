import type { Role } from '@tickets/sdk';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, NotLoggedInError, UsageError } from '../errors.js';
import { confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, listCommand, NONE, orNull } from '../help.js';
import { io } from '../io.js';

const ROLES = ['owner', 'admin', 'staff'] as const;
const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : '');

type Run<O> = (f: Factory, o: O) => Promise<number>;

export type OrgShowOptions = Record<string, never>;

export interface MemberInviteOptions {
  email: string;
  role: Role;
}

export interface MemberAcceptOptions {
  token: string;
}

export interface OrgSwitchOptions {
  /** The organization to act in (org_…). */
  org: string;
}

export interface MemberSetRoleOptions {
  userId: string;
  role: Role;
}

export interface MemberRemoveOptions {
  userId: string;
  yes: boolean;
}

export interface InvitationRevokeOptions {
  id: string;
}

/** `tickets orgs`: the group, its members and invitations, and each of their commands. */
export function registerOrgs(program: Command): void {
  const orgs = program.command('orgs').description('Your organization, its members and invitations');
  examples(orgs, 'tickets orgs show', 'tickets orgs members invite sam@example.com --role staff');
  newOrgShowCommand(orgs);
  newOrgUpdateCommand(orgs);

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
  newMemberInviteCommand(members);
  newMemberAcceptCommand(members);
  newOrgSwitchCommand(orgs);
  newMemberSetRoleCommand(members);
  newMemberRemoveCommand(members);

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
  newInvitationRevokeCommand(invitations);
}

/** `tickets orgs show`. */
export function newOrgShowCommand(orgs: Command, run: Run<OrgShowOptions> = orgShowRun): Command {
  const command = orgs
    .command('show')
    .description('Show the organization you act in')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets orgs show');
}

export async function orgShowRun(f: Factory, _o: OrgShowOptions): Promise<number> {
  const client = await f.client();
  const org = await f.out.spin('Loading…', client.orgs.get());
  await f.out.result(org, (o) =>
    f.out.details([
      ['ID', o.id],
      ['Name', o.name],
      ['Contact', o.contact_email ?? "(the owner's address)"],
      ['Created', o.created_at],
    ]),
  );
  return EXIT.ok;
}

export interface OrgUpdateOptions {
  name?: string;
  /** `none` goes back to the owner's address. */
  contactEmail?: string;
}

/** `tickets orgs update`: the organization's name, and the address buyers' replies go to. */
export function newOrgUpdateCommand(orgs: Command, run: Run<OrgUpdateOptions> = orgUpdateRun): Command {
  const command = orgs
    .command('update')
    .description(
      'Rename the organization, or set its contact address (the Reply-To of every e-mail it sends)',
    )
    .option('--name <name>', 'its name')
    .option('--contact-email <email>', `where buyers' replies go ("${NONE}": the first owner's address)`)
    .action(async (flags: OrgUpdateOptions, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), flags);
    });
  return examples(
    command,
    'tickets orgs update --contact-email hello@bluenote.example',
    'tickets orgs update --name "Blue Note Events" --json',
  );
}

export async function orgUpdateRun(f: Factory, o: OrgUpdateOptions): Promise<number> {
  if (o.name === undefined && o.contactEmail === undefined)
    throw new UsageError('nothing to change: give --name or --contact-email');
  const client = await f.client();
  const org = await f.out.spin(
    'Saving…',
    client.orgs.update({
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.contactEmail !== undefined ? { contact_email: orNull(o.contactEmail) } : {}),
    }),
  );
  await f.out.result(org, (x) => {
    f.out.success(`Saved. Replies to its e-mails go to ${x.contact_email ?? "the owner's address"}.`);
  });
  return EXIT.ok;
}

/** `tickets orgs members invite <email>`. */
export function newMemberInviteCommand(
  members: Command,
  run: Run<MemberInviteOptions> = memberInviteRun,
): Command {
  const command = members
    .command('invite')
    .description('Invite someone: they are e-mailed the token they join with (also printed here)')
    .argument('<email>', 'their e-mail address')
    .addOption(new Option('--role <role>', 'their role').choices(ROLES).default('staff'))
    .action(async (email: string, flags: { role: Role }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { email, role: flags.role });
    });
  return examples(
    command,
    'tickets orgs members invite sam@example.com',
    'tickets orgs members invite lee@example.com --role admin --json',
  );
}

export async function memberInviteRun(f: Factory, o: MemberInviteOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const invitation = await out.spin('Inviting…', client.orgs.invite({ email: o.email, role: o.role }));
  await out.result(invitation, (i) => {
    out.details([
      ['ID', i.id],
      ['E-mail', i.email],
      ['Role', i.role],
      ['Expires', i.expires_at],
      ['Token', i.token],
    ]);
    out.info(`\nAn invitation is on its way to ${i.email}, with this token. They join with:`);
    out.info(`  tickets signup --invitation ${i.token}        (new to tickets)`);
    out.info(`  tickets orgs members accept ${i.token}  (already have an account)`);
  });
  return EXIT.ok;
}

/** `tickets orgs members accept <token>`. */
export function newMemberAcceptCommand(
  members: Command,
  run: Run<MemberAcceptOptions> = memberAcceptRun,
): Command {
  const command = members
    .command('accept')
    .description('Join the organization that invited you (log in as the invited e-mail first)')
    .argument('<token>', 'the invitation token')
    .action(async (token: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { token });
    });
  return examples(command, 'tickets orgs members accept 8Jd2…');
}

export async function memberAcceptRun(f: Factory, o: MemberAcceptOptions): Promise<number> {
  const client = await f.client();
  const membership = await f.out.spin('Joining…', client.orgs.acceptInvitation(o.token));
  await f.out.result(membership, (m) => {
    f.out.success(`Joined ${m.organization.name} (${m.organization.id}) as ${m.role}.`);
    f.out.info(`To act in it: tickets orgs switch ${m.organization.id}`);
  });
  return EXIT.ok;
}

/** `tickets orgs switch <org>`. */
export function newOrgSwitchCommand(orgs: Command, run: Run<OrgSwitchOptions> = orgSwitchRun): Command {
  const command = orgs
    .command('switch')
    .description('Act in another organization you belong to (the session moves; no password asked)')
    .argument('<org>', 'the organization (org_…; `tickets whoami` lists yours)', (value: string) => {
      if (!/^org_\w+$/.test(value)) throw new InvalidArgumentError('Expected an organization id (org_…).');
      return value;
    })
    .action(async (org: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { org });
    });
  return examples(command, 'tickets orgs switch org_…');
}

/** Moves the session to another organization of the user's; an API key cannot move. */
export async function orgSwitchRun(f: Factory, o: OrgSwitchOptions): Promise<number> {
  const profile = await f.ctx.profile();
  if (profile.api_key || f.io.env.TICKETS_API_KEY)
    throw new UsageError('an API key belongs to one organization: log in with your e-mail to switch');
  const client = await f.client();
  if (!profile.refresh_token) throw new NotLoggedInError('no session to switch: log in first');
  const session = await f.out.spin('Switching…', client.auth.refresh(profile.refresh_token, o.org));
  const view = { user: session.user, organization: session.organization, role: session.role };
  await f.out.result(view, () =>
    f.out.success(
      `Now acting in ${session.organization.name} (${session.organization.id}) as ${session.role}.`,
    ),
  );
  return EXIT.ok;
}

/** `tickets orgs members set-role <user-id> <role>`. */
export function newMemberSetRoleCommand(
  members: Command,
  run: Run<MemberSetRoleOptions> = memberSetRoleRun,
): Command {
  const command = members
    .command('set-role')
    .description("Change a member's role")
    .argument('<user-id>', 'the member (usr_…)')
    .addArgument(new Argument('<role>', 'new role').choices(ROLES))
    .action(async (userId: string, role: Role, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { userId, role });
    });
  return examples(command, 'tickets orgs members set-role usr_01jd6x3k7qf0v8c6w2x9yq4e5b admin');
}

export async function memberSetRoleRun(f: Factory, o: MemberSetRoleOptions): Promise<number> {
  const client = await f.client();
  const member = await f.out.spin('Updating…', client.orgs.updateMember(o.userId, o.role));
  await f.out.result(member, (m) => f.out.success(`${m.user.name} <${m.user.email}> is now ${m.role}.`));
  return EXIT.ok;
}

/** `tickets orgs members remove <user-id>`. */
export function newMemberRemoveCommand(
  members: Command,
  run: Run<MemberRemoveOptions> = memberRemoveRun,
): Command {
  const command = members
    .command('remove')
    .description('Remove a member from the organization')
    .argument('<user-id>', 'the member (usr_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (userId: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { userId, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets orgs members remove usr_01jd6x3k7qf0v8c6w2x9yq4e5b --yes');
}

/** Removes a member, once confirmed (or with --yes). */
export async function memberRemoveRun(f: Factory, o: MemberRemoveOptions): Promise<number> {
  const client = await f.client();
  await confirmFor(f, o.yes, `Remove ${o.userId} from the organization?`);
  await f.out.spin('Removing…', client.orgs.removeMember(o.userId));
  await f.out.result({ id: o.userId, object: 'member', deleted: true }, () =>
    f.out.success(`Removed ${o.userId}.`),
  );
  return EXIT.ok;
}

/** `tickets orgs invitations revoke <id>`. */
export function newInvitationRevokeCommand(
  invitations: Command,
  run: Run<InvitationRevokeOptions> = invitationRevokeRun,
): Command {
  const command = invitations
    .command('revoke')
    .description('Revoke a pending invitation')
    .argument('<id>', 'the invitation (inv_…)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets orgs invitations revoke inv_01jd6x3k7qf0v8c6w2x9yq4e5b');
}

export async function invitationRevokeRun(f: Factory, o: InvitationRevokeOptions): Promise<number> {
  const client = await f.client();
  const invitation = await f.out.spin('Revoking…', client.orgs.revokeInvitation(o.id));
  await f.out.result(invitation, (i) => f.out.success(`Revoked the invitation of ${i.email}.`));
  return EXIT.ok;
}
