export {
  type RawResponse,
  type RequestOptions,
  type ResponseMeta,
  type StreamResponse,
  Tickets,
  type TicketsOptions,
  type UploadBody,
} from './client.js';
export * from './contract/index.js';
export * from './errors.js';
export { AutoPaginator } from './pagination.js';
export type { AnalyticsParams, AnalyticsResource } from './resources/analytics.js';
export type { AuditListParams } from './resources/audit.js';
export type { CheckinResource } from './resources/checkin.js';
export type { EventListParams } from './resources/events.js';
export type { GoogleAnalyticsResource, IntegrationsResource } from './resources/integrations.js';
export type { InvoicesResource } from './resources/invoices.js';
export type {
  CampaignListParams,
  CampaignRecipientParams,
  CampaignsResource,
  ContactListsResource,
} from './resources/marketing.js';
export type {
  MediaListParams,
  MediaResource,
  MediaUploadOptions,
  MediaUploadParams,
  MediaUploadSource,
} from './resources/media.js';
export type {
  MessageListParams,
  MessagesResource,
  MessageTemplatesResource,
  SuppressionListParams,
  SuppressionsResource,
} from './resources/messages.js';
export type { OrderListParams } from './resources/orders.js';
export type { ListParams } from './resources/orgs.js';
export type { PayoutListParams, PayoutsResource, ReconciliationsResource } from './resources/payouts.js';
export type { RefundListParams } from './resources/refunds.js';
export {
  type AttendanceReportParams,
  type ReportDownload,
  type ReportDownloadOptions,
  type ReportParams,
  type ReportProgress,
  ReportRowCounter,
  type ReportStream,
  type ReportsResource,
  type RevenueReportParams,
  type SalesReportParams,
} from './resources/reports.js';
export type { TicketListParams } from './resources/tickets.js';
export type { VoucherListParams, VouchersResource } from './resources/vouchers.js';
export type {
  WebhookDeliveryListParams,
  WebhookEndpointListParams,
  WebhookEndpointsResource,
} from './resources/webhooks.js';
export * from './ticket-code.js';
export {
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookHeaders,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from './webhook-signature.js';
