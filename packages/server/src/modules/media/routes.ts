import { routes } from '@tickets/sdk';
import type { App } from '../../http/app.js';
import type { Media } from './service.js';

export function mediaRoutes(app: App, media: Media): void {
  app.handle(routes.media.upload, ({ principal, query, req }) => media.upload(principal, query, req));
  app.handle(routes.media.fromUrl, ({ principal, body }) => media.fromUrl(principal, body));
  app.handle(routes.media.uploadSignature, ({ principal, body }) => media.signUpload(principal, body));
  app.handle(routes.media.confirm, ({ principal, body }) => media.confirm(principal, body));
  app.handle(routes.media.presets, async () => media.presets());
  app.handle(routes.media.usage, ({ principal }) => media.usage(principal.orgId));
  app.handle(routes.media.list, ({ principal, query }) => media.list(principal.orgId, query));
  app.handle(routes.media.get, ({ principal, params }) => media.get(principal.orgId, params.id));
  app.handle(routes.media.update, ({ principal, params, body }) => media.update(principal, params.id, body));
  app.handle(routes.media.delete, ({ principal, params }) => media.delete(principal, params.id));
  app.handle(routes.webhooks.cloudinary, ({ rawBody, req }) => {
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    return media.notified(rawBody ?? Buffer.alloc(0), header('x-cld-timestamp'), header('x-cld-signature'));
  });
}
