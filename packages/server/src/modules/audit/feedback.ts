import type { Feedback, FeedbackInput } from '@tickets/sdk';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { Principal } from '../../http/app.js';
import { newId } from '../../ids.js';
import { sendFeedback } from '../../integrations/sentry.js';
import { nowIso } from '../../time.js';
import { actorId } from './log.js';

/**
 * Feedback from a user of the API or the CLI: kept in the database, and sent to Sentry as user
 * feedback (linked to the error of the request it names, when this process captured one) when Sentry
 * is on.
 */
export async function recordFeedback(
  db: Db,
  principal: Principal,
  input: z.output<typeof FeedbackInput>,
): Promise<Feedback> {
  const row = {
    id: newId('feedback'),
    org_id: principal.orgId,
    actor: actorId(principal),
    message: input.message,
    email: input.email ?? null,
    event_id: input.event ?? null,
    order_id: input.order ?? null,
    request_id: input.request_id ?? null,
    sentry_event_id: null as string | null,
    linked_event_id: null as string | null,
    created_at: nowIso(),
  };
  // Kept first: what could not be kept is not sent anywhere either.
  await db.kysely.insertInto('feedback').values(row).execute();
  const sent = sendFeedback({
    message: input.message,
    email: input.email ?? null,
    requestId: input.request_id ?? null,
    tags: {
      org_id: principal.orgId,
      ...(input.event ? { event_id: input.event } : {}),
      ...(input.order ? { order_id: input.order } : {}),
    },
  });
  if (sent) {
    row.sentry_event_id = sent.id;
    row.linked_event_id = sent.linkedTo;
    await db.kysely
      .updateTable('feedback')
      .set({ sentry_event_id: sent.id, linked_event_id: sent.linkedTo })
      .where('id', '=', row.id)
      .execute();
  }
  return {
    id: row.id,
    object: 'feedback',
    message: row.message,
    request_id: row.request_id,
    sent_to_sentry: sent !== null,
    linked_error: row.linked_event_id,
    created_at: row.created_at,
  };
}
