import type { Tickets } from '../client.js';
import type {
  AnalyticsQuery,
  EventAnalytics,
  EventRow,
  EventsAnalyticsQuery,
  RevenueAnalytics,
  SalesAnalytics,
  SalesAnalyticsQuery,
  UsersAnalytics,
} from '../contract/analytics.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

/** The filters every analytics call takes; `event` may name several events. */
export type AnalyticsParams = Omit<AnalyticsQuery, 'event'> & { event?: string | string[] };

/**
 * The organizer's numbers: money per currency in minor units, time series in buckets of the time zone
 * (empty buckets present with zeros). Owners, admins and full API keys.
 */
export class AnalyticsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * One event's dashboard: inventory, money, sales over time, by type, channel and source, check-ins.
   * @example const a = await tickets.analytics.event(event.id, { interval: 'day' }); console.log(a.inventory.sell_through)
   */
  event(eventId: string, params: Omit<AnalyticsParams, 'event'> = {}): Promise<EventAnalytics> {
    return this.client.request(routes.analytics.event, { params: { id: eventId }, query: params });
  }

  /**
   * Tickets, orders and money over time across events, optionally grouped.
   * @example const { series } = await tickets.analytics.sales({ from: '2026-03-01', to: '2026-04-01', group_by: 'event' })
   */
  sales(params: AnalyticsParams & Pick<SalesAnalyticsQuery, 'group_by'> = {}): Promise<SalesAnalytics> {
    return this.client.request(routes.analytics.sales, { query: params });
  }

  /**
   * One row per event (capacity, sold, sell-through, gross, net, check-in rate), every page.
   * @example for await (const e of tickets.analytics.events({ sort: '-net' })) console.log(e.name, e.net)
   */
  events(
    params: AnalyticsParams & Pick<EventsAnalyticsQuery, 'sort' | 'limit'> = {},
  ): AutoPaginator<EventRow> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.analytics.events, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** Buyers: new and returning, repeat rate, opt-ins, top buyers. @example const u = await tickets.analytics.users() */
  users(params: AnalyticsParams = {}): Promise<UsersAnalytics> {
    return this.client.request(routes.analytics.users, { query: params });
  }

  /** Paid, refunded and net per bucket and currency; tax per rate; payments by method. @example const r = await tickets.analytics.revenue({ interval: 'month' }) */
  revenue(params: AnalyticsParams = {}): Promise<RevenueAnalytics> {
    return this.client.request(routes.analytics.revenue, { query: params });
  }
}
