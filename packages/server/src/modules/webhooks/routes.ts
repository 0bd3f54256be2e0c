import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import type { WebhookSender } from './deliver.js';
import type { WebhookEndpoints } from './endpoints.js';

export function webhookRoutes(app: App, endpoints: WebhookEndpoints, sender: WebhookSender): void {
  const r = routes.webhookEndpoints;
  app.handle(r.create, ({ principal, body }) => endpoints.create(principal, body));
  app.handle(r.list, ({ principal, query }) => endpoints.list(principal.orgId, query));
  app.handle(r.get, ({ principal, params }) => endpoints.get(principal.orgId, params.id));
  app.handle(r.update, ({ principal, params, body }) => endpoints.update(principal, params.id, body));
  app.handle(r.delete, ({ principal, params }) => endpoints.delete(principal, params.id));
  app.handle(r.rotateSecret, ({ principal, params }) => endpoints.rotateSecret(principal, params.id));
  app.handle(r.deliveries, ({ principal, params, query }) =>
    endpoints.deliveries(principal.orgId, params.id, query),
  );
  app.handle(r.poll, ({ principal, params, query, req }) =>
    // A listener that hung up stops the long poll (its socket closed).
    endpoints.poll(principal.orgId, params.id, query, sender, () => req.socket.destroyed),
  );
  app.handle(r.retry, ({ principal, params }) => endpoints.retry(principal, params.id));
}
