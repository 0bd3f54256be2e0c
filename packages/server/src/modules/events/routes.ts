import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import type { Cancellations } from './cancellation.js';
import type { Events } from './service.js';
import { doorEventView } from './views.js';

export function eventRoutes(app: App, events: Events, cancellations: Cancellations): void {
  app.handle(routes.events.list, ({ principal, query }) => events.list(principal.orgId, query));
  app.handle(routes.events.create, ({ principal, body }) => events.create(principal.orgId, body));
  app.handle(routes.events.get, ({ principal, params }) => events.get(principal.orgId, params.id));
  app.handle(routes.events.update, ({ principal, params, body }) =>
    events.update(principal.orgId, params.id, body),
  );
  app.handle(routes.events.delete, ({ principal, params }) => events.delete(principal.orgId, params.id));
  app.handle(routes.events.publish, ({ principal, params }) =>
    events.transition(principal.orgId, params.id, 'publish'),
  );
  app.handle(routes.events.cancel, ({ principal, params, body }) =>
    cancellations.cancel(principal, params.id, body),
  );
  app.handle(routes.events.cancellation, ({ principal, params }) =>
    cancellations.get(principal.orgId, params.id),
  );
  app.handle(routes.events.complete, ({ principal, params }) =>
    events.transition(principal.orgId, params.id, 'complete'),
  );

  // A door device (a `checkin` key) chooses its event from these; it may read nothing else of them.
  app.handle(routes.checkin.events, async ({ principal, query }) => {
    const page = await events.list(principal.orgId, {
      ...query,
      status: 'published',
      ends_after: new Date(Date.now() - 12 * 3600_000).toISOString(),
    });
    return { ...page, data: page.data.map(doorEventView) };
  });
  app.handle(routes.ticketTypes.list, ({ principal, query }) =>
    events.listTypes(principal.orgId, query.event, query.include_hidden ?? false),
  );
  app.handle(routes.ticketTypes.create, ({ principal, params, body }) =>
    events.createType(principal.orgId, params.id, body),
  );
  app.handle(routes.ticketTypes.get, ({ principal, params }) => events.getType(principal.orgId, params.id));
  app.handle(routes.ticketTypes.update, ({ principal, params, body }) =>
    events.updateType(principal.orgId, params.id, body),
  );
  app.handle(routes.ticketTypes.delete, ({ principal, params }) =>
    events.deleteType(principal.orgId, params.id),
  );
  app.handle(routes.ticketTypes.availability, ({ principal, query }) =>
    events.availability(principal.orgId, query.event),
  );
}
