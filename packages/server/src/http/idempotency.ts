import { type Db, groupedWrites, prepared } from '../db/database.js';
import { nowIso } from '../time.js';
import { conflict } from './errors.js';

/** How long a key is remembered (Stripe keeps them 24 hours). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

// Run twice per POST with an Idempotency-Key: compiled once (see `prepared`).
const claim = prepared((k, scope: string, key: string, requestHash: string, createdAt: string) =>
  k
    .insertInto('idempotency_keys')
    .values({
      scope,
      key,
      request_hash: requestHash,
      state: 'in_progress',
      response_status: null,
      response_body: null,
      created_at: createdAt,
    })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing()),
);

const finish = prepared((k, status: number, body: string, scope: string, key: string) =>
  k
    .updateTable('idempotency_keys')
    .set({ state: 'done', response_status: status, response_body: body })
    .where('scope', '=', scope)
    .where('key', '=', key),
);

/**
 * Runs `run` once per (scope, key). A repeat with the same request replays the stored response; with
 * another request it is a 409; while the first is still running it is a 409 too. Server errors are
 * not stored, so the client can retry with the same key.
 *
 * The claim row is written before the work and the response after it, outside the handler's
 * transaction: if the process dies in between, the key stays "in progress" until it expires rather
 * than risk running a purchase twice.
 */
export async function idempotent(
  db: Db,
  scope: string,
  key: string,
  requestHash: string,
  run: () => Promise<{ status: number; body: string }>,
): Promise<{ status: number; body: string; replayed: boolean }> {
  // Both writes go with others of the moment on SQLite (one commit for many); see groupedWrites.
  const write = groupedWrites(db);
  const claimed = await write((trx) => claim(trx, scope, key, requestHash, nowIso()));
  if (Number(claimed.numAffectedRows ?? 0) !== 1) {
    const row = await db.kysely
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    if (row.request_hash !== requestHash)
      throw conflict('idempotency_key_reused', 'This Idempotency-Key was used with a different request.');
    if (row.state !== 'done' || row.response_status === null)
      throw conflict(
        'idempotency_request_in_progress',
        'A request with this Idempotency-Key is still in progress.',
      );
    return { status: row.response_status, body: row.response_body ?? '', replayed: true };
  }
  let out: { status: number; body: string };
  try {
    out = await run();
  } catch (err) {
    await release(db, scope, key);
    throw err;
  }
  if (out.status >= 500) await release(db, scope, key);
  else await write((trx) => finish(trx, out.status, out.body, scope, key));
  return { ...out, replayed: false };
}

async function release(db: Db, scope: string, key: string): Promise<void> {
  await db.kysely.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).execute();
}

export async function purgeExpiredIdempotencyKeys(db: Db): Promise<void> {
  const cutoff = new Date(Date.now() - IDEMPOTENCY_TTL_SECONDS * 1000).toISOString();
  await db.kysely.deleteFrom('idempotency_keys').where('created_at', '<', cutoff).execute();
}
