import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/database.js';
import { nowIso } from '../../time.js';

/**
 * Unsubscribe links: the organization and the address, signed with a server secret kept in the database (shared
 * by every process), so a link can't be forged to unsubscribe someone else, and needs no lookup table.
 */
export class Unsubscribes {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly db: Db,
    private readonly baseUrl: string,
  ) {}

  private secret(): Promise<Buffer> {
    this.key ??= (async () => {
      await this.db.kysely
        .insertInto('server_secrets')
        .values({ name: 'unsubscribe', value: randomBytes(32).toString('base64url'), created_at: nowIso() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const row = await this.db.kysely
        .selectFrom('server_secrets')
        .select('value')
        .where('name', '=', 'unsubscribe')
        .executeTakeFirstOrThrow();
      return Buffer.from(row.value, 'utf8');
    })();
    // A failed read is not remembered: the next link tries again.
    this.key.catch(() => {
      this.key = undefined;
    });
    return this.key;
  }

  private async mac(payload: string): Promise<string> {
    return createHmac('sha256', await this.secret())
      .update(payload)
      .digest('base64url')
      .slice(0, 32);
  }

  async token(orgId: string, email: string): Promise<string> {
    const payload = Buffer.from(JSON.stringify([orgId, email.toLowerCase()])).toString('base64url');
    return `${payload}.${await this.mac(payload)}`;
  }

  async url(orgId: string, email: string): Promise<string> {
    return `${this.baseUrl.replace(/\/$/, '')}/api/unsubscribe?token=${await this.token(orgId, email)}`;
  }

  /** The organization and address a token names, or null when it was not made here. */
  async verify(token: string): Promise<{ orgId: string; email: string } | null> {
    const [payload, mac] = token.split('.');
    if (!payload || !mac) return null;
    const expected = Buffer.from(await this.mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const [orgId, email] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [
        string,
        string,
      ];
      return typeof orgId === 'string' && typeof email === 'string' ? { orgId, email } : null;
    } catch {
      return null;
    }
  }
}
