import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import { offlineConflicts, offlineScans, validations } from '../../observability/metrics.js';
import { OfflineCheckin } from './offline.js';
import type { Checkin } from './service.js';

export function checkinRoutes(app: App, checkin: Checkin): void {
  const offline = new OfflineCheckin(checkin);
  app.handle(routes.checkin.bundle, ({ principal, params, query }) =>
    offline.bundle(principal.orgId, params.id, query),
  );
  app.handle(routes.checkin.uploadBatch, async ({ principal, body }) => {
    const batch = await offline.uploadBatch(principal.orgId, body);
    offlineScans.inc(batch.results.length);
    offlineConflicts.inc(batch.conflicts);
    return batch;
  });
  app.handle(routes.checkin.conflicts, ({ principal, params, query }) =>
    offline.conflicts(principal.orgId, params.id, query),
  );
  app.handle(routes.checkin.validate, async ({ principal, body }) => {
    const validation = await checkin.validate(principal, body);
    if (!body.dry_run) validations.inc({ result: validation.result });
    return validation;
  });
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
