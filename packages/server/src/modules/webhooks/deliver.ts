import { WEBHOOK_API_VERSION, type WebhookEvent, type WebhookEventType } from '@tickets/sdk';
import got from 'got';
import type { Db } from '../../db/database.js';
import type { OutboxTable, WebhookEndpointsTable } from '../../db/schema.js';
import { ApiError } from '../../http/errors.js';
import { checkLiteral, publicLookup } from '../../http/public-address.js';
import { orgEvent } from '../events/service.js';
import { eventView } from '../events/views.js';
import { DeliveryError } from '../messaging/transport.js';
import { readOrder } from '../orders/service.js';
import { readTicket } from '../orders/tickets.js';
import type { WebhookSubject } from './queue.js';
import { signedHeaders } from './signing.js';

/** An attempt's outcome, as the history keeps it. */
export interface Attempt {
  status: number;
  durationMs: number;
}

/** Deliveries are given up on after this long failing (then the endpoint is disabled). */
export const WEBHOOK_GIVE_UP_MS = 3 * 24 * 3600_000;

/**
 * The next try of a failing delivery: the base (TICKETS_MESSAGE_RETRY_BASE_MS, 30 s), doubling each
 * time (with full jitter), at most 6 hours apart — about 20 attempts over the three days before it is
 * given up on.
 */
export function webhookBackoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const ceiling = Math.min(6 * 3600_000, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Sends a webhook delivery (an outbox row of channel `webhook`): the resource as the API answers it
 * now, wrapped in an event, POSTed with Standard Webhooks signatures. The endpoint's address is checked
 * at connection time (no private addresses, unless allowed); redirects are not followed.
 */
export class WebhookSender {
  readonly name = 'webhook';

  constructor(
    private readonly db: Db,
    private readonly settings: { allowPrivate: boolean; timeoutMs: number },
  ) {}

  /** The event's body: the same object the API answers for the resource, in this API version. */
  async body(row: Pick<OutboxTable, 'id' | 'org_id' | 'kind' | 'payload'>): Promise<WebhookEvent | null> {
    const subject = JSON.parse(row.payload) as WebhookSubject & { occurred_at?: string };
    let object: unknown;
    try {
      if (subject.order_id) object = await readOrder(this.db.kysely, row.org_id, subject.order_id);
      else if (subject.ticket_id) object = await readTicket(this.db.kysely, row.org_id, subject.ticket_id);
      else if (subject.event_id)
        object = eventView(await orgEvent(this.db.kysely, row.org_id, subject.event_id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
    if (object === undefined) return null;
    return {
      id: row.id,
      object: 'event',
      type: row.kind as WebhookEventType,
      api_version: WEBHOOK_API_VERSION,
      created_at: subject.occurred_at ?? new Date().toISOString(),
      data: { object },
    };
  }

  /** Sends it; resolves with the endpoint's answer, or says why it should not be sent (`cancel`). */
  async send(row: OutboxTable, signal: AbortSignal): Promise<Attempt | { cancel: string }> {
    const endpoint = await this.db.kysely
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', row.recipient ?? '')
      .executeTakeFirst();
    if (!endpoint) return { cancel: 'the endpoint was deleted' };
    if (endpoint.status !== 'enabled') return { cancel: 'the endpoint is disabled' };
    if (!endpoint.url) return { cancel: 'the endpoint has no URL (it is polled)' };
    const event = await this.body(row);
    if (!event) return { cancel: 'what it was about no longer exists' };
    const body = JSON.stringify(event);
    const secrets = secretsOf(endpoint);
    const url = new URL(endpoint.url);
    try {
      checkLiteral(url, this.settings.allowPrivate);
    } catch (err) {
      throw new DeliveryError((err as Error).message, false);
    }
    const started = performance.now();
    let status: number;
    try {
      // Only the status matters: the answer's body is not read (an endpoint may answer a large or an
      // endless one), the connection is dropped once the status line and headers are in.
      status = await new Promise<number>((resolve, reject) => {
        const stream = got.stream.post(url, {
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'tickets-webhooks/1',
            ...signedHeaders(row.id, body, secrets),
          },
          dnsLookup: publicLookup(this.settings.allowPrivate) as never,
          followRedirect: false,
          throwHttpErrors: false,
          retry: { limit: 0 },
          timeout: { request: this.settings.timeoutMs },
          signal,
        });
        stream.once('response', (res: { statusCode: number }) => {
          resolve(res.statusCode);
          stream.destroy();
        });
        stream.once('error', reject);
        stream.resume();
      });
    } catch (err) {
      const ms = Math.round(performance.now() - started);
      const refused = (err as { cause?: unknown }).cause instanceof ApiError;
      throw new DeliveryError(`${refused ? 'refused' : 'no answer'}: ${(err as Error).message}`, !refused, {
        cause: err,
        durationMs: ms,
      });
    }
    const durationMs = Math.round(performance.now() - started);
    if (status < 200 || status >= 300)
      throw new DeliveryError(`the endpoint answered ${status}`, true, { status, durationMs });
    return { status, durationMs };
  }
}

/** The secrets a delivery is signed with: the endpoint's, and for a day after a rotation the one before. */
export function secretsOf(
  endpoint: Pick<WebhookEndpointsTable, 'secret' | 'previous_secret' | 'previous_secret_until'>,
): string[] {
  const secrets = [endpoint.secret];
  if (endpoint.previous_secret && (endpoint.previous_secret_until ?? '') > new Date().toISOString())
    secrets.push(endpoint.previous_secret);
  return secrets;
}
