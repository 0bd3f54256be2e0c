export {
  type RawResponse,
  type RequestOptions,
  type ResponseMeta,
  Tickets,
  type TicketsOptions,
} from './client.js';
export * from './contract/index.js';
export * from './errors.js';
export { AutoPaginator } from './pagination.js';
export type { AnalyticsParams, AnalyticsResource } from './resources/analytics.js';
export type { CheckinResource } from './resources/checkin.js';
export type { EventListParams } from './resources/events.js';
export type { InvoicesResource } from './resources/invoices.js';
export type {
  CampaignListParams,
  CampaignRecipientParams,
  CampaignsResource,
  ContactListsResource,
} from './resources/marketing.js';
export type {
  MessageListParams,
  MessagesResource,
  MessageTemplatesResource,
  SuppressionListParams,
  SuppressionsResource,
} from './resources/messages.js';
export type { OrderListParams } from './resources/orders.js';
export type { ListParams } from './resources/orgs.js';
export type { RefundListParams } from './resources/refunds.js';
export type { TicketListParams } from './resources/tickets.js';
export * from './ticket-code.js';
