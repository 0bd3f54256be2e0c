import type { AuditEntry as AuditEntryView, AuditListQuery, Page } from '@tickets/sdk';
import type { Kysely, Selectable } from 'kysely';
import type { z } from 'zod';
import type { AuditLogTable, Database } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso, toUtc } from '../../time.js';

/** Who did something: a signed-in user or an API key (with the request they came with), or the system. */
export type Actor = Principal | null;

export interface AuditEntry {
  /** The organization it belongs to; null only for a security event that has none. */
  orgId: string | null;
  by: Actor;
  /** `<noun>.<verb>`, e.g. `refund.created`, `member.role_changed`, `security.login_burst`. */
  action: string;
  /** The id of what it was done to. */
  subject: string;
  /** The fields that changed, as they were and as they are (only those that changed). */
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** Anything else worth keeping (an amount, a reason). */
  data?: Record<string, unknown>;
  /** For the system or a sign-in (no principal yet): the request and address it came with. */
  via?: { requestId: string; ip: string };
}

/** The id an actor is recorded by: usr_… or key_…. */
export const actorId = (p: Principal) => (p.kind === 'user' ? p.userId : p.keyId);

/**
 * Records one entry, in the transaction of the change it describes (so an entry exists exactly when the
 * change does). The log is append-only: nothing updates or deletes it.
 */
export async function recordAudit(db: Kysely<Database>, e: AuditEntry): Promise<void> {
  const via = e.by?.via ?? e.via;
  await db
    .insertInto('audit_log')
    .values({
      id: newId('audit'),
      org_id: e.orgId,
      actor: e.by ? actorId(e.by) : null,
      action: e.action,
      subject_id: e.subject,
      data: JSON.stringify({
        ...(e.data ?? {}),
        ...(e.before ? { before: e.before } : {}),
        ...(e.after ? { after: e.after } : {}),
      }),
      created_at: nowIso(),
      request_id: via?.requestId ?? null,
      ip: via?.ip ?? null,
    })
    .execute();
}

/**
 * The fields of `after` whose values differ from `before`'s, as two objects (for an update's entry);
 * null when nothing changed.
 */
export function changed<T extends Record<string, unknown>>(
  before: T,
  after: Partial<T>,
): { before: Partial<T>; after: Partial<T> } | null {
  const was: Partial<T> = {};
  const now: Partial<T> = {};
  for (const k of Object.keys(after) as (keyof T)[]) {
    if (after[k] === undefined || JSON.stringify(before[k]) === JSON.stringify(after[k])) continue;
    was[k] = before[k];
    now[k] = after[k];
  }
  return Object.keys(now).length ? { before: was, after: now } : null;
}

/** The audit log of an organization, newest first, filtered (GET /api/audit-log). */
export async function listAudit(
  k: Kysely<Database>,
  orgId: string,
  query: z.output<typeof AuditListQuery>,
): Promise<Page<AuditEntryView>> {
  const { limit, before } = newestFirst(query);
  const prefix = query.action?.endsWith('.') ? query.action : null;
  const rows = await k
    .selectFrom('audit_log')
    .selectAll()
    .where('org_id', '=', orgId)
    .$if(query.actor !== undefined, (q) => q.where('actor', '=', query.actor!))
    .$if(query.action !== undefined && !prefix, (q) => q.where('action', '=', query.action!))
    // A prefix as a range of the (org, action, id) index: `refund.` up to `refund/` ('/' follows '.').
    .$if(prefix !== null, (q) =>
      q.where('action', '>=', prefix!).where('action', '<', `${prefix!.slice(0, -1)}/`),
    )
    .$if(query.target !== undefined, (q) => q.where('subject_id', '=', query.target!))
    .$if(query.from !== undefined, (q) => q.where('created_at', '>=', toUtc(query.from!)))
    .$if(query.to !== undefined, (q) => q.where('created_at', '<', toUtc(query.to!)))
    .$if(before !== null, (q) => q.where('id', '<', before as string))
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return toPage(rows, limit, (r) => [r.id], entryView);
}

function entryView(r: Selectable<AuditLogTable>): AuditEntryView {
  const { before = null, after = null, ...data } = JSON.parse(r.data) as Record<string, unknown>;
  return {
    id: r.id,
    object: 'audit_entry',
    action: r.action,
    actor: {
      kind: r.actor?.startsWith('usr_') ? 'user' : r.actor ? 'api_key' : 'system',
      id: r.actor,
    },
    target: r.subject_id,
    before: before as Record<string, unknown> | null,
    after: after as Record<string, unknown> | null,
    data,
    request_id: r.request_id,
    ip: r.ip,
    created_at: r.created_at,
  };
}
