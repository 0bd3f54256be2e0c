export { type RequestOptions, type ResponseMeta, Tickets, type TicketsOptions } from './client.js';
export * from './contract/index.js';
export * from './errors.js';
export { AutoPaginator } from './pagination.js';
export type { EventListParams } from './resources/events.js';
export type { ListParams } from './resources/orgs.js';
export * from './ticket-code.js';
