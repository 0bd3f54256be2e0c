import { type Refund, routes } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import { type App, type Principal, Reply } from '../../http/app.js';
import { refundsMade } from '../../observability/metrics.js';
import { raiseSecurityEvent } from '../../observability/security.js';
import { qrPng, qrSvg } from '../../render/pool.js';
import { isPublishable } from '../accounts/permissions.js';
import { rateLimit } from '../accounts/throttle.js';
import type { Refunds } from './refunds.js';
import type { Orders } from './service.js';

/**
 * A publishable key is in every visitor's browser, and each purchase it starts holds seats until it is
 * paid or expires: so many per minute from one client address, counted across server processes.
 */
export interface StorefrontLimit {
  db: Db;
  perMinute: number;
  /** Refunds above this (minor units) raise a security event. */
  largeRefund?: number;
}

export function orderRoutes(app: App, orders: Orders, refunds: Refunds, storefront?: StorefrontLimit): void {
  /** A refund made: counted, and raised as a security event when it is large. */
  const made = async (principal: Principal, r: Refund): Promise<Refund> => {
    refundsMade.inc({ provider: r.provider, status: r.status });
    if (storefront?.largeRefund !== undefined && r.amount.amount > storefront.largeRefund)
      await raiseSecurityEvent(storefront.db.kysely, {
        kind: 'large_refund',
        summary: `a refund of ${r.amount.amount} ${r.amount.currency} (minor units) on order ${r.order_id}`,
        orgIds: [principal.orgId],
        by: principal,
        subject: r.id,
        data: { order: r.order_id, amount: r.amount.amount, currency: r.amount.currency },
      });
    return r;
  };
  app.handle(routes.orders.purchase, async (ctx) => {
    if (storefront && ctx.principal.kind === 'api_key' && isPublishable(ctx.principal))
      await rateLimit(storefront.db, `pk:${ctx.principal.keyId}:${ctx.ip}`, storefront.perMinute, 60, {
        code: 'too_many_purchases',
        what: 'Too many purchases from this address with this key',
      });
    return orders.purchase(ctx.principal, ctx.body);
  });
  app.handle(routes.orders.list, ({ principal, query }) => orders.list(principal.orgId, query));
  app.handle(routes.orders.get, ({ principal, params }) => orders.get(principal.orgId, params.id));
  app.handle(routes.orders.cancel, ({ principal, params }) => orders.cancel(principal.orgId, params.id));
  app.handle(routes.orders.refund, async ({ principal, params, body }) =>
    made(principal, await refunds.refundOrder(principal, params.id, body)),
  );
  app.handle(routes.refunds.list, ({ principal, query }) => refunds.list(principal.orgId, query));
  app.handle(routes.refunds.get, ({ principal, params }) => refunds.get(principal.orgId, params.id));
  app.handle(routes.tickets.refund, async ({ principal, params, body }) =>
    made(principal, await refunds.refundTicket(principal, params.id, body)),
  );
  app.handle(routes.tickets.transfer, ({ principal, params, body }) =>
    refunds.transfer(principal, params.id, body),
  );

  app.handle(routes.tickets.get, ({ principal, params }) =>
    orders.tickets.ticket(principal.orgId, params.id),
  );
  app.handle(routes.tickets.listForEvent, ({ principal, params, query }) =>
    orders.tickets.eventTickets(principal.orgId, params.id, query),
  );
  app.handle(routes.tickets.attendees, ({ principal, params, query }) =>
    orders.tickets.attendees(principal.orgId, params.id, query),
  );
  app.handle(routes.tickets.qrPng, async ({ principal, params, query }) => {
    const ticket = await orders.tickets.ticket(principal.orgId, params.id);
    return qrReply(await qrPng(ticket.code, query.size), 'image/png', `${ticket.id}.png`);
  });
  app.handle(routes.tickets.qrSvg, async ({ principal, params, query }) => {
    const ticket = await orders.tickets.ticket(principal.orgId, params.id);
    return qrReply(await qrSvg(ticket.code, query.size), 'image/svg+xml', `${ticket.id}.svg`);
  });
  app.handle(routes.tickets.publicKey, ({ principal, params }) =>
    orders.tickets.publicKey(principal.orgId, params.id),
  );
}

// A transfer or refund replaces or revokes the code, so a cached image could admit no one, or the wrong
// holder: never store it.
const qrReply = (image: Buffer, type: string, filename: string) =>
  new Reply(200, image, {
    'content-type': type,
    'content-disposition': `inline; filename="${filename}"`,
    'cache-control': 'private, no-store',
  });
