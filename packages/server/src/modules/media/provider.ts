import type { Readable } from 'node:stream';
import type { MediaAsset } from '@tickets/sdk';
import type { MediaAssetsTable } from '../../db/schema.js';
import type { Sniffed } from './intake.js';

/** A video's renditions, once made: URLs (Cloudinary) or the local store's keys. */
export interface Renditions {
  mp4?: string | null;
  hls?: string | null;
  poster?: string | null;
}

/** What a provider knows of an asset it has just stored. */
export interface Stored {
  providerId: string;
  version: string;
  resourceType: 'image' | 'video';
  format: string;
  width: number | null;
  height: number | null;
  bytes: number;
  hash: string;
  duration: number | null;
  status: 'ready' | 'processing';
  renditions: Renditions | null;
  notes: string[];
}

export interface Placement {
  /** The asset's id (med_…): the provider names what it stores after it. */
  id: string;
  orgId: string;
}

/** An upload, checked and on its way: see intake.ts. */
export interface Incoming extends Placement {
  sniffed: Sniffed;
  stream: Readable;
  done(): { bytes: number; hash: string };
}

export type Delivery = Pick<MediaAsset, 'urls' | 'srcset' | 'sizes' | 'video'>;

export interface ProviderUsage {
  plan: string | null;
  storage_bytes: number | null;
  bandwidth_bytes: number | null;
  transformations: number | null;
  credits_used: number | null;
  credits_limit: number | null;
}

/**
 * Where media lives: the local store (the embedded default) or Cloudinary. Everything else (the
 * routes, the event's cover, e-mails and PDFs) sees only this. An S3-compatible bucket would be one
 * more implementation.
 */
export interface MediaProvider {
  readonly kind: 'local' | 'cloudinary';
  /** Stores an upload as it arrives (never gathered in memory). */
  put(upload: Incoming): Promise<Stored>;
  /** Stores what a URL serves (the provider fetches it). */
  fetchUrl(url: string, at: Placement): Promise<Stored>;
  /** Removes it and every copy made of it (CDN copies invalidated). Not there any more is not an error. */
  remove(asset: MediaAssetsTable): Promise<void>;
  /** Its delivery URLs: one per preset, the srcset, a video's renditions. */
  delivery(asset: MediaAssetsTable): Delivery;
  /** The account's usage at the provider (null: the local store has no account). */
  usage(): Promise<ProviderUsage | null>;
  /**
   * Removes what the provider holds that no asset names and that is older than `before`: direct
   * uploads never confirmed, files of uploads a crash cut short. Only within these organizations'
   * folders (another database's organizations, say a staging server's on the same Cloudinary account,
   * are not this one's to judge). `registered` says which ids are assets. Resolves with how many it removed.
   */
  sweep(
    before: Date,
    orgIds: string[],
    registered: (providerIds: string[]) => Promise<Set<string>>,
  ): Promise<number>;
  /** Bytes of an image rendered at a preset, as JPEG or PNG (for PDFs); null when it can't be had. */
  render(asset: MediaAssetsTable, preset: 'card' | 'email'): Promise<Buffer | null>;
}
