export * from './accounts.js';
export * from './checkin.js';
export * from './common.js';
export * from './events.js';
export * from './invoices.js';
export * from './openapi.js';
export * from './orders.js';
export * from './routes.js';
