import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import type { GoogleAnalytics } from './settings.js';

export function ga4Routes(app: App, ga: GoogleAnalytics): void {
  const r = routes.orgs;
  app.handle(r.googleAnalytics, ({ principal }) => ga.get(principal.orgId));
  app.handle(r.setGoogleAnalytics, ({ principal, body }) => ga.set(principal, body));
  app.handle(r.deleteGoogleAnalytics, ({ principal }) => ga.delete(principal));
  app.handle(r.testGoogleAnalytics, ({ principal }) => ga.test(principal.orgId));
}
