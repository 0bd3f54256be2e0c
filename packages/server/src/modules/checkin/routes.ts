import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import { OfflineCheckin } from './offline.js';
import type { Checkin } from './service.js';

export function checkinRoutes(app: App, checkin: Checkin): void {
  const offline = new OfflineCheckin(checkin);
  app.handle(routes.checkin.bundle, ({ principal, params, query }) =>
    offline.bundle(principal.orgId, params.id, query),
  );
  app.handle(routes.checkin.uploadBatch, ({ principal, body }) => offline.uploadBatch(principal.orgId, body));
  app.handle(routes.checkin.conflicts, ({ principal, params, query }) =>
    offline.conflicts(principal.orgId, params.id, query),
  );
  app.handle(routes.checkin.validate, ({ principal, body }) => checkin.validate(principal, body));
  app.handle(routes.checkin.lists, ({ principal, params }) => checkin.lists.list(principal.orgId, params.id));
  app.handle(routes.checkin.createList, ({ principal, params, body }) =>
    checkin.lists.create(principal.orgId, params.id, body),
  );
  app.handle(routes.checkin.getList, ({ principal, params }) =>
    checkin.lists.get(principal.orgId, params.id),
  );
  app.handle(routes.checkin.updateList, ({ principal, params, body }) =>
    checkin.lists.update(principal.orgId, params.id, body),
  );
  app.handle(routes.checkin.deleteList, ({ principal, params }) =>
    checkin.lists.delete(principal.orgId, params.id),
  );
  app.handle(routes.checkin.stats, ({ principal, params }) => checkin.stats(principal.orgId, params.id));
}
