import type { RequestOptions, Tickets } from '../client.js';
import type { Deleted } from '../contract/common.js';
import type {
  Event,
  EventCancelInput,
  EventCancellation,
  EventCreateInput,
  EventListQuery,
  EventUpdateInput,
} from '../contract/events.js';
import type { MediaAsset } from '../contract/media.js';
import type { EventPublicKey } from '../contract/orders.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';
import type { MediaUploadOptions, MediaUploadParams, MediaUploadSource } from './media.js';

export type EventListParams = Omit<EventListQuery, 'starting_after'>;

export class EventsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Creates a draft event.
   * @example
   * await tickets.events.create({ name: 'Jazz Night', timezone: 'Europe/Berlin', currency: 'EUR',
   *   starts_at: '2026-12-31T20:00:00+01:00', ends_at: '2027-01-01T02:00:00+01:00' })
   */
  create(input: EventCreateInput, options?: RequestOptions): Promise<Event> {
    return this.client.request(routes.events.create, { body: input }, options);
  }

  get(id: string): Promise<Event> {
    return this.client.request(routes.events.get, { params: { id } });
  }

  /** Changes the given fields; the rest keep their value. */
  update(id: string, input: EventUpdateInput): Promise<Event> {
    return this.client.request(routes.events.update, { params: { id }, body: input });
  }

  /** Deletes an event without orders; cancel one that has them. */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.events.delete, { params: { id } });
  }

  /** @example for await (const e of tickets.events.list({ status: 'published' })) … */
  list(params: EventListParams = {}): AutoPaginator<Event> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.events.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  publish(id: string, options?: RequestOptions): Promise<Event> {
    return this.client.request(routes.events.publish, { params: { id } }, options);
  }

  /**
   * Cancels an event: sales stop, its tickets are refused at the door and every holder is told (with
   * `message`). `refund: 'all'` refunds every paid order as a background job; follow it with `cancellation`.
   * @example await tickets.events.cancel('evt_…', { refund: 'all', message: 'The venue flooded.' })
   */
  cancel(id: string, params: EventCancelInput = {}, options?: RequestOptions): Promise<Event> {
    return this.client.request(routes.events.cancel, { params: { id }, body: params }, options);
  }

  /** How far a cancelled event's refunds have gone. */
  cancellation(id: string, options?: RequestOptions): Promise<EventCancellation> {
    return this.client.request(routes.events.cancellation, { params: { id } }, options);
  }

  complete(id: string, options?: RequestOptions): Promise<Event> {
    return this.client.request(routes.events.complete, { params: { id } }, options);
  }

  /**
   * Uploads the event's cover (its poster), replacing the one it had: `media.upload` with `role: 'cover'`.
   * The event's `cover` then shows it, with its preset URLs and srcset.
   * @example
   * const cover = await tickets.events.setCover(event.id, 'poster.jpg', { alt: 'The band on stage' })
   * console.log(cover.urls?.og)
   */
  setCover(
    eventId: string,
    file: MediaUploadSource,
    params: Omit<MediaUploadParams, 'event' | 'role' | 'position'> = {},
    options?: MediaUploadOptions,
  ): Promise<MediaAsset> {
    return this.client.media.upload(file, { ...params, event: eventId, role: 'cover' }, options);
  }

  /**
   * The event's Ed25519 public key, to verify its ticket codes offline with verifyTicketCode.
   * @example const { public_key } = await tickets.events.publicKey(event.id)
   */
  publicKey(id: string): Promise<EventPublicKey> {
    return this.client.request(routes.tickets.publicKey, { params: { id } });
  }
}
