import type { RequestOptions, Tickets } from '../client.js';
import type {
  CheckinBatchInput,
  CheckinBatchResult,
  CheckinBundle,
  CheckinBundleQuery,
  CheckinConflict,
  CheckinList,
  CheckinListCreateInput,
  CheckinListUpdateInput,
  CheckinStats,
  DoorEvent,
  ValidateInput,
  Validation,
} from '../contract/checkin.js';
import type { Deleted } from '../contract/common.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';
import type { ListParams } from './orgs.js';

/** The door: scanning tickets, and the check-in lists (gates) that decide who comes in when. */
export class CheckinResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Scans a ticket's code at a gate: `admitted` exactly once, otherwise the reason it is refused
   * (a refusal is an answer, not an error). `dry_run` looks the ticket up without admitting it.
   * @example
   * const v = await tickets.checkin.validate({ code, device_id: 'scanner-1', gate: 'North' })
   * if (!v.admitted) console.log(v.message, v.first_used?.at)
   */
  validate(input: ValidateInput, options?: RequestOptions): Promise<Validation> {
    return this.client.request(routes.checkin.validate, { body: input }, options);
  }

  /**
   * The events a door may scan at (published, not over), soonest first: name, dates and venue only —
   * what a `checkin` key may read to choose its event.
   * @example for await (const e of tickets.checkin.events()) console.log(e.name, e.starts_at)
   */
  events(params: ListParams = {}): AutoPaginator<DoorEvent> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.checkin.events, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** An event's check-in lists, the default one included. @example const [main] = await tickets.checkin.lists(event.id) */
  async lists(eventId: string): Promise<CheckinList[]> {
    const page = await this.client.request(routes.checkin.lists, { params: { id: eventId } });
    return page.data;
  }

  /**
   * Adds a list: which ticket types it admits (all when left out), when, and whether re-entry is allowed.
   * @example await tickets.checkin.createList(event.id, { name: 'VIP door', ticket_type_ids: [vip.id], allow_reentry: true })
   */
  createList(eventId: string, input: CheckinListCreateInput, options?: RequestOptions): Promise<CheckinList> {
    return this.client.request(routes.checkin.createList, { params: { id: eventId }, body: input }, options);
  }

  /** One check-in list. @example const list = await tickets.checkin.getList('cl_…') */
  getList(id: string): Promise<CheckinList> {
    return this.client.request(routes.checkin.getList, { params: { id } });
  }

  /** Changes the given fields (null clears one). @example await tickets.checkin.updateList('cl_…', { ends_at: null }) */
  updateList(id: string, input: CheckinListUpdateInput): Promise<CheckinList> {
    return this.client.request(routes.checkin.updateList, { params: { id }, body: input });
  }

  /** Deletes a list nobody was checked in on; the default list cannot be. @example await tickets.checkin.deleteList('cl_…') */
  deleteList(id: string): Promise<Deleted> {
    return this.client.request(routes.checkin.deleteList, { params: { id } });
  }

  /**
   * What a door needs to validate offline: the event's public key and each ticket's state on a list.
   * Without `since` a full bundle; with the previous `cursor`, only what changed. Page while `has_more`.
   * @example
   * let b = await tickets.checkin.bundle(event.id, { limit: 1000 })
   * while (b.has_more) b = await tickets.checkin.bundle(event.id, { since: b.cursor })
   */
  bundle(eventId: string, query: CheckinBundleQuery = {}, options?: RequestOptions): Promise<CheckinBundle> {
    return this.client.request(routes.checkin.bundle, { params: { id: eventId }, query }, options);
  }

  /**
   * Uploads scans made offline (at most 500): each applied once by its id, in the order scanned;
   * `conflict` marks a ticket this device admitted that another scan had admitted first.
   * @example const r = await tickets.checkin.uploadBatch({ device_id: 'scanner-1', scans })
   */
  uploadBatch(input: CheckinBatchInput, options?: RequestOptions): Promise<CheckinBatchResult> {
    return this.client.request(routes.checkin.uploadBatch, { body: input }, options);
  }

  /**
   * Offline admissions that collided with an earlier admission, in the order uploaded.
   * @example for await (const c of tickets.checkin.conflicts(event.id)) console.log(c.ticket_id)
   */
  conflicts(eventId: string, params: ListParams = {}): AutoPaginator<CheckinConflict> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.checkin.conflicts, {
        params: { id: eventId },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /** Live door figures for an event. @example const { admitted, inside } = await tickets.checkin.stats(event.id) */
  stats(eventId: string, options?: RequestOptions): Promise<CheckinStats> {
    return this.client.request(routes.checkin.stats, { params: { id: eventId } }, options);
  }
}
