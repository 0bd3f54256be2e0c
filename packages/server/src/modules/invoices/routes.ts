import { routes } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import { type App, Reply } from '../../http/app.js';
import { failedInvoices } from './failures.js';
import type { Invoices } from './service.js';

const pdfReply = ({ number, pdf }: { number: string; pdf: Buffer }) =>
  new Reply(200, pdf, {
    'content-type': 'application/pdf',
    'content-disposition': `inline; filename="${number}.pdf"`,
    'cache-control': 'private, no-store',
  });

export function invoiceRoutes(app: App, invoices: Invoices, db: Db): void {
  app.handle(routes.invoices.getBilling, ({ principal }) => invoices.billing(principal.orgId));
  app.handle(routes.invoices.updateBilling, ({ principal, body }) => invoices.updateBilling(principal, body));
  app.handle(routes.invoices.invoicePdf, async ({ principal, params }) =>
    pdfReply(await invoices.invoicePdf(principal.orgId, params.id)),
  );
  app.handle(routes.invoices.failed, ({ principal, query }) =>
    failedInvoices(db.kysely, principal.orgId, query),
  );
  app.handle(routes.invoices.list, ({ principal, query }) => invoices.list(principal.orgId, query));
  app.handle(routes.invoices.documentPdf, async ({ principal, params }) =>
    pdfReply(await invoices.documentPdf(principal.orgId, params.id)),
  );
  app.handle(routes.invoices.reissue, ({ principal, body }) =>
    invoices.reissue(principal.orgId, principal, body),
  );
  app.handle(routes.invoices.creditNotePdf, async ({ principal, params }) =>
    pdfReply(await invoices.creditNotePdf(principal.orgId, params.id)),
  );
}
