import { type Event, routes } from '@tickets/sdk';
import type { App, Principal } from '../../http/app.js';
import { notFound } from '../../http/errors.js';
import { isPublishable } from '../accounts/permissions.js';
import type { Media } from '../media/service.js';
import type { Cancellations } from './cancellation.js';
import type { Events } from './service.js';
import { doorEventView } from './views.js';

/**
 * A publishable key (a web page) sees the storefront: published events, their visible ticket types.
 * Anything else is "not found" to it, as another organization's would be: a draft's existence is news.
 */
async function storefrontEvent(events: Events, principal: Principal, eventId: string) {
  const event = await events.get(principal.orgId, eventId);
  if (isPublishable(principal) && event.status !== 'published') throw notFound('event');
  return event;
}

export function eventRoutes(app: App, events: Events, cancellations: Cancellations, media: Media): void {
  // Every event answered carries its cover and gallery (one query per page).
  const page = async (p: Awaited<ReturnType<Events['list']>>) => ({
    ...p,
    data: await media.decorate(p.data),
  });
  const one = (e: Promise<Event>) => e.then((x) => media.decorateOne(x));
  app.handle(routes.events.list, async ({ principal, query }) => {
    if (!isPublishable(principal)) return page(await events.list(principal.orgId, query));
    if (query.status !== undefined && query.status !== 'published')
      return { object: 'list' as const, data: [], has_more: false, next_cursor: null };
    return page(await events.list(principal.orgId, { ...query, status: 'published' }));
  });
  app.handle(routes.events.create, ({ principal, body }) => events.create(principal, body));
  app.handle(routes.events.get, ({ principal, params }) =>
    one(storefrontEvent(events, principal, params.id)),
  );
  app.handle(routes.events.update, ({ principal, params, body }) =>
    one(events.update(principal, params.id, body)),
  );
  app.handle(routes.events.delete, async ({ principal, params }) => {
    // Its media rows go with it (a cascade); their files are removed at the provider afterwards.
    const assets = await media.ofEvent(principal.orgId, params.id);
    const deleted = await events.delete(principal, params.id);
    await media.removeAtProvider(assets);
    return deleted;
  });
  app.handle(routes.events.publish, ({ principal, params }) =>
    one(events.transition(principal, params.id, 'publish')),
  );
  app.handle(routes.events.cancel, ({ principal, params, body }) =>
    one(cancellations.cancel(principal, params.id, body)),
  );
  app.handle(routes.events.cancellation, ({ principal, params }) =>
    cancellations.get(principal.orgId, params.id),
  );
  app.handle(routes.events.complete, ({ principal, params }) =>
    one(events.transition(principal, params.id, 'complete')),
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
  app.handle(routes.ticketTypes.list, async ({ principal, query }) => {
    if (!isPublishable(principal))
      return events.listTypes(principal.orgId, query.event, query.include_hidden ?? false);
    await storefrontEvent(events, principal, query.event);
    return events.listTypes(principal.orgId, query.event, false);
  });
  app.handle(routes.ticketTypes.create, ({ principal, params, body }) =>
    events.createType(principal, params.id, body),
  );
  app.handle(routes.ticketTypes.get, async ({ principal, params }) => {
    const type = await events.getType(principal.orgId, params.id);
    if (isPublishable(principal)) {
      if (type.hidden) throw notFound('ticket type');
      await storefrontEvent(events, principal, type.event_id).catch(() => {
        throw notFound('ticket type');
      });
    }
    return type;
  });
  app.handle(routes.ticketTypes.update, ({ principal, params, body }) =>
    events.updateType(principal, params.id, body),
  );
  app.handle(routes.ticketTypes.delete, ({ principal, params }) => events.deleteType(principal, params.id));
  app.handle(routes.ticketTypes.availability, async ({ principal, query }) => {
    const availability = await events.availability(principal.orgId, query.event);
    if (!isPublishable(principal)) return availability;
    await storefrontEvent(events, principal, query.event);
    const visible = new Set(
      (await events.listTypes(principal.orgId, query.event, false)).data.map((t) => t.id),
    );
    return {
      ...availability,
      ticket_types: availability.ticket_types.filter((t) => visible.has(t.ticket_type_id)),
    };
  });
}
