import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import {
  type Event,
  type MediaAsset,
  type MediaConfirmInput,
  type MediaFromUrlInput,
  type MediaListQuery,
  type MediaPresets,
  type MediaRole,
  type MediaUpdateInput,
  MediaUploadQuery,
  type MediaUsage,
  type Page,
  type UploadSignature,
  type UploadSignatureInput,
} from '@tickets/sdk';
import busboy from 'busboy';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { MediaAssetsTable } from '../../db/schema.js';
import { locksOf } from '../../db/store.js';
import type { Principal } from '../../http/app.js';
import { ApiError, fieldErrors, notFound, validationFailed } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import type { CloudinaryProvider } from '../../integrations/cloudinary.js';
import { recordAudit } from '../audit/log.js';
import { intake, type MediaLimits } from './intake.js';
import { cloudinaryTransformation, PRESET_LIST, SIZES, SRCSET_WIDTHS } from './presets.js';
import type { MediaProvider, Placement, Stored } from './provider.js';

type Input = { event?: string; role: MediaRole; alt?: string; position?: number };

/** Multipart overhead allowed beyond the largest file (the part's headers, the boundaries, the fields). */
const MULTIPART_SLACK = 64 * 1024;

/**
 * Media assets: uploads (streamed, their type read from their bytes), their delivery URLs, an event's
 * cover and gallery, and their removal. Where the bytes live is the provider's business.
 */
export class Media {
  constructor(
    private readonly db: Db,
    readonly provider: MediaProvider,
    private readonly limits: MediaLimits,
    private readonly log: Logger,
  ) {}

  view(row: MediaAssetsTable): MediaAsset {
    return {
      id: row.id,
      object: 'media',
      event: row.event_id,
      role: row.role,
      alt: row.alt,
      position: row.position,
      status: row.status,
      failure_reason: row.failure_reason,
      resource_type: row.resource_type,
      format: row.format,
      width: row.width,
      height: row.height,
      bytes: Number(row.bytes),
      duration: row.duration === null ? null : Number(row.duration),
      hash: row.hash,
      provider: row.provider,
      provider_id: row.provider_id,
      version: row.version,
      ...this.provider.delivery(row),
      notes: JSON.parse(row.notes) as string[],
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  private async row(orgId: string, id: string): Promise<MediaAssetsTable> {
    const row = await this.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('media asset');
    return row;
  }

  /** Any organization's asset by id (public delivery URLs name it; nothing else may use this). */
  findForDelivery(id: string): Promise<MediaAssetsTable | undefined> {
    return this.db.kysely.selectFrom('media_assets').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async get(orgId: string, id: string): Promise<MediaAsset> {
    return this.view(await this.row(orgId, id));
  }

  async list(orgId: string, query: z.output<typeof MediaListQuery>): Promise<Page<MediaAsset>> {
    const { limit, before } = newestFirst(query);
    let q = this.db.kysely.selectFrom('media_assets').selectAll().where('org_id', '=', orgId);
    if (query.event) q = q.where('event_id', '=', query.event);
    if (query.role) q = q.where('role', '=', query.role);
    if (before) q = q.where('id', '<', before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => this.view(r),
    );
  }

  presets(): MediaPresets {
    return {
      object: 'list',
      data: PRESET_LIST.map((p) => ({
        name: p.name,
        description: p.description,
        width: p.width,
        height: p.height,
        crop: p.crop,
        transformation: cloudinaryTransformation(p),
      })),
      srcset_widths: [...SRCSET_WIDTHS],
      sizes: SIZES,
    };
  }

  async usage(orgId: string): Promise<MediaUsage> {
    const rows = await this.db.kysely
      .selectFrom('media_assets')
      .select((eb) => [
        'event_id',
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.sum<number | string>('bytes').as('b'),
      ])
      .where('org_id', '=', orgId)
      .groupBy('event_id')
      .execute();
    const events = rows
      .map((r) => ({ event: r.event_id, assets: Number(r.n), bytes: Number(r.b ?? 0) }))
      .sort((a, b) => b.bytes - a.bytes);
    return {
      object: 'media_usage',
      provider: this.provider.kind,
      assets: events.reduce((s, e) => s + e.assets, 0),
      bytes: events.reduce((s, e) => s + e.bytes, 0),
      events,
      provider_usage: await this.provider.usage(),
    };
  }

  /** Refuses an event that is not the organization's, before a byte is stored. */
  private async checkPlacement(orgId: string, input: Input): Promise<void> {
    if (input.role === 'cover' && !input.event)
      throw validationFailed([
        { path: 'event', message: 'a cover belongs to an event: name it', code: 'required' },
      ]);
    if (!input.event) return;
    const event = await this.db.kysely
      .selectFrom('events')
      .select('id')
      .where('org_id', '=', orgId)
      .where('id', '=', input.event)
      .executeTakeFirst();
    if (!event) throw notFound('event');
  }

  private checkRole(role: MediaRole, resourceType: 'image' | 'video'): void {
    if (role === 'video' && resourceType !== 'video')
      throw new ApiError(422, 'role_mismatch', 'The role `video` is for video; this file is an image.');
    if ((role === 'cover' || role === 'logo') && resourceType !== 'image')
      throw new ApiError(
        422,
        'role_mismatch',
        `A ${role} must be an image; this file is a video (use the role video or gallery).`,
      );
  }

  /**
   * `POST /api/media`: the multipart body is parsed as it arrives; the file's head is read to learn its
   * type and dimensions, then the rest streams on to the provider. Fields sent before the file count as
   * the query's parameters do.
   */
  upload(by: Principal, query: Record<string, unknown>, req: IncomingMessage): Promise<MediaAsset> {
    const type = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(type)) {
      req.resume();
      return Promise.reject(
        new ApiError(
          415,
          'unsupported_media_type',
          'Send the file as multipart/form-data, in a field named `file`.',
        ),
      );
    }
    const declared = Number(req.headers['content-length']);
    const most = Math.max(this.limits.maxImageBytes, this.limits.maxVideoBytes) + MULTIPART_SLACK;
    if (Number.isFinite(declared) && declared > most) {
      req.resume();
      return Promise.reject(
        new ApiError(
          413,
          'file_too_large',
          `The upload is ${declared} bytes; the most this server takes is ${most - MULTIPART_SLACK}.`,
          undefined,
          {
            connection: 'close',
          },
        ),
      );
    }
    return new Promise<MediaAsset>((resolve, reject) => {
      let parser: busboy.Busboy;
      try {
        parser = busboy({
          headers: req.headers,
          limits: { files: 1, fields: 20, fieldSize: 4000, parts: 40 },
        });
      } catch (err) {
        req.resume();
        reject(
          new ApiError(
            400,
            'invalid_multipart',
            `The multipart body can't be read: ${(err as Error).message}`,
          ),
        );
        return;
      }
      const fields: Record<string, unknown> = { ...query };
      let taken = false;
      let settled = false;
      let file: Readable | undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        // Stop reading the body: the answer goes now, and the connection closes after it.
        req.unpipe(parser);
        req.resume();
        // Whatever still reads the file (the provider's upload) stops too, and cleans up after itself.
        file?.destroy(err instanceof Error ? err : new Error(String(err)));
        reject(
          err instanceof ApiError && !req.complete
            ? new ApiError(err.status, err.code, err.detail, err.errors, {
                ...err.headers,
                connection: 'close',
              })
            : err,
        );
      };
      // The whole body read and parsed: only then is an upload registered (a body that breaks after
      // its file part must not leave an asset behind a 400).
      const parsed = new Promise<void>((done, broke) => {
        parser.once('close', done);
        parser.once('error', broke);
      });
      parsed.catch(() => {});
      parser.on('field', (name, value) => {
        if (!taken) fields[name] = value;
      });
      parser.on('file', (name, stream) => {
        if (name !== 'file' || taken) {
          stream.resume();
          return;
        }
        taken = true;
        file = stream;
        // Its failures reach the answer through fail() and store(); destroying it must not throw too.
        stream.on('error', () => {});
        const input = MediaUploadQuery.safeParse(fields);
        if (!input.success) {
          stream.resume();
          fail(validationFailed(fieldErrors(input.error)));
          return;
        }
        this.store(by, input.data, stream)
          .then(async ({ id, stored }) => {
            try {
              await parsed;
            } catch {
              // The parser's error has answered already.
            }
            if (settled) {
              await this.removeStored(by.orgId, id, stored);
              return;
            }
            const asset = await this.register(by, input.data, id, stored, 'upload');
            settled = true;
            resolve(asset);
          })
          .catch(fail);
      });
      parser.on('close', () => {
        if (!taken)
          fail(new ApiError(400, 'file_missing', 'The body has no file: send it in a field named `file`.'));
      });
      parser.on('error', (err: Error) =>
        fail(new ApiError(400, 'invalid_multipart', `The multipart body can't be read: ${err.message}`)),
      );
      // A client gone mid-upload: nothing more will come, so nothing may wait for it.
      req.on('close', () => {
        if (!req.complete)
          fail(new ApiError(400, 'upload_incomplete', 'The upload ended before its last byte arrived.'));
      });
      req.pipe(parser);
    });
  }

  /** Checks an upload's placement and type, and streams it to the provider (not yet registered). */
  private async store(
    by: Principal,
    input: Input,
    stream: Readable,
  ): Promise<{ id: string; stored: Stored }> {
    try {
      await this.checkPlacement(by.orgId, input);
      const checked = await intake(stream, this.limits);
      this.checkRole(input.role, checked.sniffed.resourceType);
      const id = newId('media');
      return { id, stored: await this.provider.put({ id, orgId: by.orgId, ...checked }) };
    } finally {
      // Whatever is left of the file (after a refusal) is read and dropped, so the parser goes on.
      stream.resume();
    }
  }

  async fromUrl(by: Principal, input: MediaFromUrlInput & Input): Promise<MediaAsset> {
    await this.checkPlacement(by.orgId, input);
    const id = newId('media');
    const stored = await this.provider.fetchUrl(input.url, { id, orgId: by.orgId });
    try {
      this.checkRole(input.role, stored.resourceType);
    } catch (err) {
      await this.removeStored(by.orgId, id, stored);
      throw err;
    }
    return this.register(by, input, id, stored, 'url');
  }

  private cloudinary(): CloudinaryProvider {
    if (this.provider.kind !== 'cloudinary')
      throw new ApiError(
        409,
        'direct_upload_unavailable',
        'Direct uploads go to Cloudinary, which this server does not use (no CLOUDINARY_URL): upload through POST /api/media.',
      );
    return this.provider as unknown as CloudinaryProvider;
  }

  async signUpload(
    by: Principal,
    input: UploadSignatureInput & { resource_type: 'image' | 'video'; role: MediaRole },
  ): Promise<UploadSignature> {
    const cloudinary = this.cloudinary();
    await this.checkPlacement(by.orgId, input);
    this.checkRole(input.role, input.resource_type);
    const id = newId('media');
    const signed = cloudinary.signUpload(input.resource_type, { id, orgId: by.orgId });
    return {
      object: 'upload_signature',
      id,
      upload_url: signed.uploadUrl,
      fields: signed.fields,
      expires_at: signed.expiresAt.toISOString(),
    };
  }

  async confirm(
    by: Principal,
    input: MediaConfirmInput & Input & { id: string; resource_type: 'image' | 'video' },
  ): Promise<MediaAsset> {
    const cloudinary = this.cloudinary();
    const existing = await this.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (existing) {
      if (existing.org_id !== by.orgId) throw notFound('upload');
      return this.view(existing);
    }
    await this.checkPlacement(by.orgId, input);
    this.checkRole(input.role, input.resource_type);
    const stored = await cloudinary.confirm(input.resource_type, { id: input.id, orgId: by.orgId });
    return this.register(by, input, input.id, stored, 'direct');
  }

  /**
   * Records what the provider stored. A new cover takes the old one's place in the same transaction
   * (the partial unique index keeps one per event, so two racing covers can't both stay); the old one
   * is removed at the provider (its CDN copies invalidated) once the new one is in.
   */
  private async register(
    by: Principal,
    input: Input,
    id: string,
    stored: Stored,
    via: string,
  ): Promise<MediaAsset> {
    const now = new Date().toISOString();
    let replaced: MediaAssetsTable | undefined;
    let row: MediaAssetsTable | undefined;
    try {
      ({ row, replaced } = await this.db.kysely.transaction().execute(async (tx) => {
        let old: MediaAssetsTable | undefined;
        if (input.role === 'cover' && input.event) {
          // Covers of one event are set one after another (Postgres: a lock on the key; SQLite's one
          // writer already), so each replaces the one before and the partial unique index never trips.
          await locksOf(tx).byKey(tx, `cover ${input.event}`);
          old = await tx
            .selectFrom('media_assets')
            .selectAll()
            .where('event_id', '=', input.event)
            .where('role', '=', 'cover')
            .executeTakeFirst();
          if (old) await tx.deleteFrom('media_assets').where('id', '=', old.id).execute();
        }
        let position = input.position;
        if (position === undefined) {
          const last = await tx
            .selectFrom('media_assets')
            .select((eb) => eb.fn.max('position').as('p'))
            .where('org_id', '=', by.orgId)
            .where((eb) => (input.event ? eb('event_id', '=', input.event) : eb('event_id', 'is', null)))
            .where('role', '=', input.role)
            .executeTakeFirst();
          position = last?.p === null || last?.p === undefined ? 0 : Number(last.p) + 1;
        }
        const values: MediaAssetsTable = {
          id,
          org_id: by.orgId,
          event_id: input.event ?? null,
          role: input.role,
          alt: input.alt ?? '',
          position,
          status: stored.status,
          failure_reason: null,
          resource_type: stored.resourceType,
          format: stored.format,
          width: stored.width,
          height: stored.height,
          bytes: stored.bytes,
          duration: stored.duration,
          hash: stored.hash,
          provider: this.provider.kind,
          provider_id: stored.providerId,
          version: stored.version,
          renditions: stored.renditions ? JSON.stringify(stored.renditions) : null,
          notes: JSON.stringify(stored.notes),
          created_by: by.kind === 'user' ? by.userId : by.keyId,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto('media_assets').values(values).execute();
        await recordAudit(tx, {
          orgId: by.orgId,
          by,
          action: old ? 'media.cover_replaced' : 'media.created',
          subject: id,
          data: {
            via,
            event: input.event ?? null,
            role: input.role,
            bytes: stored.bytes,
            format: stored.format,
            ...(old ? { replaced: old.id } : {}),
          },
        });
        return { row: values, replaced: old };
      }));
    } catch (err) {
      await this.removeStored(by.orgId, id, stored);
      throw err;
    }
    if (replaced) await this.removeAtProvider([replaced]);
    return this.view(row!);
  }

  /** Removes what a provider stored for an asset that was then not kept. */
  private async removeStored(orgId: string, id: string, stored: Stored): Promise<void> {
    const placeholder = {
      id,
      org_id: orgId,
      provider_id: stored.providerId,
      resource_type: stored.resourceType,
    } as MediaAssetsTable;
    await this.provider
      .remove(placeholder)
      .catch((err: unknown) => this.log.warn({ err, id }, 'could not remove an upload that was refused'));
  }

  /** Removes assets at their provider; a failure is logged (the file is orphaned there, not lost here). */
  async removeAtProvider(rows: MediaAssetsTable[]): Promise<void> {
    for (const row of rows)
      await this.provider
        .remove(row)
        .catch((err: unknown) =>
          this.log.warn(
            { err, id: row.id, provider: row.provider },
            'could not remove a media asset at its provider',
          ),
        );
  }

  async update(by: Principal, id: string, patch: z.output<typeof MediaUpdateInput>): Promise<MediaAsset> {
    const current = await this.row(by.orgId, id);
    const role = patch.role ?? current.role;
    this.checkRole(role, current.resource_type);
    if (role === 'cover' && !current.event_id)
      throw validationFailed([
        { path: 'role', message: 'a cover belongs to an event; this asset has none', code: 'invalid' },
      ]);
    const now = new Date().toISOString();
    let replaced: MediaAssetsTable | undefined;
    await this.db.kysely.transaction().execute(async (tx) => {
      if (role === 'cover' && current.role !== 'cover') {
        await locksOf(tx).byKey(tx, `cover ${current.event_id}`);
        replaced = await tx
          .selectFrom('media_assets')
          .selectAll()
          .where('event_id', '=', current.event_id)
          .where('role', '=', 'cover')
          .executeTakeFirst();
        if (replaced) await tx.deleteFrom('media_assets').where('id', '=', replaced.id).execute();
      }
      await tx
        .updateTable('media_assets')
        .set({
          role,
          ...(patch.alt !== undefined ? { alt: patch.alt } : {}),
          ...(patch.position !== undefined ? { position: patch.position } : {}),
          updated_at: now,
        })
        .where('id', '=', id)
        .execute();
      await recordAudit(tx, {
        orgId: by.orgId,
        by,
        action: 'media.updated',
        subject: id,
        data: { ...patch, ...(replaced ? { replaced: replaced.id } : {}) },
      });
    });
    if (replaced) await this.removeAtProvider([replaced]);
    return this.get(by.orgId, id);
  }

  async delete(by: Principal, id: string): Promise<{ id: string; object: string; deleted: true }> {
    const row = await this.row(by.orgId, id);
    await this.db.kysely.transaction().execute(async (tx) => {
      await tx.deleteFrom('media_assets').where('id', '=', id).execute();
      await recordAudit(tx, {
        orgId: by.orgId,
        by,
        action: 'media.deleted',
        subject: id,
        data: { event: row.event_id, role: row.role, bytes: Number(row.bytes) },
      });
    });
    await this.removeAtProvider([row]);
    return { id, object: 'media', deleted: true };
  }

  /**
   * Removes from the provider what no asset names, a day after it was stored (unconfirmed direct
   * uploads; files of uploads a crash cut short). Run hourly by every server and worker (idempotent).
   */
  async sweep(olderThanMs = 24 * 3600_000): Promise<number> {
    const orgs = await this.db.kysely.selectFrom('organizations').select('id').execute();
    const before = new Date(Date.now() - olderThanMs);
    return this.provider.sweep(
      before,
      orgs.map((o) => o.id),
      async (ids) => {
        const found = new Set<string>();
        for (let i = 0; i < ids.length; i += 500) {
          const rows = await this.db.kysely
            .selectFrom('media_assets')
            .select('provider_id')
            .where('provider', '=', this.provider.kind)
            .where('provider_id', 'in', ids.slice(i, i + 500))
            .execute();
          for (const r of rows) found.add(r.provider_id);
        }
        return found;
      },
    );
  }

  /** An event's assets (before the event is deleted: its rows go with it, their files are removed after). */
  ofEvent(orgId: string, eventId: string): Promise<MediaAssetsTable[]> {
    return this.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('event_id', '=', eventId)
      .execute();
  }

  /** Events as answered, with their cover and gallery (one query for the lot). */
  async decorate<E extends Event>(events: E[]): Promise<E[]> {
    if (events.length === 0) return events;
    const rows = await this.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where(
        'event_id',
        'in',
        events.map((e) => e.id),
      )
      .where('role', 'in', ['cover', 'gallery', 'video'])
      .orderBy('position')
      .orderBy('id')
      .execute();
    return events.map((e) => {
      const mine = rows.filter((r) => r.event_id === e.id);
      const cover = mine.find((r) => r.role === 'cover');
      return {
        ...e,
        cover: cover ? this.view(cover) : null,
        gallery: mine.filter((r) => r.role !== 'cover').map((r) => this.view(r)),
      };
    });
  }

  async decorateOne<E extends Event>(event: E): Promise<E> {
    return (await this.decorate([event]))[0]!;
  }

  /** The event's cover for messages: its alt text and JPEG bytes at the `email` and `card` presets. */
  async forMessages(
    eventId: string,
  ): Promise<{ alt: string; email: Buffer | null; card: Buffer | null } | null> {
    const row = await this.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where('event_id', '=', eventId)
      .where('role', '=', 'cover')
      .executeTakeFirst();
    if (!row) return null;
    const [email, card] = await Promise.all([
      this.provider.render(row, 'email'),
      this.provider.render(row, 'card'),
    ]);
    return { alt: row.alt, email, card };
  }

  /**
   * Cloudinary's notification that a video's renditions are made (or failed). Verified by its signature
   * and age; applied once: only an asset still `processing` changes, so a repeat changes nothing.
   */
  async notified(
    rawBody: Buffer,
    timestamp: string | undefined,
    signature: string | undefined,
  ): Promise<{ received: true; applied: number }> {
    if (this.provider.kind !== 'cloudinary')
      throw new ApiError(501, 'provider_not_configured', 'Cloudinary is not set up on this server.');
    const cloudinary = this.provider as unknown as CloudinaryProvider;
    const body = rawBody.toString('utf8');
    const verdict = cloudinary.verifyNotification(body, timestamp, signature);
    if (verdict === 'unsigned')
      throw new ApiError(400, 'signature_missing', 'X-Cld-Signature and X-Cld-Timestamp are required.');
    if (verdict === 'stale')
      throw new ApiError(
        400,
        'signature_stale',
        'X-Cld-Timestamp is too old (or in the future): not accepted.',
      );
    if (verdict === 'bad') throw new ApiError(400, 'signature_invalid', 'X-Cld-Signature does not match.');
    let payload: {
      notification_type?: string;
      public_id?: string;
      eager?: { status?: string; reason?: string; secure_url?: string; url?: string; format?: string }[];
    };
    try {
      payload = JSON.parse(body);
    } catch {
      throw new ApiError(400, 'invalid_json', 'The notification is not JSON.');
    }
    if (payload.notification_type !== 'eager' || !payload.public_id || !Array.isArray(payload.eager))
      return { received: true, applied: 0 };
    const failed = payload.eager.find((e) => e.status === 'failed');
    const now = new Date().toISOString();
    const result = await this.db.kysely
      .updateTable('media_assets')
      .set(
        failed
          ? {
              status: 'failed',
              failure_reason: failed.reason ?? 'Cloudinary could not process the video.',
              updated_at: now,
            }
          : {
              status: 'ready',
              renditions: JSON.stringify(cloudinary.renditionsOf(payload.eager)),
              updated_at: now,
            },
      )
      .where('provider', '=', 'cloudinary')
      .where('provider_id', '=', payload.public_id)
      .where('status', '=', 'processing')
      .executeTakeFirst();
    const applied = Number(result.numUpdatedRows);
    if (applied) this.log.info({ publicId: payload.public_id, ok: !failed }, 'video renditions notified');
    else {
      // Not (yet) ours: the notification may come before the upload's row is committed. Saying so
      // makes Cloudinary send it again (a deleted asset's too, until Cloudinary gives up); one already
      // ready or failed is answered as done.
      const known = await this.db.kysely
        .selectFrom('media_assets')
        .select('id')
        .where('provider', '=', 'cloudinary')
        .where('provider_id', '=', payload.public_id)
        .executeTakeFirst();
      if (!known && payload.public_id.startsWith('tickets/'))
        throw new ApiError(404, 'unknown_asset', `No asset ${payload.public_id} is registered (yet).`);
    }
    return { received: true, applied };
  }
}

export type { Placement };
