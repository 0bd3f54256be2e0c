import { routes } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import type { App } from '../../http/app.js';
import { recordFeedback } from './feedback.js';
import { listAudit } from './log.js';

/** The audit log: read-only (there is no route that changes or deletes an entry); and feedback. */
export function auditRoutes(app: App, db: Db): void {
  app.handle(routes.audit.list, ({ principal, query }) => listAudit(db.kysely, principal.orgId, query));
  app.handle(routes.feedback.send, ({ principal, body }) => recordFeedback(db, principal, body));
}
