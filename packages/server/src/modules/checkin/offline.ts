import {
  type CheckinBatchInput,
  type CheckinBatchResult,
  type CheckinBundle,
  type CheckinBundleQuery,
  type CheckinConflict,
  decodeTicketCode,
  type ListQuery,
  type Page,
} from '@tickets/sdk';
import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import type { z } from 'zod';
import type { CheckinsTable, EventRow } from '../../db/schema.js';
import { ApiError, notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso, toUtc } from '../../time.js';
import { listView } from './lists.js';
import type { Checkin } from './service.js';

type BundleQuery = z.output<typeof CheckinBundleQuery>;
type BatchInput = z.output<typeof CheckinBatchInput>;
type Scan = BatchInput['scans'][number];
type ScanResult = CheckinBatchResult['results'][number];
type CheckinRow = Selectable<CheckinsTable>;

/**
 * How far behind the server's clock a bundle's final cursor stays. A change is stamped when its
 * transaction runs but seen only once it commits, so a sync could read past a change that commits a
 * moment later with an earlier stamp; resending the last few seconds' changes (devices merge by
 * ticket id, so a resend is harmless) catches those.
 */
export const BUNDLE_SETTLE_MS = 1000;

/** Position in the bundle's change order: (when the ticket last changed on the list, ticket id). */
type Position = readonly [changedAt: string, ticketId: string];

const compare = (a: Position, b: Position): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;

function encodeBundleCursor(listId: string, at: Position): string {
  return Buffer.from(JSON.stringify({ v: 1, l: listId, t: at[0], i: at[1] })).toString('base64url');
}

function decodeBundleCursor(cursor: string, listId: string): Position {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (c && c.v === 1 && c.l === listId && typeof c.t === 'string' && typeof c.i === 'string')
      return [c.t, c.i];
  } catch {
    // fall through
  }
  throw new ApiError(400, 'invalid_cursor', 'since is not a cursor a bundle of this list returned.', [
    { path: 'since', message: 'is not a valid cursor for this list', code: 'invalid_cursor' },
  ]);
}

/**
 * Doors that lose the network: the bundle they validate with, and the upload of what they scanned.
 * Uploaded scans go through the same decision as online ones (Checkin.check), as of when they were
 * scanned, so the exactly-once admission of ticket_presence holds across online and offline doors.
 */
export class OfflineCheckin {
  constructor(private readonly checkin: Checkin) {}

  private get k() {
    return this.checkin.db.kysely;
  }

  /** The organization's event's status and name; 404 for anyone else's. */
  private async assertEvent(orgId: string, eventId: string): Promise<Pick<EventRow, 'status' | 'name'>> {
    const event = await this.k
      .selectFrom('events')
      .select(['status', 'name'])
      .where('id', '=', eventId)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!event) throw notFound('event');
    return event;
  }

  /**
   * Tickets in the order they last changed on the list (their own row: status, holder, code version;
   * or their presence on the list), so one cursor both pages through a bundle and later asks for
   * what changed since: everything after its (changed_at, id) position, ties broken by id.
   */
  async bundle(orgId: string, eventId: string, query: BundleQuery): Promise<CheckinBundle> {
    const { status: eventStatus, name: eventName } = await this.assertEvent(orgId, eventId);
    const list = query.list
      ? await this.k
          .selectFrom('checkin_lists')
          .selectAll()
          .where('id', '=', query.list)
          .where('org_id', '=', orgId)
          .where('event_id', '=', eventId)
          .executeTakeFirst()
      : await this.checkin.defaultList(eventId, orgId);
    if (!list) throw notFound('check-in list');
    const since = query.since ? decodeBundleCursor(query.since, list.id) : null;
    // Read before the tickets, so the settle window is measured from before anything was seen.
    const generatedAt = nowIso();
    const publicKey = (await this.checkin.keys.forEvent(eventId)).publicKey;

    const changedAt = sql<string>`case when ticket_presence.last_change_at is not null and ticket_presence.last_change_at > tickets.updated_at then ticket_presence.last_change_at else tickets.updated_at end`;
    const rows = await this.k
      .selectFrom('tickets')
      .leftJoin('ticket_presence', (join) =>
        join
          .onRef('ticket_presence.ticket_id', '=', 'tickets.id')
          .on('ticket_presence.list_id', '=', list.id),
      )
      .select([
        'tickets.id',
        'tickets.ticket_type_id',
        'tickets.holder_name',
        'tickets.status',
        'tickets.void_reason',
        'tickets.code_version',
        'ticket_presence.inside',
        'ticket_presence.ticket_id as present',
        changedAt.as('changed_at'),
      ])
      .where('tickets.org_id', '=', orgId)
      .where('tickets.event_id', '=', eventId)
      .$if(since !== null, (q) =>
        q.where(
          sql<boolean>`(${changedAt} > ${since![0]} or (${changedAt} = ${since![0]} and tickets.id > ${since![1]}))`,
        ),
      )
      .orderBy(changedAt)
      .orderBy('tickets.id')
      .limit(query.limit + 1)
      .execute();

    const hasMore = rows.length > query.limit;
    const shown = hasMore ? rows.slice(0, query.limit) : rows;
    const last = shown[shown.length - 1];
    let position: Position;
    if (hasMore && last) position = [last.changed_at, last.id];
    else {
      // Caught up: stay a moment behind the clock (see BUNDLE_SETTLE_MS), never behind `since`.
      const settle: Position = [new Date(Date.parse(generatedAt) - BUNDLE_SETTLE_MS).toISOString(), ''];
      const reached: Position = last ? [last.changed_at, last.id] : (since ?? ['', '']);
      position = compare(reached, settle) < 0 ? reached : settle;
      if (since && compare(position, since) < 0) position = since;
    }
    return {
      object: 'checkin_bundle',
      event_id: eventId,
      event_name: eventName,
      list: listView(list),
      public_key: publicKey,
      event_status: eventStatus,
      tickets: shown.map((t) => ({
        id: t.id,
        ticket_type_id: t.ticket_type_id,
        holder_name: t.holder_name,
        status: t.status,
        void_reason: t.void_reason,
        code_version: t.code_version,
        admitted: t.present !== null && (list.allow_reentry === 0 || t.inside === 1),
      })),
      cursor: encodeBundleCursor(list.id, position),
      has_more: hasMore,
      full: since === null,
      generated_at: generatedAt,
    };
  }

  /** Applies each scan once, in the order scanned (ties: by scan id); answers in the order sent. */
  async uploadBatch(orgId: string, input: BatchInput): Promise<CheckinBatchResult> {
    // Lists are checked up front: a batch is refused whole rather than applied halfway.
    const listIds = [...new Set(input.scans.flatMap((s) => (s.list ? [s.list] : [])))];
    if (listIds.length) {
      const found = await this.k
        .selectFrom('checkin_lists')
        .select('id')
        .where('org_id', '=', orgId)
        .where('id', 'in', listIds)
        .execute();
      if (found.length !== listIds.length) throw notFound('check-in list');
    }
    const ordered = input.scans
      .map((scan, index) => ({ scan: { ...scan, scanned_at: toUtc(scan.scanned_at) }, index }))
      .sort((a, b) => compare([a.scan.scanned_at, a.scan.id], [b.scan.scanned_at, b.scan.id]));
    const results: ScanResult[] = new Array(input.scans.length);
    for (const { scan, index } of ordered) results[index] = await this.apply(orgId, input.device_id, scan);
    return { object: 'checkin_batch', results, conflicts: results.filter((r) => r.conflict).length };
  }

  private async stored(orgId: string, scanId: string): Promise<ScanResult | undefined> {
    const row = await this.k
      .selectFrom('checkins')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('scan_id', '=', scanId)
      .executeTakeFirst();
    // A row still 'pending' belongs to an upload in flight; its transaction has not committed.
    return row && row.result !== 'pending' ? scanResult(row) : undefined;
  }

  private async apply(orgId: string, deviceId: string, scan: Scan): Promise<ScanResult> {
    const done = await this.stored(orgId, scan.id);
    if (done) return done;
    await this.warmKey(orgId, scan.code);
    const applied = await this.k.transaction().execute(async (trx) => {
      const uploadedAt = nowIso();
      const id = newId('checkin');
      // Claiming the scan id first makes a concurrent upload of the same scan wait for this one
      // (Postgres) or find it (SQLite, one writer), and then answer with what was stored.
      const claim = await trx
        .insertInto('checkins')
        .values({
          id,
          org_id: orgId,
          event_id: null,
          list_id: null,
          ticket_id: null,
          device_id: deviceId,
          gate: scan.gate ?? null,
          direction: scan.direction,
          result: 'pending',
          offline: 1,
          scanned_at: scan.scanned_at,
          created_at: uploadedAt,
          scan_id: scan.id,
          offline_result: scan.offline_result,
          first_used: null,
        })
        .onConflict((oc) => oc.columns(['org_id', 'scan_id']).doNothing())
        .executeTakeFirst();
      if (Number(claim.numInsertedOrUpdatedRows ?? 0) !== 1) return null;
      const { validation, eventId } = await this.checkin.check(
        trx,
        orgId,
        {
          code: scan.code,
          list: scan.list,
          device_id: deviceId,
          gate: scan.gate,
          direction: scan.direction,
          dry_run: false,
        },
        scan.scanned_at,
        uploadedAt,
      );
      const conflict =
        scan.offline_result === 'admitted' &&
        scan.direction === 'entry' &&
        validation.result === 'already_used';
      const changes = {
        event_id: eventId,
        list_id: validation.list_id,
        ticket_id: validation.ticket?.id ?? null,
        result: validation.result,
        conflict: conflict ? 1 : 0,
        first_used: validation.first_used ? JSON.stringify(validation.first_used) : null,
      } as const;
      await trx.updateTable('checkins').set(changes).where('id', '=', id).execute();
      return scanResult({ scan_id: scan.id, ...changes });
    });
    if (applied) return applied;
    const other = await this.stored(orgId, scan.id);
    if (!other) throw new Error(`scan ${scan.id} was claimed but not recorded`);
    return other;
  }

  /**
   * Loads the event's verifying key before the scan's transaction: on SQLite the transaction holds
   * the only connection, so the key must not need a query of its own inside it.
   */
  private async warmKey(orgId: string, code: string): Promise<void> {
    const decoded = decodeTicketCode(code);
    if (!decoded) return;
    const ticket = await this.k
      .selectFrom('tickets')
      .select('event_id')
      .where('id', '=', decoded.payload.ticketId)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (ticket) await this.checkin.publicKey(ticket.event_id);
  }

  async conflicts(
    orgId: string,
    eventId: string,
    query: z.output<typeof ListQuery>,
  ): Promise<Page<CheckinConflict>> {
    await this.assertEvent(orgId, eventId);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? String(decodeCursor(query.starting_after, 1)[0]) : null;
    const rows = await this.k
      .selectFrom('checkins')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('event_id', '=', eventId)
      // A literal: the partial index's own condition (conflict = 1), so every planner can use it.
      .where(sql.ref('conflict'), '=', sql.lit(1))
      .$if(after !== null, (q) => q.where('id', '>', after!))
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => [r.id], conflictView);
  }
}

function scanResult(
  row: Pick<CheckinRow, 'scan_id' | 'result' | 'conflict' | 'first_used' | 'ticket_id' | 'list_id'>,
): ScanResult {
  return {
    id: row.scan_id!,
    result: row.result as ScanResult['result'],
    conflict: row.conflict === 1,
    first_used: row.first_used ? JSON.parse(row.first_used) : null,
    ticket_id: row.ticket_id,
    list_id: row.list_id,
  };
}

function conflictView(row: CheckinRow): CheckinConflict {
  return {
    object: 'checkin_conflict',
    id: row.id,
    scan_id: row.scan_id!,
    event_id: row.event_id!,
    list_id: row.list_id!,
    ticket_id: row.ticket_id!,
    device_id: row.device_id,
    gate: row.gate,
    scanned_at: row.scanned_at,
    uploaded_at: row.created_at,
    first_used: row.first_used ? JSON.parse(row.first_used) : null,
  };
}
