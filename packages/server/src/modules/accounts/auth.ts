import { createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import type { ApiKeyScope, LoginInput, Me, RefreshInput, RegisterInput, Role, Session } from '@tickets/sdk';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../../config.js';
import { type Db, prepared } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Database, UserRow } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, forbidden, unauthenticated, validationFailed } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { loginFailures } from '../../observability/metrics.js';
import { raiseSecurityEvent } from '../../observability/security.js';
import { addSeconds, nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { API_KEY_CACHE_MS, apiKeyCache } from './api-keys.js';
import { joinByInvitation } from './members.js';
import { decoyHash, hashPassword, randomToken, sha256, verifyPassword } from './secrets.js';
import { LoginThrottle, rateLimit } from './throttle.js';
import { organizationView, userView } from './views.js';

type Executor = Kysely<Database> | Transaction<Database>;

/** The request a sign-in came with (there is no principal yet): the audit log records it. */
export type Via = { requestId: string; ip: string };

/** The organizations a user belongs to, with their role in each (oldest membership first). */
export function membershipsOf(db: Executor, userId: string) {
  return db
    .selectFrom('memberships')
    .select(['org_id', 'role'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
}

/** The user as the actor of an entry in one of their organizations (a sign-in has no principal yet). */
export const asMember = (userId: string, orgId: string, role: Role, via?: Via): Principal => ({
  kind: 'user',
  userId,
  orgId,
  role,
  ...(via ? { via } : {}),
});

/** What a social provider vouches for. */
export interface ExternalIdentity {
  provider: 'google' | 'facebook';
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string;
}

/**
 * Roles recently read for a member, by organization and user: every request with an access token
 * needs one. Kept a moment; `forgetMembership` (called by role changes and removals in this process)
 * drops an entry at once, and a change made by another process is seen within that moment.
 */
const MEMBERSHIP_CACHE_MS = 2_000;
/** Sessions (refresh token families) known to have ended, or known live for a moment. */
const sessionCache = new Map<string, { ended: boolean; until: number }>();
const membershipCache = new Map<string, { role: Role; until: number }>();
let membershipGeneration = 0;

export function forgetMembership(orgId: string, userId: string): void {
  membershipGeneration++;
  membershipCache.delete(`${orgId}/${userId}`);
  // Keys carry their creator's role: read again (few keys are cached; a role change is rare).
  apiKeyCache.clear();
}

// Run on every request with an access token: compiled once (see `prepared`).
const roleIn = prepared((k, orgId: string, userId: string) =>
  k.selectFrom('memberships').select('role').where('org_id', '=', orgId).where('user_id', '=', userId),
);
export class Auth {
  private readonly throttle: LoginThrottle;

  private constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly jwtKey: KeyObject,
  ) {
    this.throttle = new LoginThrottle(db, config.login);
  }

  /** The signing key comes from TICKETS_JWT_SECRET, or is generated once and shared through the database. */
  static async create(db: Db, config: Config): Promise<Auth> {
    let secret = config.jwtSecret;
    if (!secret) {
      await db.kysely
        .insertInto('server_secrets')
        .values({ name: 'jwt', value: randomToken(), created_at: nowIso() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const row = await db.kysely
        .selectFrom('server_secrets')
        .select('value')
        .where('name', '=', 'jwt')
        .executeTakeFirstOrThrow();
      secret = row.value;
    }
    // A KeyObject made once: given raw bytes, jose would import the key again on every verification.
    return new Auth(db, config, createSecretKey(Buffer.from(secret, 'utf8')));
  }

  private get k() {
    return this.db.kysely;
  }

  /**
   * Sign-ups are counted per client address and per e-mail domain, an hour at a time: past either
   * limit, 429 with Retry-After (scripted account creation, and mail bombing one company's addresses).
   */
  async registrationAllowed(email: string, ip: string): Promise<void> {
    const { maxPerIp, maxPerDomain } = this.config.registration;
    const refusal = { code: 'too_many_registrations', what: 'Too many sign-ups' };
    await rateLimit(this.db, `register-ip:${ip}`, maxPerIp, 3600, {
      ...refusal,
      what: `${refusal.what} from your address`,
    });
    const domain = email.slice(email.lastIndexOf('@') + 1);
    await rateLimit(this.db, `register-domain:${domain}`, maxPerDomain, 3600, {
      ...refusal,
      what: `${refusal.what} for addresses at ${domain}`,
    });
  }

  async register(input: RegisterInput & { email: string }, via?: Via): Promise<Session> {
    const password = input.password.toLowerCase();
    if (password.includes(input.email) || password === input.email.split('@')[0])
      throw validationFailed([
        { path: 'password', message: 'must not be your e-mail address', code: 'weak_password' },
      ]);
    const passwordHash = await hashPassword(input.password);
    const now = nowIso();
    const user = await this.k
      .transaction()
      .execute(async (trx) => {
        const exists = await trx
          .selectFrom('users')
          .select('id')
          .where('email', '=', input.email)
          .executeTakeFirst();
        if (exists)
          throw conflict('email_taken', 'An account with this e-mail already exists; sign in instead.');
        const row: UserRow = {
          id: newId('user'),
          email: input.email,
          name: input.name,
          password_hash: passwordHash,
          email_verified: 0,
          google_sub: null,
          facebook_id: null,
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto('users').values(row).execute();
        // Invited: a member of the inviting organization only, with no organization of one's own.
        if (input.invitation) await joinByInvitation(trx, input.invitation, row, now, via);
        else await createOrganization(trx, row.id, input.organization_name ?? `${input.name}'s events`);
        return row;
      })
      .catch((err: unknown) => {
        // Two registrations racing for one e-mail: the unique index decides.
        if (isUniqueViolation(err))
          throw conflict('email_taken', 'An account with this e-mail already exists; sign in instead.');
        throw err;
      });
    return this.issueSession(user, undefined);
  }

  async login(input: LoginInput & { email: string }, via: Via): Promise<Session> {
    const { ip } = via;
    await this.throttle.check(input.email, ip);
    // Counted before the password is checked, so many guesses sent at once can't all be checked
    // before the first failure is recorded.
    await this.throttle.count(input.email, via);
    const user = await this.k
      .selectFrom('users')
      .selectAll()
      .where('email', '=', input.email)
      .executeTakeFirst();
    // Unknown e-mails are checked against a decoy hash, so a failure takes as long either way.
    const ok = await verifyPassword(input.password, user?.password_hash ?? (await decoyHash()));
    if (!user?.password_hash || !ok) {
      loginFailures.inc();
      await this.signInFailed(input.email, user?.id ?? null, via);
      throw new ApiError(401, 'invalid_credentials', 'Wrong e-mail or password.');
    }
    // A success clears the e-mail's count and takes this attempt back off the address's.
    await this.k.deleteFrom('login_throttle').where('key', '=', `email:${input.email}`).execute();
    await this.k
      .updateTable('login_throttle')
      .set((eb) => ({ failures: eb('failures', '-', 1) }))
      .where('key', '=', `ip:${ip}`)
      .where('failures', '>', 0)
      .execute();
    const session = await this.issueSession(user, input.organization_id);
    await this.signedIn(user.id, session, 'password', via);
    return session;
  }

  /** `auth.signed_in` in every organization of the user (their sessions may switch to any of them). */
  private async signedIn(userId: string, session: Session, method: string, via?: Via): Promise<void> {
    for (const m of await membershipsOf(this.k, userId))
      await recordAudit(this.k, {
        orgId: m.org_id,
        by: asMember(userId, m.org_id, m.role, via),
        action: 'auth.signed_in',
        subject: userId,
        data: { method, organization_id: session.organization.id },
      });
  }

  /**
   * `auth.sign_in_failed`: for an account, in each of its organizations; for an address that is no
   * account, once with no organization, keeping only its domain (a mistyped address is someone's data).
   */
  private async signInFailed(email: string, userId: string | null, via: Via): Promise<void> {
    const orgs = userId ? await membershipsOf(this.k, userId) : [];
    if (!userId)
      await recordAudit(this.k, {
        orgId: null,
        by: null,
        via,
        action: 'auth.sign_in_failed',
        subject: 'unknown',
        data: { reason: 'unknown_email', email_domain: email.slice(email.lastIndexOf('@') + 1) },
      });
    for (const m of orgs)
      await recordAudit(this.k, {
        orgId: m.org_id,
        by: null,
        via,
        action: 'auth.sign_in_failed',
        subject: userId!,
        data: { reason: 'wrong_password' },
      });
  }

  async refresh(input: RefreshInput, via?: Via): Promise<Session> {
    const hash = sha256(input.refresh_token);
    const token = await this.k
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    const invalid = () =>
      new ApiError(401, 'invalid_refresh_token', 'The refresh token is not valid; sign in again.');
    if (!token || token.revoked_at) throw invalid();
    const now = nowIso();
    if (token.expires_at <= now) throw invalid();
    // Refuse a switch to a foreign organization before the token is used up: otherwise the client's
    // retry with the same token would look like theft and sign out the whole family.
    if (input.organization_id !== undefined) {
      const member = await this.k
        .selectFrom('memberships')
        .select('org_id')
        .where('user_id', '=', token.user_id)
        .where('org_id', '=', input.organization_id)
        .executeTakeFirst();
      if (!member) throw forbidden('You are not a member of that organization.', 'not_a_member');
    }
    // Mark used only if nobody else did: a token presented twice is a stolen copy, and the family dies.
    const used = await this.k
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('id', '=', token.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) {
      await this.revokeFamily(token.family_id);
      // Only here: the copy that lost the race below finds the family revoked by this one, one reuse.
      await raiseSecurityEvent(this.k, {
        kind: 'refresh_token_reuse',
        summary:
          'A refresh token was used twice (a stolen copy?): every session of its family was signed out',
        orgIds: (await membershipsOf(this.k, token.user_id)).map((m) => m.org_id),
        by: null,
        subject: token.user_id,
        data: { session: token.family_id },
        ...(via ? { via } : {}),
      });
      throw reused();
    }
    const user = await this.k
      .selectFrom('users')
      .selectAll()
      .where('id', '=', token.user_id)
      .executeTakeFirstOrThrow();
    const session = await this.issueSession(user, input.organization_id ?? token.org_id, token.family_id);
    // A copy of the token presented at the same moment loses the race above and revokes the family,
    // perhaps before our new token existed. Look again, so the new token cannot outlive that revocation.
    const revoked = await this.k
      .selectFrom('refresh_tokens')
      .select('id')
      .where('family_id', '=', token.family_id)
      .where('revoked_at', 'is not', null)
      .executeTakeFirst();
    if (revoked) {
      await this.revokeFamily(token.family_id);
      throw reused();
    }
    return session;
  }

  async logout(refreshToken: string): Promise<void> {
    const token = await this.k
      .selectFrom('refresh_tokens')
      .select('family_id')
      .where('token_hash', '=', sha256(refreshToken))
      .executeTakeFirst();
    if (token) await this.revokeFamily(token.family_id);
  }

  /** Ends every session of a user (a password reset): their refresh tokens stop, access tokens with them. */
  async endSessions(userId: string): Promise<void> {
    const families = await this.k
      .selectFrom('refresh_tokens')
      .select('family_id')
      .distinct()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    for (const { family_id } of families) await this.revokeFamily(family_id);
  }

  private async revokeFamily(familyId: string): Promise<void> {
    sessionCache.set(familyId, { ended: true, until: Number.POSITIVE_INFINITY });
    await this.k
      .updateTable('refresh_tokens')
      .set({ revoked_at: nowIso() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Signs in with a social identity: by provider id, else by verified e-mail (linking it), else a new user. */
  async socialLogin(identity: ExternalIdentity, organizationId?: string, via?: Via): Promise<Session> {
    const column = identity.provider === 'google' ? 'google_sub' : 'facebook_id';
    const now = nowIso();
    const findOrCreate = async (trx: Transaction<Database>): Promise<UserRow> => {
      const linked = await trx
        .selectFrom('users')
        .selectAll()
        .where(column, '=', identity.subject)
        .executeTakeFirst();
      if (linked) return linked;
      if (!identity.email || !identity.emailVerified)
        throw new ApiError(
          401,
          'social_email_unverified',
          `Your ${identity.provider} account has no verified e-mail address, so it cannot be linked or used to sign up.`,
        );
      const byEmail = await trx
        .selectFrom('users')
        .selectAll()
        .where('email', '=', identity.email)
        .executeTakeFirst();
      if (byEmail) {
        // One account per provider identity: a second Google (or Facebook) account with the same
        // address must not silently take over the link.
        // (Equal to this subject only when a concurrent sign-in linked it a moment ago.)
        if (byEmail[column] !== null && byEmail[column] !== identity.subject)
          throw conflict(
            'social_account_linked_elsewhere',
            `This e-mail's account is already linked to another ${identity.provider} account.`,
          );
        await trx
          .updateTable('users')
          .set({ [column]: identity.subject, email_verified: 1, updated_at: now })
          .where('id', '=', byEmail.id)
          .execute();
        return { ...byEmail, [column]: identity.subject };
      }
      const row: UserRow = {
        id: newId('user'),
        email: identity.email,
        name: identity.name || identity.email,
        password_hash: null,
        email_verified: 1,
        google_sub: identity.provider === 'google' ? identity.subject : null,
        facebook_id: identity.provider === 'facebook' ? identity.subject : null,
        created_at: now,
        updated_at: now,
      };
      await trx.insertInto('users').values(row).execute();
      await createOrganization(trx, row.id, `${row.name}'s events`);
      return row;
    };
    // Two first sign-ins racing (a double click; Google and Facebook at once) both find nobody and both
    // insert: the unique index lets one win, and the other finds that user on a second look.
    const user = await this.k
      .transaction()
      .execute(findOrCreate)
      .catch((err: unknown) => {
        if (isUniqueViolation(err)) return this.k.transaction().execute(findOrCreate);
        throw err;
      });
    const session = await this.issueSession(user, organizationId);
    await this.signedIn(user.id, session, identity.provider, via);
    return session;
  }

  private async issueSession(
    user: UserRow,
    organizationId: string | undefined,
    familyId?: string,
  ): Promise<Session> {
    const membership = await this.k
      .selectFrom('memberships')
      .innerJoin('organizations', 'organizations.id', 'memberships.org_id')
      .selectAll('organizations')
      .select('memberships.role')
      .where('memberships.user_id', '=', user.id)
      .$if(organizationId !== undefined, (q) => q.where('memberships.org_id', '=', organizationId!))
      .orderBy('memberships.created_at')
      .executeTakeFirst();
    if (!membership && organizationId)
      throw forbidden('You are not a member of that organization.', 'not_a_member');
    if (!membership) {
      // Removed from every organization: give the user a fresh one of their own rather than a dead end.
      await createOrganization(this.k, user.id, `${user.name}'s events`);
      return this.issueSession(user, undefined, familyId);
    }
    const now = nowIso();
    const refreshToken = randomToken('rt_');
    const family = familyId ?? newId('refreshToken');
    await this.k
      .insertInto('refresh_tokens')
      .values({
        id: newId('refreshToken'),
        family_id: family,
        user_id: user.id,
        org_id: membership.id,
        token_hash: sha256(refreshToken),
        created_at: now,
        expires_at: addSeconds(now, this.config.refreshTokenTtl),
        used_at: null,
        revoked_at: null,
      })
      .execute();
    // `sid`: the session (the refresh token family), so ending it ends its access tokens too.
    const accessToken = await new SignJWT({ org: membership.id, sid: family })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(user.id)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.config.accessTokenTtl}s`)
      .sign(this.jwtKey);
    const { role, ...org } = membership;
    return {
      object: 'session',
      token_type: 'Bearer',
      access_token: accessToken,
      expires_in: this.config.accessTokenTtl,
      refresh_token: refreshToken,
      user: userView(user),
      organization: organizationView(org),
      role,
    };
  }

  /** Resolves `Authorization: Bearer …` (an access JWT or an API key) to a principal. */
  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw unauthenticated();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthenticated('Use Authorization: Bearer <token>.');
    const token = match[1]!;
    if (token.startsWith('tk_') || token.startsWith('pk_')) return this.authenticateApiKey(token);
    const claims = await this.verifyAccessToken(token);
    if (claims.sid && (await this.sessionEnded(claims.sid)))
      throw new ApiError(
        401,
        'session_ended',
        'This session has ended (signed out); sign in again.',
        undefined,
        {
          'www-authenticate': 'Bearer error="invalid_token"',
        },
      );
    // The role is read on every request (remembered for a moment: see membershipCache), so a role
    // change or removal takes effect at once in this process, and within a moment in others.
    const member = await this.role(claims.org, claims.sub);
    if (!member)
      throw new ApiError(
        401,
        'membership_revoked',
        'You are no longer a member of this organization; sign in again.',
      );
    return { kind: 'user', userId: claims.sub, orgId: claims.org, role: member.role };
  }

  /**
   * Whether a session was ended (logout, or its refresh token reused: stolen). Read from the database and
   * remembered for a moment, like the role, so another process sees a logout within MEMBERSHIP_CACHE_MS;
   * this process knows at once (revokeFamily), and an ended session stays ended.
   */
  private async sessionEnded(sid: string): Promise<boolean> {
    const hit = sessionCache.get(sid);
    if (hit && (hit.ended || hit.until > Date.now())) return hit.ended;
    const row = await this.k
      .selectFrom('refresh_tokens')
      .select('id')
      .where('family_id', '=', sid)
      .where('revoked_at', 'is not', null)
      .executeTakeFirst();
    if (sessionCache.size >= 10_000) sessionCache.delete(sessionCache.keys().next().value as string);
    sessionCache.set(sid, { ended: row !== undefined, until: Date.now() + MEMBERSHIP_CACHE_MS });
    return row !== undefined;
  }

  private async role(orgId: string, userId: string): Promise<{ role: Role } | undefined> {
    const key = `${orgId}/${userId}`;
    const hit = membershipCache.get(key);
    if (hit && hit.until > Date.now()) return hit;
    const generation = membershipGeneration;
    const row = (await roleIn(this.k, orgId, userId)).rows[0];
    // Not remembered if a change was made while reading: what was read may be from before it.
    if (row && generation === membershipGeneration) {
      if (membershipCache.size >= 10_000)
        membershipCache.delete(membershipCache.keys().next().value as string);
      membershipCache.set(key, { role: row.role, until: Date.now() + MEMBERSHIP_CACHE_MS });
    } else membershipCache.delete(key);
    return row;
  }

  /**
   * Verified tokens are remembered until they expire: a client sends the same token many times, and
   * jose's WebCrypto HMAC check was a fifth of the cost of a simple authenticated GET. An entry can't
   * outlive the token's own expiry, and an HMAC-signed token can't be revoked anyway.
   */
  private readonly verified = new Map<string, { sub: string; org: string; sid?: string; exp: number }>();

  private async verifyAccessToken(token: string): Promise<{ sub: string; org: string; sid?: string }> {
    const cached = this.verified.get(token);
    if (cached && cached.exp * 1000 > Date.now()) return cached;
    if (cached) this.verified.delete(token);
    let claims: { sub?: string; org?: unknown; sid?: unknown; exp?: number };
    try {
      ({ payload: claims } = await jwtVerify(token, this.jwtKey, { algorithms: ['HS256'], typ: 'at+jwt' }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired)
        throw new ApiError(401, 'token_expired', 'The access token has expired; refresh it.', undefined, {
          'www-authenticate': 'Bearer error="invalid_token"',
        });
      throw new ApiError(401, 'invalid_token', 'The access token is not valid.', undefined, {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
    if (typeof claims.sub !== 'string' || typeof claims.org !== 'string' || typeof claims.exp !== 'number')
      throw unauthenticated('The access token is not valid.');
    const entry = {
      sub: claims.sub,
      org: claims.org,
      exp: claims.exp,
      ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
    };
    if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, entry);
    return entry;
  }

  private async authenticateApiKey(secret: string): Promise<Principal> {
    const nowMs = Date.now();
    // Looked up by the secret itself: hashing it is only needed to read the row (a hash per scan at a
    // busy door adds up).
    let key = apiKeyCache.get(secret);
    if (!key || key.until <= nowMs) {
      const hash = sha256(secret);
      // With its creator's current role in the organization: a key never does more than they may.
      const row = await this.k
        .selectFrom('api_keys')
        .leftJoin('memberships', (j) =>
          j
            .onRef('memberships.org_id', '=', 'api_keys.org_id')
            .onRef('memberships.user_id', '=', 'api_keys.created_by'),
        )
        .select([
          'api_keys.id',
          'api_keys.org_id',
          'api_keys.scopes',
          'api_keys.last_used_at',
          'api_keys.created_by',
          'memberships.role as creator_role',
        ])
        .where('api_keys.secret_hash', '=', hash)
        .where('api_keys.revoked_at', 'is', null)
        .executeTakeFirst();
      // A key whose creator left the organization is no key (removal revokes them; this covers the rest).
      if (!row || (row.created_by !== null && row.creator_role === null)) {
        apiKeyCache.delete(secret);
        throw new ApiError(401, 'invalid_api_key', 'The API key is not valid or has been revoked.');
      }
      key = {
        id: row.id,
        org_id: row.org_id,
        last_used_at: row.last_used_at,
        creator_role: row.creator_role,
        scopes: row.scopes.split(','),
        until: nowMs + API_KEY_CACHE_MS,
      };
      if (apiKeyCache.size >= 10_000) apiKeyCache.delete(apiKeyCache.keys().next().value as string);
      apiKeyCache.set(secret, key);
    }
    // Recording every use would turn each read into a write; once a minute is enough to see activity.
    if (!key.last_used_at || nowMs - Date.parse(key.last_used_at) > 60_000) {
      const now = new Date(nowMs).toISOString();
      key.last_used_at = now;
      await this.k.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', key.id).execute();
    }
    return {
      kind: 'api_key',
      keyId: key.id,
      orgId: key.org_id,
      scopes: key.scopes,
      creatorRole: key.creator_role,
    };
  }

  async me(principal: Principal): Promise<Me> {
    const org = await this.k
      .selectFrom('organizations')
      .selectAll()
      .where('id', '=', principal.orgId)
      .executeTakeFirstOrThrow();
    if (principal.kind === 'api_key') {
      const key = await this.k
        .selectFrom('api_keys')
        .select(['id', 'name', 'scopes'])
        .where('id', '=', principal.keyId)
        .executeTakeFirstOrThrow();
      return {
        object: 'me',
        user: null,
        organization: organizationView(org),
        role: null,
        api_key: { id: key.id, name: key.name, scopes: key.scopes.split(',') as ApiKeyScope[] },
        memberships: [],
      };
    }
    const user = await this.k
      .selectFrom('users')
      .selectAll()
      .where('id', '=', principal.userId)
      .executeTakeFirstOrThrow();
    const memberships = await this.k
      .selectFrom('memberships')
      .innerJoin('organizations', 'organizations.id', 'memberships.org_id')
      .selectAll('organizations')
      .select('memberships.role')
      .where('memberships.user_id', '=', user.id)
      .orderBy('memberships.created_at')
      .execute();
    return {
      object: 'me',
      user: userView(user),
      organization: organizationView(org),
      role: principal.role,
      api_key: null,
      memberships: memberships.map(({ role, ...o }) => ({ organization: organizationView(o), role })),
    };
  }
}

const reused = () =>
  new ApiError(
    401,
    'refresh_token_reused',
    'This refresh token was already used, so every session it started has been signed out. Sign in again.',
  );

export async function createOrganization(db: Executor, ownerId: string, name: string): Promise<string> {
  const id = newId('organization');
  const now = nowIso();
  await db.insertInto('organizations').values({ id, name, created_at: now }).execute();
  await db
    .insertInto('memberships')
    .values({ org_id: id, user_id: ownerId, role: 'owner', created_at: now })
    .execute();
  return id;
}
