import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { ApiError } from '../../http/errors.js';
import { loginLockouts } from '../../observability/metrics.js';
import { raiseSecurityEvent } from '../../observability/security.js';
import { addSeconds, nowIso } from '../../time.js';

/**
 * Login throttling: failures are counted per e-mail and per client address in a window; past the limit,
 * logins for that key are refused with Retry-After until the lockout ends. Kept in the database so
 * every server process sees the same counts.
 */
export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly limits: Config['login'],
  ) {}

  private get k() {
    return this.db.kysely;
  }

  /** Refuses (429, Retry-After) while the e-mail or the address is locked out. */
  async check(email: string, ip: string): Promise<void> {
    const now = nowIso();
    const locked = await this.k
      .selectFrom('login_throttle')
      .select('locked_until')
      .where('key', 'in', [`email:${email}`, `ip:${ip}`])
      .where('locked_until', '>', now)
      .orderBy('locked_until', 'desc')
      .executeTakeFirst();
    if (locked?.locked_until) {
      const retryAfter = Math.max(1, Math.ceil((Date.parse(locked.locked_until) - Date.parse(now)) / 1000));
      loginLockouts.inc();
      throw new ApiError(
        429,
        'too_many_login_attempts',
        `Too many failed sign-ins; try again in ${retryAfter} s.`,
        undefined,
        {
          'retry-after': String(retryAfter),
        },
      );
    }
  }

  /**
   * Counts a sign-in attempt for the e-mail and the address; past either limit, locks it and answers 429.
   * The attempt that starts a lockout raises a security event (login_burst).
   */
  async count(email: string, via: { requestId: string; ip: string }): Promise<void> {
    const { ip } = via;
    const { maxFailures, maxFailuresPerIp, lockoutSeconds } = this.limits;
    const now = nowIso();
    for (const [key, max] of [
      [`email:${email}`, maxFailures],
      [`ip:${ip}`, maxFailuresPerIp],
    ] as const) {
      const row = await countAttempt(this.db, key, now, lockoutSeconds);
      if (row.failures > max) {
        await this.k
          .updateTable('login_throttle')
          // The count is left as it is: guesses already past the lock check still find it over.
          .set({ locked_until: addSeconds(now, lockoutSeconds) })
          .where('key', '=', key)
          .execute();
        // The attempt that passes the limit starts the lockout; those already past the check count on.
        if (row.failures === max + 1) await this.lockoutStarted(key, email, via, row.failures);
        loginLockouts.inc();
        throw new ApiError(
          429,
          'too_many_login_attempts',
          `Too many failed sign-ins; try again in ${lockoutSeconds} s.`,
          undefined,
          { 'retry-after': String(lockoutSeconds) },
        );
      }
    }
  }

  private async lockoutStarted(
    key: string,
    email: string,
    via: { requestId: string; ip: string },
    failures: number,
  ): Promise<void> {
    const byEmail = key.startsWith('email:');
    const user = byEmail
      ? await this.k.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()
      : undefined;
    const orgIds = user
      ? (
          await this.k.selectFrom('memberships').select('org_id').where('user_id', '=', user.id).execute()
        ).map((m) => m.org_id)
      : [];
    await raiseSecurityEvent(this.k, {
      kind: 'login_burst',
      summary: `Sign-ins locked for ${this.limits.lockoutSeconds} s after ${failures} attempts ${
        byEmail ? 'for one account' : 'from one address'
      }`,
      orgIds,
      by: null,
      // Never the raw address of an unknown account: only its domain.
      subject: user ? user.id : byEmail ? 'unknown' : key,
      data: {
        key: byEmail ? 'email' : 'ip',
        failures,
        lockout_seconds: this.limits.lockoutSeconds,
        ...(byEmail && !user ? { email_domain: email.slice(email.lastIndexOf('@') + 1) } : {}),
      },
      via,
    });
  }
}

/**
 * A fixed-window counter per key, kept in the login_throttle table (every server process sees the
 * same counts): counts one attempt under `key` and, past `max` in `windowSeconds`, refuses it with 429
 * and Retry-After (when the window ends).
 */
export async function rateLimit(
  db: Db,
  key: string,
  max: number,
  windowSeconds: number,
  refusal: { code: string; what: string },
): Promise<void> {
  const now = nowIso();
  const row = await countAttempt(db, key, now, windowSeconds);
  if (row.failures <= max) return;
  const ends = Date.parse(addSeconds(row.window_started_at, windowSeconds));
  const retryAfter = Math.max(1, Math.ceil((ends - Date.parse(now)) / 1000));
  throw new ApiError(429, refusal.code, `${refusal.what}; try again in ${retryAfter} s.`, undefined, {
    'retry-after': String(retryAfter),
  });
}

/**
 * Counts one attempt under `key` in its fixed window of `windowSeconds` (a window older than that starts
 * again at 1), in one upsert; returns the count and when the window started.
 */
async function countAttempt(db: Db, key: string, now: string, windowSeconds: number) {
  const windowStart = addSeconds(now, -windowSeconds);
  return db.kysely
    .insertInto('login_throttle')
    .values({ key, failures: 1, window_started_at: now, locked_until: null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        failures: eb
          .case()
          .when('login_throttle.window_started_at', '<', windowStart)
          .then(1)
          .else(eb('login_throttle.failures', '+', 1))
          .end(),
        window_started_at: eb
          .case()
          .when('login_throttle.window_started_at', '<', windowStart)
          .then(now)
          .else(eb.ref('login_throttle.window_started_at'))
          .end(),
      })),
    )
    .returning(['failures', 'window_started_at'])
    .executeTakeFirstOrThrow();
}

/**
 * Forgets counters whose window began over a day ago and that lock nothing: every key a client address
 * or a storefront key ever used would otherwise stay for good. Returns how many went.
 */
export async function purgeStaleCounters(db: Db): Promise<number> {
  const now = nowIso();
  const res = await db.kysely
    .deleteFrom('login_throttle')
    .where('window_started_at', '<', addSeconds(now, -86_400))
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
