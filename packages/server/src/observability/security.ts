import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { captureSecurityMessage } from '../integrations/sentry.js';
import { type Actor, recordAudit } from '../modules/audit/log.js';
import { securityEvents } from './metrics.js';

export type SecurityKind = 'login_burst' | 'refresh_token_reuse' | 'webhook_bad_signature' | 'large_refund';

/**
 * A security event: a burst of failed sign-ins, a reused refresh token, a webhook with a bad signature,
 * a refund above the threshold. Each is recorded three ways: an audit entry `security.<kind>` in every
 * organization it concerns (or one with none: a webhook belongs to no organization), the
 * tickets_security_events_total metric, and a Sentry message at warning level (when Sentry is on).
 * Never throws: monitoring must not turn a refusal into an error.
 */
export async function raiseSecurityEvent(
  db: Kysely<Database>,
  e: {
    kind: SecurityKind;
    /** One line for people: what happened. */
    summary: string;
    orgIds: string[];
    by: Actor;
    subject: string;
    data: Record<string, unknown>;
    via?: { requestId: string; ip: string };
  },
): Promise<void> {
  securityEvents.inc({ kind: e.kind });
  captureSecurityMessage(e.kind, e.summary, { subject: e.subject, ...e.data });
  try {
    for (const orgId of e.orgIds.length ? e.orgIds : [null])
      await recordAudit(db, {
        orgId,
        by: e.by,
        via: e.via,
        action: `security.${e.kind}`,
        subject: e.subject,
        data: { summary: e.summary, ...e.data },
      });
  } catch {
    // The metric and Sentry have it; a failed audit write must not fail the request that caused it.
  }
}
