import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import type { Analytics } from './service.js';

export function analyticsRoutes(app: App, analytics: Analytics): void {
  app.handle(routes.analytics.event, ({ principal, params, query }) =>
    analytics.event(principal.orgId, params.id, query),
  );
  app.handle(routes.analytics.sales, ({ principal, query }) => analytics.sales(principal.orgId, query));
  app.handle(routes.analytics.events, ({ principal, query }) => analytics.eventsList(principal.orgId, query));
  app.handle(routes.analytics.users, ({ principal, query }) => analytics.users(principal.orgId, query));
  app.handle(routes.analytics.revenue, ({ principal, query }) => analytics.revenue(principal.orgId, query));
}
