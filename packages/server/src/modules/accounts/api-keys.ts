import type { ApiKey, ApiKeyCreated, ApiKeyScope } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import type { ApiKeyRow } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { conflict, notFound } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { randomToken, sha256 } from './secrets.js';

const view = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  object: 'api_key',
  name: row.name,
  scopes: row.scopes.split(',') as ApiKeyScope[],
  prefix: row.prefix,
  created_by: row.created_by,
  created_at: row.created_at,
  last_used_at: row.last_used_at,
  revoked_at: row.revoked_at,
});

/**
 * Keys recently resolved by `Auth`, by secret hash: a door scanner sends its key with every scan, and
 * reading it back each time was a query per scan. An entry lives a few seconds; a revocation in this
 * process drops it at once, one in another process is seen within that time.
 */
export const API_KEY_CACHE_MS = 2_000;
/** Keyed by the key's secret (never stored, only held here in memory like any request's header). */
export const apiKeyCache = new Map<
  string,
  {
    id: string;
    org_id: string;
    scopes: string[];
    creator_role: 'owner' | 'admin' | 'staff' | null;
    last_used_at: string | null;
    until: number;
  }
>();

export function forgetApiKey(id: string): void {
  for (const [secret, entry] of apiKeyCache) if (entry.id === id) apiKeyCache.delete(secret);
}

export class ApiKeys {
  constructor(private readonly db: Db) {}

  async create(actor: Principal, input: { name: string; scopes: ApiKeyScope[] }): Promise<ApiKeyCreated> {
    // Publishable keys look like what they are (pk_, as Stripe's do), so nobody mistakes a secret one
    // for something to put in a web page.
    const secret = randomToken(input.scopes.includes('publishable') ? 'pk_' : 'tk_');
    const row: ApiKeyRow = {
      id: newId('apiKey'),
      org_id: actor.orgId,
      name: input.name,
      scopes: [...new Set(input.scopes)].sort().join(','),
      prefix: secret.slice(0, 10),
      secret_hash: sha256(secret),
      created_by: actor.kind === 'user' ? actor.userId : null,
      created_at: nowIso(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto('api_keys').values(row).execute();
      // Never the secret: its prefix is enough to recognise the key.
      await recordAudit(trx, {
        orgId: actor.orgId,
        by: actor,
        action: 'api_key.created',
        subject: row.id,
        data: { name: row.name, scopes: row.scopes.split(','), prefix: row.prefix },
      });
    });
    return { ...view(row), secret };
  }

  async list(orgId: string, opts: { limit?: number; starting_after?: string }) {
    const { limit, before } = newestFirst(opts);
    const rows = await this.db.kysely
      .selectFrom('api_keys')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => [r.id], view);
  }

  async revoke(actor: Principal, id: string): Promise<ApiKey> {
    const orgId = actor.orgId;
    const row = await this.db.kysely
      .selectFrom('api_keys')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('API key');
    if (row.revoked_at) throw conflict('already_revoked', 'This API key is already revoked.');
    const revoked_at = nowIso();
    await this.db.kysely.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('api_keys')
        .set({ revoked_at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1)
        throw conflict('already_revoked', 'This API key is already revoked.');
      await recordAudit(trx, {
        orgId,
        by: actor,
        action: 'api_key.revoked',
        subject: id,
        before: { revoked_at: null },
        after: { revoked_at },
        data: { name: row.name, prefix: row.prefix },
      });
    });
    forgetApiKey(id);
    return view({ ...row, revoked_at });
  }
}
