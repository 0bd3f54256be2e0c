import { routes } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import type { App } from '../../http/app.js';
import { rateLimit } from '../accounts/throttle.js';
import type { Vouchers } from './service.js';

/** Checks of codes per client address and minute: a checkout checks one now and then; a guesser many. */
const CHECKS_PER_MINUTE = 20;

export function voucherRoutes(app: App, db: Db, vouchers: Vouchers): void {
  const r = routes.vouchers;
  app.handle(r.create, ({ principal, body }) => vouchers.create(principal, body));
  app.handle(r.list, ({ principal, query }) => vouchers.list(principal.orgId, query));
  app.handle(r.get, ({ principal, params }) => vouchers.get(principal.orgId, params.id));
  app.handle(r.update, ({ principal, params, body }) => vouchers.update(principal, params.id, body));
  app.handle(r.delete, ({ principal, params }) => vouchers.delete(principal, params.id));
  app.handle(r.redemptions, ({ principal, params, query }) =>
    vouchers.redemptions(principal.orgId, params.id, query),
  );
  app.handle(r.check, async ({ params, ip }) => {
    await rateLimit(db, `voucher-check:${ip}`, CHECKS_PER_MINUTE, 60, {
      code: 'too_many_checks',
      what: 'Too many codes checked from this address',
    });
    return vouchers.check(params.id, params.code);
  });
}
