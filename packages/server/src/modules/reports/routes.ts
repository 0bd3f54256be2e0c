import { type ReportKind, routes } from '@tickets/sdk';
import { type App, Reply } from '../../http/app.js';
import type { ReportFile, ReportQuery, Reports } from './service.js';

const reply = ({ filename, contentType, body }: ReportFile) =>
  new Reply(200, body, {
    'content-type': contentType,
    'content-disposition': `attachment; filename="${filename}"`,
    // Buyers' names and addresses: no shared cache may keep them.
    'cache-control': 'private, no-store',
  });

export function reportRoutes(app: App, reports: Reports): void {
  for (const kind of ['sales', 'attendance', 'revenue'] as const satisfies ReportKind[])
    app.handle(routes.reports[kind], async ({ principal, query }) =>
      reply(await reports.open(kind, principal.orgId, query as ReportQuery)),
    );
}
