import type { RequestOptions, Tickets } from '../client.js';
import type { Deleted } from '../contract/common.js';
import { routes } from '../contract/routes.js';
import type {
  WebhookDelivery,
  WebhookDeliveryListQuery,
  WebhookEndpoint,
  WebhookEndpointCreateInput,
  WebhookEndpointUpdateInput,
  WebhookPolled,
} from '../contract/webhooks.js';
import { AutoPaginator } from '../pagination.js';
import type { ListParams } from './orgs.js';

export type WebhookEndpointListParams = ListParams;
export type WebhookDeliveryListParams = Omit<WebhookDeliveryListQuery, 'starting_after'>;

/**
 * Webhook endpoints: URLs of the organization's own that the server POSTs events to (order.paid, …),
 * signed as Standard Webhooks does; check each delivery with `verifyWebhook`. Owners and admins, or a
 * full API key.
 */
export class WebhookEndpointsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Subscribes a URL to event types (or `['*']`, every one, now and later). The answer holds the
   * endpoint's signing `secret` (`whsec_…`): this once, so keep it.
   * @example
   * const { id, secret } = await tickets.webhookEndpoints.create({ url: 'https://example.com/hooks/tickets', events: ['order.paid', 'order.refunded'] })
   */
  create(input: WebhookEndpointCreateInput, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.client.request(routes.webhookEndpoints.create, { body: input }, options);
  }

  /**
   * The organization's endpoints (never their secrets).
   * @example for await (const e of tickets.webhookEndpoints.list()) console.log(e.id, e.url, e.status)
   */
  list(params: WebhookEndpointListParams = {}): AutoPaginator<WebhookEndpoint> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.webhookEndpoints.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** One endpoint, without its secret. @example const endpoint = await tickets.webhookEndpoints.get('we_…') */
  get(id: string): Promise<WebhookEndpoint> {
    return this.client.request(routes.webhookEndpoints.get, { params: { id } });
  }

  /**
   * Changes its URL, events or description; `status: 'disabled'` stops deliveries, `'enabled'` resumes them
   * (also after the server disabled it for failing: see `disabled_reason`). What is left out keeps its value.
   * @example await tickets.webhookEndpoints.update('we_…', { events: ['*'] })
   * @example await tickets.webhookEndpoints.update('we_…', { status: 'disabled' })
   */
  update(id: string, input: WebhookEndpointUpdateInput): Promise<WebhookEndpoint> {
    return this.client.request(routes.webhookEndpoints.update, { params: { id }, body: input });
  }

  /** Deletes an endpoint; its undelivered deliveries are cancelled. @example await tickets.webhookEndpoints.delete('we_…') */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.webhookEndpoints.delete, { params: { id } });
  }

  /**
   * A new signing secret, in this answer only. For 24 hours deliveries are signed with the old secret too
   * (two `v1,…` signatures), so receivers can switch over without missing one.
   * @example const { secret } = await tickets.webhookEndpoints.rotateSecret('we_…')
   */
  rotateSecret(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.client.request(routes.webhookEndpoints.rotateSecret, { params: { id } }, options);
  }

  /**
   * An endpoint's deliveries, newest first: status, attempts, its last answer and how long it took.
   * @example for await (const d of tickets.webhookEndpoints.deliveries('we_…', { status: 'failed' })) console.log(d.id, d.last_error)
   */
  deliveries(id: string, params: WebhookDeliveryListParams = {}): AutoPaginator<WebhookDelivery> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.webhookEndpoints.deliveries, {
        params: { id },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /**
   * Sends a failed or dead delivery again, now (same `webhook-id`, so a receiver still handles it once).
   * @example await tickets.webhookEndpoints.retry('msg_…')
   */
  retry(deliveryId: string, options?: RequestOptions): Promise<WebhookDelivery> {
    return this.client.request(routes.webhookEndpoints.retry, { params: { id: deliveryId } }, options);
  }

  /**
   * A poll endpoint's waiting deliveries, each as a push would carry it (headers and the exact body),
   * waiting up to `wait` seconds (default 25) for one. What `tickets webhooks listen` does. Pass the ids
   * relayed since the last poll as `ack`; one not acknowledged within a minute is handed out again.
   * @example const { data } = await tickets.webhookEndpoints.poll('we_…', { wait: 25, ack: ['msg_…'] })
   */
  poll(id: string, params: { wait?: number; ack?: string[] } = {}): Promise<WebhookPolled> {
    const { ack, ...rest } = params;
    return this.client.request(routes.webhookEndpoints.poll, {
      params: { id },
      query: { ...rest, ...(ack?.length ? { ack: ack.join(',') } : {}) },
    });
  }
}
