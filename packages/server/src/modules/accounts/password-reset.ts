import type { PasswordResetRequested } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import { validationFailed } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { addSeconds, nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { notifyQueued, queueMessages } from '../messaging/outbox.js';
import { accountToken } from './account-tokens.js';
import { asMember, membershipsOf, type Via } from './auth.js';
import { hashPassword, sha256 } from './secrets.js';
import { rateLimit } from './throttle.js';

/** A reset token is valid this long. */
export const PASSWORD_RESET_TTL = 3600;
/** Requests per address, and per client address, per hour: enough for a typo, not for mail bombing. */
const PER_EMAIL = 5;
const PER_IP = 30;

const REFUSED =
  'This reset token is not valid: it was used already, has expired, or was mistyped. Ask for a new one.';

/**
 * Password reset by e-mail. A request answers alike whether or not the account exists (no way to learn
 * who has one), and for an account queues an e-mail with a token valid for an hour; the token is used
 * once (a conditional write), and setting the new password ends every session of the account.
 */
export class PasswordResets {
  constructor(
    private readonly db: Db,
    /** Ends every session of a user, at once in this process (see Auth.endSessions). */
    private readonly endSessions: (userId: string) => Promise<void>,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  async request(email: string, ip: string): Promise<PasswordResetRequested> {
    const refusal = { code: 'too_many_password_resets', what: 'Too many password reset requests' };
    await rateLimit(this.db, `password-reset-ip:${ip}`, PER_IP, 3600, refusal);
    await rateLimit(this.db, `password-reset-email:${email}`, PER_EMAIL, 3600, refusal);
    const answer = {
      object: 'password_reset_request' as const,
      email,
      expires_in_seconds: PASSWORD_RESET_TTL,
    };
    const user = await this.k
      .selectFrom('users')
      .leftJoin('memberships', 'memberships.user_id', 'users.id')
      .select(['users.id', 'memberships.org_id'])
      .where('users.email', '=', email)
      .orderBy('memberships.created_at')
      .executeTakeFirst();
    // Messages belong to an organization; a user in none has nobody to send as (and nothing to manage).
    if (!user?.org_id) return answer;
    const now = nowIso();
    const id = newId('passwordReset');
    const token = await accountToken(this.db, 'password_reset', id);
    await this.k.transaction().execute(async (trx) => {
      await trx
        .insertInto('password_resets')
        .values({
          id,
          user_id: user.id,
          token_hash: sha256(token),
          created_at: now,
          expires_at: addSeconds(now, PASSWORD_RESET_TTL),
          used_at: null,
        })
        .execute();
      await queueMessages(trx, user.org_id as string, [
        { template: 'password_reset', channel: 'email', recipient: email, payload: { reset_id: id } },
      ]);
    });
    notifyQueued(this.db);
    return answer;
  }

  async reset(token: string, password: string, via?: Via): Promise<void> {
    const now = nowIso();
    const pending = await this.k
      .selectFrom('password_resets')
      .innerJoin('users', 'users.id', 'password_resets.user_id')
      .select(['users.email'])
      .where('password_resets.token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!pending) throw validationFailed([{ path: 'token', message: REFUSED, code: 'invalid_token' }]);
    const lowered = password.toLowerCase();
    if (lowered.includes(pending.email) || lowered === pending.email.split('@')[0])
      throw validationFailed([
        { path: 'password', message: 'must not be your e-mail address', code: 'weak_password' },
      ]);
    const passwordHash = await hashPassword(password);
    const userId = await this.k.transaction().execute(async (trx) => {
      // Single use: of two requests racing with one token, one write finds it unused.
      const claimed = await trx
        .updateTable('password_resets')
        .set({ used_at: now })
        .where('token_hash', '=', sha256(token))
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning('user_id')
        .executeTakeFirst();
      if (!claimed) throw validationFailed([{ path: 'token', message: REFUSED, code: 'invalid_token' }]);
      await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: now })
        .where('id', '=', claimed.user_id)
        .execute();
      // The other tokens e-mailed to this account stop working too.
      await trx
        .updateTable('password_resets')
        .set({ used_at: now })
        .where('user_id', '=', claimed.user_id)
        .where('used_at', 'is', null)
        .execute();
      // By the account's holder (whoever has the token), in each of its organizations.
      for (const m of await membershipsOf(trx, claimed.user_id))
        await recordAudit(trx, {
          orgId: m.org_id,
          by: asMember(claimed.user_id, m.org_id, m.role, via),
          action: 'auth.password_reset',
          subject: claimed.user_id,
          data: { sessions_ended: true },
        });
      return claimed.user_id;
    });
    await this.endSessions(userId);
  }
}
