import type {
  Page,
  WebhookDelivery,
  WebhookDeliveryListQuery,
  WebhookEndpoint,
  WebhookEndpointCreateInput,
  WebhookEndpointUpdateInput,
  WebhookEventType,
} from '@tickets/sdk';
import type { ExpressionBuilder } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { Database, OutboxTable, WebhookEndpointsTable } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { assertPublicHost } from '../../http/public-address.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { notifyQueued } from '../messaging/outbox.js';
import { secretsOf, type WebhookSender } from './deliver.js';
import { forgetEndpoints } from './queue.js';
import { newSecret, signedHeaders } from './signing.js';

/** How long a polled delivery waits for the listener's acknowledgement before it is handed out again. */
const POLL_LEASE_MS = 60_000;

export interface WebhookSettings {
  /** http:// endpoints (development only). */
  allowHttp: boolean;
  /** Endpoints on loopback and private addresses (tests, an intranet). */
  allowPrivate: boolean;
}

/** How long a rotated-out secret keeps signing (with the new one). */
const ROTATION_OVERLAP_MS = 24 * 3600_000;

export function endpointView(row: WebhookEndpointsTable, secret?: string): WebhookEndpoint {
  return {
    id: row.id,
    object: 'webhook_endpoint',
    mode: row.mode,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as WebhookEndpoint['events'],
    status: row.status,
    disabled_reason: row.disabled_reason,
    ...(secret ? { secret } : {}),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** A delivery, from its outbox row and the last attempt's history entry. */
export function deliveryView(
  row: OutboxTable,
  last?: { response_code?: number | null; duration_ms?: number | null },
): WebhookDelivery {
  return {
    id: row.id,
    object: 'webhook_delivery',
    endpoint: row.recipient as string,
    type: row.kind as WebhookEventType,
    status: row.status as WebhookDelivery['status'],
    attempts: row.attempts,
    response_code: last?.response_code ?? null,
    duration_ms: last?.duration_ms ?? null,
    last_error: row.last_error,
    next_attempt_at: row.status === 'queued' ? row.available_at : null,
    delivered_at: row.sent_at,
    created_at: row.created_at,
  };
}

/** Organizers' webhook endpoints: where the events of their organization are delivered, signed. */
export class WebhookEndpoints {
  constructor(
    private readonly db: Db,
    private readonly settings: WebhookSettings,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  /** https only (unless allowed), and a host that is public now (checked again at every delivery). */
  private async checkUrl(url: string): Promise<void> {
    const u = new URL(url);
    if (u.protocol !== 'https:' && !this.settings.allowHttp)
      throw new ApiError(
        400,
        'url_not_https',
        "A webhook endpoint must be https:// (deliveries carry buyers' data).",
      );
    if (u.username || u.password)
      throw new ApiError(
        400,
        'url_has_credentials',
        'Put no user name or password in the URL; verify the signature instead.',
      );
    await assertPublicHost(u, this.settings.allowPrivate);
  }

  private async row(orgId: string, id: string): Promise<WebhookEndpointsTable> {
    const row = await this.k
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('webhook endpoint');
    return row;
  }

  async create(by: Principal, input: z.output<typeof WebhookEndpointCreateInput>): Promise<WebhookEndpoint> {
    if (input.url) await this.checkUrl(input.url);
    const now = nowIso();
    const row: WebhookEndpointsTable = {
      id: newId('webhookEndpoint'),
      org_id: by.orgId,
      mode: input.mode,
      url: input.url ?? null,
      last_polled_at: input.mode === 'poll' ? now : null,
      description: input.description ?? '',
      events: JSON.stringify(input.events),
      status: 'enabled',
      disabled_reason: null,
      secret: newSecret(),
      previous_secret: null,
      previous_secret_until: null,
      created_at: now,
      updated_at: now,
    };
    await this.k.transaction().execute(async (trx) => {
      await trx.insertInto('webhook_endpoints').values(row).execute();
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'webhook_endpoint.created',
        subject: row.id,
        data: { url: row.url, events: input.events },
      });
    });
    forgetEndpoints(by.orgId);
    return endpointView(row, row.secret);
  }

  async list(
    orgId: string,
    query: { limit?: number; starting_after?: string },
  ): Promise<Page<WebhookEndpoint>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => endpointView(r),
    );
  }

  async get(orgId: string, id: string): Promise<WebhookEndpoint> {
    return endpointView(await this.row(orgId, id));
  }

  async update(
    by: Principal,
    id: string,
    patch: z.output<typeof WebhookEndpointUpdateInput>,
  ): Promise<WebhookEndpoint> {
    const current = await this.row(by.orgId, id);
    if (patch.url !== undefined && current.mode === 'poll')
      throw new ApiError(422, 'poll_endpoint', 'A poll endpoint has no URL; create a push endpoint instead.');
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const changes: Partial<WebhookEndpointsTable> = {
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.events !== undefined ? { events: JSON.stringify(patch.events) } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.status !== undefined
        ? {
            status: patch.status,
            disabled_reason:
              patch.status === 'disabled' ? `disabled by ${by.kind === 'user' ? by.userId : by.keyId}` : null,
          }
        : {}),
      updated_at: nowIso(),
    };
    await this.k.transaction().execute(async (trx) => {
      await trx.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'webhook_endpoint.updated',
        subject: id,
        data: { ...patch },
      });
    });
    forgetEndpoints(by.orgId);
    return endpointView({ ...current, ...changes });
  }

  async delete(by: Principal, id: string) {
    await this.row(by.orgId, id);
    await this.k.transaction().execute(async (trx) => {
      // What was still to be delivered goes nowhere now.
      await trx
        .updateTable('outbox')
        .set({ status: 'cancelled', last_error: 'the endpoint was deleted', updated_at: nowIso() })
        .where('channel', 'in', ['webhook', 'webhook_poll'])
        .where('recipient', '=', id)
        .where('status', 'in', ['queued', 'failed'])
        .execute();
      await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
      await recordAudit(trx, { orgId: by.orgId, by, action: 'webhook_endpoint.deleted', subject: id });
    });
    forgetEndpoints(by.orgId);
    return { id, object: 'webhook_endpoint', deleted: true as const };
  }

  /** A new secret, shown once; the old one goes on signing beside it for a day. */
  async rotateSecret(by: Principal, id: string): Promise<WebhookEndpoint> {
    const current = await this.row(by.orgId, id);
    const secret = newSecret();
    const changes = {
      secret,
      previous_secret: current.secret,
      previous_secret_until: new Date(Date.now() + ROTATION_OVERLAP_MS).toISOString(),
      updated_at: nowIso(),
    };
    await this.k.transaction().execute(async (trx) => {
      await trx.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
      await recordAudit(trx, { orgId: by.orgId, by, action: 'webhook_endpoint.secret_rotated', subject: id });
    });
    return endpointView({ ...current, ...changes }, secret);
  }

  async deliveries(
    orgId: string,
    endpointId: string,
    query: z.output<typeof WebhookDeliveryListQuery>,
  ): Promise<Page<WebhookDelivery>> {
    await this.row(orgId, endpointId);
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('outbox')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('channel', 'in', ['webhook', 'webhook_poll'])
      .where('recipient', '=', endpointId)
      .$if(query.status !== undefined, (q) => q.where('status', '=', query.status as OutboxTable['status']))
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const lasts = await this.lastAttempts(rows.map((r) => r.id));
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => deliveryView(r, lasts.get(r.id)),
    );
  }

  /** The latest attempt outcome (status code, duration) of each delivery. */
  private async lastAttempts(ids: string[]) {
    const found = new Map<string, { response_code: number | null; duration_ms: number | null }>();
    if (ids.length === 0) return found;
    const events = await this.k
      .selectFrom('message_events')
      .select(['message_id', 'response_code', 'duration_ms', 'id'])
      .where('message_id', 'in', ids)
      .where('duration_ms', 'is not', null)
      .orderBy('id')
      .execute();
    for (const e of events)
      found.set(e.message_id, { response_code: e.response_code ?? null, duration_ms: e.duration_ms ?? null });
    return found;
  }

  /**
   * A poll endpoint's waiting deliveries (what `tickets webhooks listen` relays), each signed as a push
   * would be. Handed out under a minute's lease: the listener acknowledges what it relayed on its next
   * poll (`ack`), and a delivery not acknowledged by then (the listener died mid-relay) is handed out
   * again — at least once, as pushes are. With none waiting, waits up to `waitSeconds` for one, looking
   * every 200 ms with a read (no write until something is there), and stops when the client goes away.
   */
  async poll(
    orgId: string,
    id: string,
    query: { wait: number; ack: string[] },
    sender: WebhookSender,
    gone: () => boolean = () => false,
  ) {
    const endpoint = await this.row(orgId, id);
    if (endpoint.mode !== 'poll')
      throw new ApiError(
        409,
        'not_a_poll_endpoint',
        'This endpoint is pushed to its URL; only a poll endpoint is polled.',
      );
    const now = nowIso();
    await this.k.updateTable('webhook_endpoints').set({ last_polled_at: now }).where('id', '=', id).execute();
    if (query.ack.length)
      await this.k
        .updateTable('outbox')
        .set({ status: 'sent', sent_at: now, updated_at: now, lease_until: null, provider: 'poll' })
        .where('channel', '=', 'webhook_poll')
        .where('recipient', '=', id)
        .where('id', 'in', query.ack)
        .where('status', '=', 'sending')
        .execute();
    const deadline = Date.now() + query.wait * 1000;
    for (;;) {
      const at = nowIso();
      const handOut = (eb: ExpressionBuilder<Database, 'outbox'>) =>
        eb.or([
          eb('status', '=', 'queued'),
          eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', at)]),
        ]);
      const due = await this.k
        .selectFrom('outbox')
        .select('id')
        .where('channel', '=', 'webhook_poll')
        .where('recipient', '=', id)
        .where(handOut)
        .orderBy('id')
        .limit(50)
        .execute();
      // Taken by one poll only: conditional on still being there to hand out.
      const rows = due.length
        ? await this.k
            .updateTable('outbox')
            .set((eb) => ({
              status: 'sending',
              lease_until: new Date(Date.now() + POLL_LEASE_MS).toISOString(),
              attempts: eb('attempts', '+', 1),
              updated_at: at,
            }))
            .where(
              'id',
              'in',
              due.map((d) => d.id),
            )
            .where(handOut)
            .returningAll()
            .execute()
        : [];
      if (rows.length > 0 || Date.now() >= deadline || gone()) {
        const data = [];
        for (const row of rows.sort((a, b) => (a.id < b.id ? -1 : 1))) {
          const event = await sender.body(row);
          if (!event) continue;
          const body = JSON.stringify(event);
          data.push({
            id: row.id,
            type: event.type,
            headers: signedHeaders(row.id, body, secretsOf(endpoint)),
            body,
          });
        }
        return { object: 'list' as const, data };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Poll endpoints nobody has polled for ten minutes (a `listen` that went away) are deleted. */
  async sweepPollEndpoints(idleMs = 10 * 60_000): Promise<number> {
    const before = new Date(Date.now() - idleMs).toISOString();
    const stale = await this.k
      .selectFrom('webhook_endpoints')
      .select(['id', 'org_id'])
      .where('mode', '=', 'poll')
      .where('last_polled_at', '<', before)
      .execute();
    for (const e of stale) {
      await this.k.transaction().execute(async (trx) => {
        await trx
          .updateTable('outbox')
          .set({ status: 'cancelled', last_error: 'the listener went away', updated_at: nowIso() })
          .where('channel', '=', 'webhook_poll')
          .where('recipient', '=', e.id)
          .where('status', '=', 'queued')
          .execute();
        await trx.deleteFrom('webhook_endpoints').where('id', '=', e.id).execute();
      });
      forgetEndpoints(e.org_id);
    }
    return stale.length;
  }

  /** Sends a delivery that failed or was given up on again, now (its attempts count on from there). */
  async retry(by: Principal, deliveryId: string): Promise<WebhookDelivery> {
    const row = await this.k
      .selectFrom('outbox')
      .selectAll()
      .where('org_id', '=', by.orgId)
      .where('channel', 'in', ['webhook', 'webhook_poll'])
      .where('id', '=', deliveryId)
      .executeTakeFirst();
    if (!row) throw notFound('webhook delivery');
    if (!['failed', 'dead', 'cancelled'].includes(row.status))
      throw conflict(
        'not_retryable',
        `The delivery is ${row.status}: only a failed, dead or cancelled one is sent again.`,
      );
    const now = nowIso();
    const updated = await this.k
      .updateTable('outbox')
      .set({
        status: 'queued',
        available_at: now,
        attempts: 0,
        updated_at: now,
        // Its three days of tries start again now (the worker reads this rather than created_at).
        payload: JSON.stringify({ ...JSON.parse(row.payload), retried_at: now }),
      })
      .where('id', '=', deliveryId)
      .where('status', '=', row.status)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1)
      throw conflict('not_retryable', 'The delivery changed meanwhile; look again.');
    notifyQueued(this.db);
    return deliveryView({ ...row, status: 'queued', available_at: now, attempts: 0 });
  }
}
