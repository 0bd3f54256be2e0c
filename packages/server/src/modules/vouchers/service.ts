import { randomInt } from 'node:crypto';
import type {
  Page,
  Voucher,
  VoucherCheck,
  VoucherCreated,
  VoucherCreateInput,
  VoucherListQuery,
  VoucherRedemption,
  VoucherUpdateInput,
} from '@tickets/sdk';
import type { z } from 'zod';
import { type Db, saleTransaction } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound, validationFailed } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { actorId, recordAudit } from '../audit/log.js';
import {
  dropReservation,
  reserveSeats,
  typesOf,
  unitPriceWith,
  type VoucherRow,
  voucherProblem,
} from './pricing.js';

type CreateInput = z.output<typeof VoucherCreateInput>;
type UpdateInput = z.output<typeof VoucherUpdateInput>;
type Discount = NonNullable<CreateInput['discount']>;

/** Generated codes: no 0/O, 1/I/L, so a code read aloud or off paper is typed right. */
const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const GENERATED_LENGTH = 8;

function generatedCode(prefix: string | undefined): string {
  let code = '';
  for (let i = 0; i < GENERATED_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return prefix ? `${prefix}-${code}` : code;
}

const iso = (t: string | null | undefined) => (t ? new Date(t).toISOString() : null);

export function voucherView(v: VoucherRow): Voucher {
  const money = (amount: number) => ({ amount, currency: v.currency ?? '' });
  return {
    id: v.id,
    object: 'voucher',
    code: v.code,
    event_id: v.event_id,
    ticket_type_ids: typesOf(v),
    discount:
      v.kind === 'percent'
        ? { percent: v.value / 100 }
        : v.kind === 'amount'
          ? { amount: money(v.value), per: v.per }
          : v.kind === 'price'
            ? { price: money(v.value) }
            : null,
    unlocks_hidden: v.unlocks_hidden === 1,
    max_uses: v.max_uses,
    max_uses_per_email: v.max_uses_per_email,
    uses: Number(v.uses),
    reserved: Number(v.reserved),
    reserved_left: Number(v.reserved_left),
    valid_from: v.valid_from,
    valid_until: v.valid_until,
    active: v.active === 1,
    comment: v.comment,
    created_at: v.created_at,
    updated_at: v.updated_at,
  };
}

/** The stored form of a discount: kind, value (percent in basis points), per, currency. */
function effectOf(d: Discount | null | undefined) {
  if (!d) return { kind: 'none' as const, value: 0, per: 'ticket' as const, currency: null };
  if ('percent' in d)
    return {
      kind: 'percent' as const,
      value: Math.round(d.percent * 100),
      per: 'ticket' as const,
      currency: null,
    };
  if ('amount' in d)
    return { kind: 'amount' as const, value: d.amount.amount, per: d.per, currency: d.amount.currency };
  return {
    kind: 'price' as const,
    value: d.price.amount,
    per: 'ticket' as const,
    currency: d.price.currency,
  };
}

/** Discount codes of an organization: made, listed, changed, deleted, checked by a checkout. */
export class Vouchers {
  constructor(private readonly db: Db) {}

  private get k() {
    return this.db.kysely;
  }

  private async row(orgId: string, id: string): Promise<VoucherRow> {
    const v = await this.k
      .selectFrom('vouchers')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!v) throw notFound('voucher');
    return v;
  }

  /**
   * Checks what a code refers to belongs to the organization: its event, its ticket types (of that
   * event), and an amount's currency (the event's: a code for every event may only take a percentage
   * off, as events' currencies differ, unless all of them share one).
   */
  private async checkScope(
    orgId: string,
    v: { event_id: string | null; ticket_type_ids: string[] | null; currency: string | null },
  ): Promise<void> {
    let currency: string | null = null;
    if (v.event_id) {
      const event = await this.k
        .selectFrom('events')
        .select('currency')
        .where('org_id', '=', orgId)
        .where('id', '=', v.event_id)
        .executeTakeFirst();
      if (!event)
        throw validationFailed([
          { path: 'event', message: 'is not an event of this organization', code: 'not_found' },
        ]);
      currency = event.currency;
    }
    if (v.ticket_type_ids?.length) {
      if (!v.event_id)
        throw validationFailed([
          { path: 'ticket_types', message: 'need the event they belong to (event)', code: 'event_required' },
        ]);
      const found = await this.k
        .selectFrom('ticket_types')
        .select('id')
        .where('event_id', '=', v.event_id)
        .where('id', 'in', v.ticket_type_ids)
        .execute();
      const missing = v.ticket_type_ids.find((t) => !found.some((f) => f.id === t));
      if (missing)
        throw validationFailed([
          {
            path: 'ticket_types',
            message: `${missing} is not a ticket type of the event`,
            code: 'not_found',
          },
        ]);
    }
    if (v.currency && currency && v.currency !== currency)
      throw validationFailed([
        {
          path: 'discount',
          message: `is in ${v.currency}, the event sells in ${currency}`,
          code: 'currency_mismatch',
        },
      ]);
    if (v.currency && !v.event_id)
      throw validationFailed([
        {
          path: 'discount',
          message:
            'an amount or a price needs an event (its currency); a code for every event takes a percentage off',
          code: 'event_required',
        },
      ]);
  }

  async create(by: Principal, input: CreateInput): Promise<VoucherCreated> {
    const effect = effectOf(input.discount);
    const types = input.ticket_types ?? null;
    await this.checkScope(by.orgId, {
      event_id: input.event ?? null,
      ticket_type_ids: types,
      currency: effect.currency,
    });
    const now = nowIso();
    const base = {
      org_id: by.orgId,
      event_id: input.event ?? null,
      ticket_type_ids: types?.length ? JSON.stringify([...new Set(types)]) : null,
      ...effect,
      unlocks_hidden: input.unlocks_hidden === false ? 0 : 1,
      max_uses: input.max_uses ?? null,
      max_uses_per_email: input.max_uses_per_email ?? null,
      uses: 0,
      reserved: input.reserve ?? 0,
      reserved_left: input.reserve ?? 0,
      valid_from: iso(input.valid_from),
      valid_until: iso(input.valid_until),
      active: input.active === false ? 0 : 1,
      comment: input.comment ?? null,
      created_by: actorId(by),
      created_at: now,
      updated_at: now,
    };
    const count = input.count ?? 1;
    // Generated codes: a clash with a code there is (one in 31^8 per pair) is drawn again.
    for (let attempt = 0; ; attempt++) {
      const codes = input.code
        ? [input.code]
        : [...new Set(Array.from({ length: count }, () => generatedCode(input.prefix)))];
      if (codes.length < count) continue;
      const rows = codes.map((code) => ({ ...base, id: newId('voucher'), code }));
      try {
        await saleTransaction(this.db, async (trx) => {
          for (let i = 0; i < rows.length; i += 200)
            await trx
              .insertInto('vouchers')
              .values(rows.slice(i, i + 200))
              .execute();
          // Each code's tickets held for it, like a hold: all of them, or none and a 409.
          if (input.reserve) {
            const short = await reserveSeats(trx, base, input.reserve * rows.length);
            if (short)
              throw conflict(
                'sold_out',
                `Not enough tickets left to reserve ${input.reserve * rows.length}: ${short}`,
              );
          }
          await recordAudit(trx, {
            orgId: by.orgId,
            by,
            action: 'voucher.created',
            subject: rows.length === 1 ? rows[0]!.id : (input.prefix ?? 'vouchers'),
            data: { codes: rows.length, event: base.event_id, kind: base.kind, value: base.value },
          });
        });
        return { object: 'list', data: rows.map(voucherView) };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        if (input.code) throw conflict('voucher_code_taken', `The code ${input.code} exists already.`);
        if (attempt >= 3) throw err;
      }
    }
  }

  async list(orgId: string, query: z.output<typeof VoucherListQuery>): Promise<Page<Voucher>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('vouchers')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.event !== undefined, (q) => q.where('event_id', '=', query.event!))
      .$if(query.active !== undefined, (q) => q.where('active', '=', query.active ? 1 : 0))
      .$if(query.code !== undefined, (q) =>
        q.where('code', 'like', `${query.code!.toUpperCase().replace(/[%_]/g, '')}%`),
      )
      .$if(before !== null, (q) => q.where('id', '<', before!))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => [r.id], voucherView);
  }

  async get(orgId: string, id: string): Promise<Voucher> {
    return voucherView(await this.row(orgId, id));
  }

  async update(by: Principal, id: string, input: UpdateInput): Promise<Voucher> {
    const current = await this.row(by.orgId, id);
    const effect = input.discount !== undefined ? effectOf(input.discount) : null;
    const next = {
      event_id: input.event !== undefined ? input.event : current.event_id,
      ticket_type_ids:
        input.ticket_types !== undefined
          ? input.ticket_types?.length
            ? JSON.stringify([...new Set(input.ticket_types)])
            : null
          : current.ticket_type_ids,
      currency: effect ? effect.currency : current.currency,
    };
    await this.checkScope(by.orgId, { ...next, ticket_type_ids: typesOf(next) });
    const valid_from = input.valid_from !== undefined ? iso(input.valid_from) : current.valid_from;
    const valid_until = input.valid_until !== undefined ? iso(input.valid_until) : current.valid_until;
    if (valid_from && valid_until && valid_until <= valid_from)
      throw validationFailed([
        { path: 'valid_until', message: 'must be after valid_from', code: 'invalid_window' },
      ]);
    const changes = {
      ...next,
      ...(effect ?? {}),
      ...(input.unlocks_hidden !== undefined ? { unlocks_hidden: input.unlocks_hidden ? 1 : 0 } : {}),
      ...(input.max_uses !== undefined ? { max_uses: input.max_uses } : {}),
      ...(input.max_uses_per_email !== undefined ? { max_uses_per_email: input.max_uses_per_email } : {}),
      valid_from,
      valid_until,
      ...(input.active !== undefined ? { active: input.active ? 1 : 0 } : {}),
      ...(input.comment !== undefined ? { comment: input.comment } : {}),
      updated_at: nowIso(),
    };
    if (
      Number(current.reserved_left) > 0 &&
      (next.event_id !== current.event_id || next.ticket_type_ids !== current.ticket_type_ids)
    )
      throw validationFailed([
        {
          path: 'ticket_types',
          message: 'cannot change while the code holds reserved tickets (deactivate it first)',
          code: 'reservation_held',
        },
      ]);
    await saleTransaction(this.db, async (trx) => {
      await trx.updateTable('vouchers').set(changes).where('id', '=', id).execute();
      // A code nobody can use any more holds nothing: its reserved tickets go back on sale.
      const ended = changes.valid_until !== null && changes.valid_until <= changes.updated_at;
      if (input.active === false || ended) await dropReservation(trx, id);
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'voucher.updated',
        subject: id,
        data: { ...input },
      });
    });
    return this.get(by.orgId, id);
  }

  async delete(by: Principal, id: string) {
    const current = await this.row(by.orgId, id);
    const used = await this.k
      .selectFrom('voucher_redemptions')
      .select('id')
      .where('voucher_id', '=', id)
      .executeTakeFirst();
    if (used)
      throw conflict(
        'voucher_used',
        `The code ${current.code} was used: its orders refer to it. Deactivate it instead (PUT … { "active": false }).`,
      );
    await saleTransaction(this.db, async (trx) => {
      await dropReservation(trx, id);
      await trx.deleteFrom('vouchers').where('id', '=', id).execute();
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'voucher.deleted',
        subject: id,
        data: { code: current.code },
      });
    });
    return { id, object: 'voucher', deleted: true as const };
  }

  async redemptions(
    orgId: string,
    id: string,
    query: { limit?: number; starting_after?: string },
  ): Promise<Page<VoucherRedemption>> {
    await this.row(orgId, id);
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('voucher_redemptions')
      .selectAll()
      .where('voucher_id', '=', id)
      .$if(before !== null, (q) => q.where('id', '<', before!))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => ({
        id: r.id,
        object: 'voucher_redemption' as const,
        voucher_id: r.voucher_id,
        order_id: r.order_id,
        email: r.email,
        discount: { amount: Number(r.discount), currency: r.currency },
        status: r.status,
        created_at: r.created_at,
        released_at: r.released_at,
      }),
    );
  }

  /**
   * What a code does at an event's checkout, for anyone (a storefront before the purchase): 404 for a
   * code that is not valid there, whatever the reason, so the answer tells a guesser nothing more.
   */
  async check(eventId: string, code: string): Promise<VoucherCheck> {
    const event = await this.k
      .selectFrom('events')
      .select(['id', 'org_id', 'status', 'currency'])
      .where('id', '=', eventId)
      .where('status', '=', 'published')
      .executeTakeFirst();
    const v = event
      ? await this.k
          .selectFrom('vouchers')
          .selectAll()
          .where('org_id', '=', event.org_id)
          .where('code', '=', code.toUpperCase())
          .executeTakeFirst()
      : undefined;
    const usedUp = v && v.max_uses !== null && Number(v.uses) >= v.max_uses;
    if (!event || !v || usedUp || voucherProblem(v, eventId, nowIso()))
      throw new ApiError(404, 'voucher_not_found', 'No such code for this event (or it is no longer valid).');
    const only = typesOf(v);
    const types = await this.k
      .selectFrom('ticket_types')
      .select(['id', 'name', 'hidden', 'price_amount'])
      .where('event_id', '=', eventId)
      .$if(only !== null, (q) => q.where('id', 'in', only!))
      .orderBy('sort_order')
      .orderBy('id')
      .execute();
    const money = (amount: number) => ({ amount, currency: event.currency });
    return {
      object: 'voucher_check',
      code: v.code,
      valid: true,
      discount: voucherView(v).discount,
      ticket_types: types
        .filter((t) => t.hidden === 0 || v.unlocks_hidden === 1)
        .map((t) => ({
          id: t.id,
          name: t.name,
          hidden: t.hidden === 1,
          price: money(t.price_amount),
          // An amount off the order depends on the order: the ticket's own price here.
          price_with_code: money(unitPriceWith(v, t.price_amount)),
        })),
      valid_until: v.valid_until,
    };
  }
}
