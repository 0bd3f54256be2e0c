import { createHmac } from 'node:crypto';
import type { Db } from '../../db/database.js';
import { nowIso } from '../../time.js';
import { randomToken } from './secrets.js';

export type AccountTokenKind = 'invitation' | 'password_reset';

const PREFIX: Record<AccountTokenKind, string> = { invitation: 'inv_', password_reset: 'pwr_' };

const keys = new WeakMap<Db, Promise<Buffer>>();

/** This installation's key for account tokens: made once, kept in server_secrets, shared by every process. */
function key(db: Db): Promise<Buffer> {
  let found = keys.get(db);
  if (!found) {
    found = (async () => {
      await db.kysely
        .insertInto('server_secrets')
        .values({ name: 'account_tokens', value: randomToken(), created_at: nowIso() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const row = await db.kysely
        .selectFrom('server_secrets')
        .select('value')
        .where('name', '=', 'account_tokens')
        .executeTakeFirstOrThrow();
      return Buffer.from(row.value, 'utf8');
    })();
    found.catch(() => keys.delete(db));
    keys.set(db, found);
  }
  return found;
}

/**
 * The token of an invitation or a password reset, derived from its id with the installation's key
 * (HMAC-SHA256). The database keeps only its hash, and the outbox only the id: the worker derives the
 * token again when it writes the e-mail, so no usable token sits in a table or a queued message.
 */
export async function accountToken(db: Db, kind: AccountTokenKind, id: string): Promise<string> {
  const mac = createHmac('sha256', await key(db))
    .update(`${kind}:${id}`)
    .digest('base64url');
  return `${PREFIX[kind]}${mac}`;
}
