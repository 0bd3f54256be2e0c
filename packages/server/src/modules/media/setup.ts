import type { Logger } from 'pino';
import type { MediaConfig } from '../../config.js';
import type { Db } from '../../db/database.js';
import { CloudinaryProvider } from '../../integrations/cloudinary.js';
import { LocalStore } from './local.js';
import { Media } from './service.js';

export interface MediaSetup {
  media: Media;
  /** The local store (it serves /media/…), when it is the provider. */
  local: LocalStore | null;
  /** Where browsers and Cloudinary reach this server, once known (unless TICKETS_PUBLIC_URL says). */
  listening(url: string): void;
}

/** The media provider this configuration asks for: Cloudinary with a CLOUDINARY_URL, else the local store. */
export async function createMedia(db: Db, config: MediaConfig, log: Logger): Promise<MediaSetup> {
  let base = config.publicUrl?.replace(/\/+$/, '') ?? '';
  const limits = {
    maxImageBytes: config.maxImageBytes,
    maxVideoBytes: config.maxVideoBytes,
    maxPixels: config.maxPixels,
  };
  const listening = (url: string) => {
    if (!config.publicUrl) base = url;
  };
  if (config.cloudinaryUrl) {
    if (!config.publicUrl)
      log.warn(
        'CLOUDINARY_URL without TICKETS_PUBLIC_URL: Cloudinary will be told to notify this server at the address it listens on, which it likely cannot reach; videos would stay processing',
      );
    const provider = await CloudinaryProvider.create({
      url: config.cloudinaryUrl,
      limits,
      notificationUrl: () => `${base}/api/webhooks/cloudinary`,
      deliveryUrl: config.cloudinaryDeliveryUrl,
      chunkBytes: config.cloudinaryChunkBytes,
      log,
    });
    // The presets' named transformations, created when missing. Cloudinary being away is no reason not
    // to start: URLs are built without it, and uploads will say what is wrong.
    await provider.ensurePresets().then(
      (created) => created.length && log.info({ created }, 'Cloudinary named transformations created'),
      (err: unknown) => log.warn({ err }, 'could not check the Cloudinary named transformations'),
    );
    return { media: new Media(db, provider, limits, log), local: null, listening };
  }
  let media: Media | undefined;
  const local = new LocalStore(
    config.dir,
    { ...limits, allowPrivateUrls: config.allowPrivateUrls },
    () => base,
    (id) => media!.findForDelivery(id),
  );
  media = new Media(db, local, limits, log);
  return { media, local, listening };
}
