import type { Invitation, InvitationCreateInput, Member, Membership, Organization, Role } from '@tickets/sdk';
import type { Transaction } from 'kysely';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Database, InvitationRow } from '../../db/schema.js';
import { storeOf } from '../../db/store.js';
import type { Principal } from '../../http/app.js';
import { conflict, forbidden, notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { addSeconds, nowIso } from '../../time.js';
import { changed, recordAudit } from '../audit/log.js';
import { notifyQueued, queueMessages } from '../messaging/outbox.js';
import { accountToken } from './account-tokens.js';
import { asMember, forgetMembership, type Via } from './auth.js';
import { sha256 } from './secrets.js';
import { organizationView, userView } from './views.js';

const INVITATION_TTL = 7 * 24 * 3600;

function invitationView(row: InvitationRow, now: string, token?: string): Invitation {
  const status = row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status;
  return {
    id: row.id,
    object: 'invitation',
    email: row.email,
    role: row.role,
    status,
    created_at: row.created_at,
    expires_at: row.expires_at,
    ...(token ? { token } : {}),
  };
}

/** Owners may do anything; admins may not touch owners or make anyone an owner. */
function assertMayAssign(actor: Principal, role: Role, currentRole?: Role): void {
  const actorRole = actor.kind === 'user' ? actor.role : 'admin';
  if (actorRole === 'owner') return;
  if (role === 'owner' || currentRole === 'owner')
    throw forbidden('Only an owner can grant, change or remove the owner role.', 'owner_required');
}

export class Members {
  constructor(private readonly db: Db) {}
  private get k() {
    return this.db.kysely;
  }

  async organization(orgId: string): Promise<Organization> {
    return organizationView(
      await this.k.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow(),
    );
  }

  async updateOrganization(
    actor: Principal,
    patch: { name?: string; contact_email?: string | null },
  ): Promise<Organization> {
    const orgId = actor.orgId;
    const changes: { name?: string; contact_email?: string | null } = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.contact_email !== undefined) changes.contact_email = patch.contact_email;
    await this.k.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('organizations')
        .select(['name', 'contact_email'])
        .where('id', '=', orgId)
        .executeTakeFirstOrThrow();
      await trx.updateTable('organizations').set(changes).where('id', '=', orgId).execute();
      const diff = changed(current, changes);
      if (diff) await recordAudit(trx, { orgId, by: actor, action: 'org.updated', subject: orgId, ...diff });
    });
    return this.organization(orgId);
  }

  async list(orgId: string, opts: { limit?: number; starting_after?: string }) {
    const limit = opts.limit ?? DEFAULT_LIMIT;
    const after = opts.starting_after ? decodeCursor(opts.starting_after, 2) : null;
    const rows = await this.k
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select([
        'users.id',
        'users.email',
        'users.name',
        'users.created_at',
        'memberships.role',
        'memberships.created_at as joined_at',
      ])
      .where('memberships.org_id', '=', orgId)
      .$if(after !== null, (q) =>
        q.where((eb) =>
          eb.or([
            eb('memberships.created_at', '>', String(after![0])),
            eb.and([
              eb('memberships.created_at', '=', String(after![0])),
              eb('users.id', '>', String(after![1])),
            ]),
          ]),
        ),
      )
      .orderBy('memberships.created_at')
      .orderBy('users.id')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.joined_at, r.id],
      (r): Member => ({ object: 'member', user: userView(r), role: r.role, joined_at: r.joined_at }),
    );
  }

  private async member(orgId: string, userId: string) {
    const row = await this.k
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select([
        'users.id',
        'users.email',
        'users.name',
        'users.created_at',
        'memberships.role',
        'memberships.created_at as joined_at',
      ])
      .where('memberships.org_id', '=', orgId)
      .where('memberships.user_id', '=', userId)
      .executeTakeFirst();
    if (!row) throw notFound('member');
    return row;
  }

  async updateRole(actor: Principal, userId: string, role: Role): Promise<Member> {
    const current = await this.member(actor.orgId, userId);
    assertMayAssign(actor, role, current.role);
    await this.k.transaction().execute(async (trx) => {
      if (current.role === 'owner' && role !== 'owner') await this.assertNotLastOwner(trx, actor.orgId);
      await trx
        .updateTable('memberships')
        .set({ role })
        .where('org_id', '=', actor.orgId)
        .where('user_id', '=', userId)
        .execute();
      const diff = changed({ role: current.role }, { role });
      if (diff)
        await recordAudit(trx, {
          orgId: actor.orgId,
          by: actor,
          action: 'member.role_changed',
          subject: userId,
          ...diff,
          data: { email: current.email },
        });
    });
    forgetMembership(actor.orgId, userId);
    return { object: 'member', user: userView(current), role, joined_at: current.joined_at };
  }

  async remove(actor: Principal, userId: string) {
    const current = await this.member(actor.orgId, userId);
    assertMayAssign(actor, current.role, current.role);
    await this.k.transaction().execute(async (trx) => {
      if (current.role === 'owner') await this.assertNotLastOwner(trx, actor.orgId);
      await trx
        .deleteFrom('memberships')
        .where('org_id', '=', actor.orgId)
        .where('user_id', '=', userId)
        .execute();
      // Their keys for it are revoked (the owner may issue new ones) …
      const keys = await trx
        .updateTable('api_keys')
        .set({ revoked_at: nowIso() })
        .where('org_id', '=', actor.orgId)
        .where('created_by', '=', userId)
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute();
      // … and their sessions for this organization end with it.
      await trx
        .updateTable('refresh_tokens')
        .set({ revoked_at: nowIso() })
        .where('org_id', '=', actor.orgId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .execute();
      await recordAudit(trx, {
        orgId: actor.orgId,
        by: actor,
        action: 'member.removed',
        subject: userId,
        before: { role: current.role },
        data: { email: current.email, api_keys_revoked: keys.map((k) => k.id) },
      });
    });
    forgetMembership(actor.orgId, userId);
    return { id: userId, object: 'member', deleted: true as const };
  }

  /**
   * Called inside the transaction that takes an owner role away. On Postgres the owners' rows are locked,
   * so two owners stepping down at once queue here and the second sees the first's change (on SQLite,
   * Kysely runs one transaction at a time on its single connection).
   */
  private async assertNotLastOwner(trx: Transaction<Database>, orgId: string): Promise<void> {
    const owners = await trx
      .selectFrom('memberships')
      .select('user_id')
      .where('org_id', '=', orgId)
      .where('role', '=', 'owner')
      .$call((q) => storeOf(this.db).forUpdate(q))
      .execute();
    if (owners.length <= 1)
      throw conflict('last_owner', 'An organization needs an owner; make someone else owner first.');
  }

  async invite(
    actor: Principal,
    input: InvitationCreateInput & { email: string; role: Role },
  ): Promise<Invitation> {
    assertMayAssign(actor, input.role);
    const existing = await this.k
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select('users.id')
      .where('memberships.org_id', '=', actor.orgId)
      .where('users.email', '=', input.email)
      .executeTakeFirst();
    if (existing) throw conflict('already_member', `${input.email} is already a member.`);
    const now = nowIso();
    const id = newId('invitation');
    // Derived from the id, so the worker can write it into the invitation e-mail without the outbox
    // holding it (see account-tokens.ts).
    const token = await accountToken(this.db, 'invitation', id);
    const row: InvitationRow = {
      id,
      org_id: actor.orgId,
      email: input.email,
      role: input.role,
      token_hash: sha256(token),
      status: 'pending',
      invited_by: actor.kind === 'user' ? actor.userId : null,
      created_at: now,
      expires_at: addSeconds(now, INVITATION_TTL),
      accepted_at: null,
    };
    await this.k.transaction().execute(async (trx) => {
      // A new invitation replaces any pending one for the same address.
      await trx
        .updateTable('invitations')
        .set({ status: 'revoked' })
        .where('org_id', '=', actor.orgId)
        .where('email', '=', input.email)
        .where('status', '=', 'pending')
        .execute();
      await trx.insertInto('invitations').values(row).execute();
      await recordAudit(trx, {
        orgId: actor.orgId,
        by: actor,
        action: 'member.invited',
        subject: id,
        data: { email: input.email, role: input.role },
      });
      // The invitee is told by e-mail (with the token and who invited them), through the outbox.
      await queueMessages(trx, actor.orgId, [
        { template: 'invitation', channel: 'email', recipient: input.email, payload: { invitation_id: id } },
      ]);
    });
    notifyQueued(this.db);
    return invitationView(row, now, token);
  }

  async listInvitations(orgId: string, opts: { limit?: number; starting_after?: string }) {
    const { limit, before } = newestFirst(opts);
    const rows = await this.k
      .selectFrom('invitations')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const now = nowIso();
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => invitationView(r, now),
    );
  }

  async revokeInvitation(actor: Principal, id: string): Promise<Invitation> {
    const orgId = actor.orgId;
    const row = await this.k
      .selectFrom('invitations')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('invitation');
    if (row.status !== 'pending')
      throw conflict('invitation_not_pending', `The invitation is already ${row.status}.`);
    await this.k.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('invitations')
        .set({ status: 'revoked' })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      // Accepted (or revoked) meanwhile.
      if (Number(res.numUpdatedRows) !== 1)
        throw conflict('invitation_not_pending', 'The invitation is no longer pending.');
      await recordAudit(trx, {
        orgId,
        by: actor,
        action: 'invitation.revoked',
        subject: id,
        before: { status: 'pending' },
        after: { status: 'revoked' },
        data: { email: row.email, role: row.role },
      });
    });
    return invitationView({ ...row, status: 'revoked' }, nowIso());
  }

  async accept(userId: string, token: string, via?: Via): Promise<Membership> {
    const now = nowIso();
    const user = await this.k
      .selectFrom('users')
      .select(['id', 'email'])
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    const invitation = await this.k
      .transaction()
      .execute((trx) => joinByInvitation(trx, token, user, now, via))
      .catch((err: unknown) => {
        if (isUniqueViolation(err))
          throw conflict('already_member', 'You are already a member of this organization.');
        throw err;
      });
    return { organization: await this.organization(invitation.org_id), role: invitation.role };
  }
}

/**
 * An address shown to whoever holds an invitation's link before it is known to be theirs: enough to
 * recognise (`j•••@example.com`), not enough to learn it.
 */
export function maskedEmail(email: string): string {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  return `${[...local][0] ?? ''}•••${email.slice(at)}`;
}

/**
 * Joins a user to the organization that invited them, in the caller's transaction: the invitation must
 * be pending, unexpired and for the user's address; it is claimed once (a second use finds nothing).
 * Returns the invitation. Used by accepting an invitation and by signing up with one. Recorded as
 * `member.joined`, by the user who joined.
 */
export async function joinByInvitation(
  trx: Transaction<Database>,
  token: string,
  user: { id: string; email: string },
  now: string,
  via?: Via,
): Promise<InvitationRow> {
  const invitation = await trx
    .selectFrom('invitations')
    .selectAll()
    .where('token_hash', '=', sha256(token))
    .executeTakeFirst();
  if (invitation?.status !== 'pending' || invitation.expires_at <= now)
    throw notFound('pending invitation with this token');
  if (user.email !== invitation.email)
    throw forbidden(
      `This invitation is for ${maskedEmail(invitation.email)}; sign in with that address.`,
      'invitation_email_mismatch',
    );
  const claimed = await trx
    .updateTable('invitations')
    .set({ status: 'accepted', accepted_at: now })
    .where('id', '=', invitation.id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) throw notFound('pending invitation with this token');
  await trx
    .insertInto('memberships')
    .values({ org_id: invitation.org_id, user_id: user.id, role: invitation.role, created_at: now })
    .execute();
  await recordAudit(trx, {
    orgId: invitation.org_id,
    by: asMember(user.id, invitation.org_id, invitation.role, via),
    action: 'member.joined',
    subject: user.id,
    after: { role: invitation.role },
    data: { invitation_id: invitation.id, email: user.email },
  });
  return invitation;
}
