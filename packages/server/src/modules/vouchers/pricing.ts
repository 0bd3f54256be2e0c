import type { Transaction } from 'kysely';
import { type Db, saleTransaction } from '../../db/database.js';
import type { Database, VouchersTable } from '../../db/schema.js';
import { type ApiError, conflict, validationFailed } from '../../http/errors.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { type Counter, confirm, type Line, release, takeSeats } from '../inventory/inventory.js';

type Trx = Transaction<Database>;
export type VoucherRow = VouchersTable;

/** The ticket types a code is for (null: every type of its event). */
export function typesOf(v: Pick<VoucherRow, 'ticket_type_ids'>): string[] | null {
  return v.ticket_type_ids ? (JSON.parse(v.ticket_type_ids) as string[]) : null;
}

/** Whether a code may be used at this event now; the reason (code, text) when not. */
export function voucherProblem(
  v: Pick<VoucherRow, 'code' | 'active' | 'event_id' | 'valid_from' | 'valid_until'>,
  eventId: string,
  now: string,
): { code: string; detail: string } | null {
  if (v.event_id !== null && v.event_id !== eventId)
    return { code: 'voucher_not_for_event', detail: `The code ${v.code} is not valid for this event.` };
  if (v.active !== 1) return { code: 'voucher_inactive', detail: `The code ${v.code} is no longer valid.` };
  if (v.valid_from && now < v.valid_from)
    return { code: 'voucher_not_yet_valid', detail: `The code ${v.code} is valid from ${v.valid_from}.` };
  if (v.valid_until && now >= v.valid_until)
    return { code: 'voucher_expired', detail: `The code ${v.code} expired at ${v.valid_until}.` };
  return null;
}

/** The 422 a purchase gets for a code it cannot use. */
export function voucherRefused(problem: { code: string; detail: string }): ApiError {
  return validationFailed([{ path: 'voucher', message: problem.detail, code: problem.code }], problem.detail);
}

/** A ticket's price with a per-ticket effect of the code (percent, amount per ticket, fixed price); ≥ 0. */
export function unitPriceWith(v: Pick<VoucherRow, 'kind' | 'value' | 'per'>, price: number): number {
  switch (v.kind) {
    case 'percent':
      // Rounded to the minor unit, half up: 20 % of 12.99 is 2.60 off.
      return Math.max(0, price - Math.floor((price * v.value + 5000) / 10_000));
    case 'amount':
      return v.per === 'ticket' ? Math.max(0, price - v.value) : price;
    case 'price':
      return Math.min(price, v.value);
    default:
      return price;
  }
}

/**
 * The price of each line with the code: per-ticket effects on the lines it is valid for; an amount
 * off the order spread evenly over those tickets, a whole minor unit per ticket (what does not divide
 * is not taken off: at most one minor unit per ticket less than asked), never below zero.
 */
export function priceLines(
  v: Pick<VoucherRow, 'kind' | 'value' | 'per' | 'ticket_type_ids'>,
  lines: { typeId: string; price: number; quantity: number }[],
): Map<string, number> {
  const only = typesOf(v);
  const eligible = lines.filter((l) => only === null || only.includes(l.typeId));
  const prices = new Map(lines.map((l) => [l.typeId, l.price]));
  if (v.kind === 'amount' && v.per === 'order') {
    const count = eligible.reduce((n, l) => n + l.quantity, 0);
    const each = count ? Math.floor(v.value / count) : 0;
    for (const l of eligible) prices.set(l.typeId, Math.max(0, l.price - each));
  } else for (const l of eligible) prices.set(l.typeId, unitPriceWith(v, l.price));
  return prices;
}

/**
 * Redeems a code for an order, in the selling transaction: one use, conditional on a use being left
 * (`uses < max_uses`, the same discipline as the inventory's counters, so racing buyers redeem it
 * exactly as often as it may be), then — the voucher's row now locked by that write, so a buyer's
 * racing orders queue here — the buyer's own uses against `max_uses_per_email`.
 */
export async function redeem(
  trx: Trx,
  v: Pick<VoucherRow, 'id' | 'code' | 'max_uses_per_email'>,
  order: { id: string; org_id: string; buyer_email: string; currency: string },
  discount: number,
  reserved = 0,
): Promise<void> {
  const now = nowIso();
  const taken = await trx
    .updateTable('vouchers')
    .set((eb) => ({ uses: eb('uses', '+', 1), updated_at: now }))
    .where('id', '=', v.id)
    .where('active', '=', 1)
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
    .returning(['uses', 'max_uses'])
    .executeTakeFirst();
  if (!taken) throw conflict('voucher_used_up', `The code ${v.code} has been used as often as it may be.`);
  // Its last use: what it still holds goes back on sale (nobody can use it any more).
  if (taken.max_uses !== null && Number(taken.uses) >= taken.max_uses) await dropReservation(trx, v.id);
  const email = order.buyer_email.toLowerCase();
  if (v.max_uses_per_email !== null) {
    const mine = await trx
      .selectFrom('voucher_redemptions')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('voucher_id', '=', v.id)
      .where('email', '=', email)
      .where('status', '=', 'active')
      .executeTakeFirstOrThrow();
    if (Number(mine.n) >= v.max_uses_per_email)
      throw conflict(
        'voucher_limit_reached',
        `The code ${v.code} may be used ${v.max_uses_per_email} time(s) per buyer; ${email} has.`,
      );
  }
  await trx
    .insertInto('voucher_redemptions')
    .values({
      id: newId('redemption'),
      org_id: order.org_id,
      voucher_id: v.id,
      order_id: order.id,
      email,
      discount,
      currency: order.currency,
      status: 'active',
      reserved,
      created_at: now,
      released_at: null,
    })
    .execute();
}

/**
 * Redeems a code in the selling transaction, before the seats are taken: its use (see redeem) and, when
 * it holds tickets of an ordered type, as many of them as the order has (and are left). Those are held
 * already: a paid sale makes them sold, a hold keeps them held. Returns the seats still to take.
 */
export async function redeemWithSeats(
  trx: Trx,
  v: VoucherRow,
  order: { id: string; org_id: string; event_id: string; buyer_email: string; currency: string },
  discount: number,
  wanted: Line[],
  column: Counter,
): Promise<Line[]> {
  const only = typesOf(v);
  const typeId = Number(v.reserved_left) > 0 && only?.length === 1 ? only[0]! : null;
  const line = typeId ? wanted.find((l) => l.typeId === typeId) : undefined;
  const k = line ? await takeReserved(trx, v, line.quantity) : 0;
  await redeem(trx, v, order, discount, k);
  if (k === 0) return wanted;
  if (column === 'sold') await confirm(trx, order.event_id, [{ typeId: typeId!, quantity: k }]);
  return wanted
    .map((l) => (l.typeId === typeId ? { ...l, quantity: l.quantity - k } : l))
    .filter((l) => l.quantity > 0);
}

/**
 * Gives an order's use of its code back (an expired or failed hold; a refund, when asked); once. With
 * `seatsBack` (a hold that ended: its seats are still held), the seats it had from the code's
 * reservation go back to the reservation while the code can still be used — the answer says which
 * ticket type and how many, for the caller not to release them; otherwise they go back on sale with the
 * rest of the order's.
 */
export async function releaseRedemption(
  trx: Trx,
  orderId: string,
  seatsBack = false,
): Promise<{ typeId: string; quantity: number } | null> {
  const now = nowIso();
  const released = await trx
    .updateTable('voucher_redemptions')
    .set({ status: 'released', released_at: now })
    .where('order_id', '=', orderId)
    .where('status', '=', 'active')
    .returning(['voucher_id', 'reserved'])
    .executeTakeFirst();
  if (!released) return null;
  const k = seatsBack ? Number(released.reserved) : 0;
  const v = await trx
    .updateTable('vouchers')
    .set((eb) => ({ uses: eb('uses', '-', 1), updated_at: now }))
    .where('id', '=', released.voucher_id)
    .returning(['active', 'valid_until', 'ticket_type_ids'])
    .executeTakeFirstOrThrow();
  if (k === 0 || v.active !== 1 || (v.valid_until !== null && v.valid_until <= now)) return null;
  await trx
    .updateTable('vouchers')
    .set((eb) => ({ reserved_left: eb('reserved_left', '+', k) }))
    .where('id', '=', released.voucher_id)
    .execute();
  return { typeId: typesOf(v)![0]!, quantity: k };
}

/**
 * Takes up to `wanted` of a code's reserved tickets for an order (conditional on that many being
 * left): how many it got — none when another sale took them first (the order then takes seats on sale).
 */
export async function takeReserved(trx: Trx, v: Pick<VoucherRow, 'id' | 'reserved_left'>, wanted: number) {
  const k = Math.min(wanted, Number(v.reserved_left));
  if (k <= 0) return 0;
  const res = await trx
    .updateTable('vouchers')
    .set((eb) => ({ reserved_left: eb('reserved_left', '-', k) }))
    .where('id', '=', v.id)
    .where('reserved_left', '>=', k)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1 ? k : 0;
}

/** Reserves a code's tickets (its one ticket type's), like a hold. Null when done, or why not. */
export async function reserveSeats(
  trx: Trx,
  v: Pick<VoucherRow, 'event_id' | 'ticket_type_ids'>,
  quantity: number,
): Promise<string | null> {
  return takeSeats(trx, v.event_id!, [{ typeId: typesOf(v)![0]!, quantity }], 'held');
}

/** Gives back what a code still holds (deactivated, deleted, expired, used up); once. */
export async function dropReservation(trx: Trx, voucherId: string): Promise<number> {
  const v = await trx
    .selectFrom('vouchers')
    .select(['event_id', 'ticket_type_ids', 'reserved_left'])
    .where('id', '=', voucherId)
    .executeTakeFirst();
  const n = Number(v?.reserved_left ?? 0);
  if (!v || n === 0) return 0;
  const dropped = await trx
    .updateTable('vouchers')
    .set({ reserved_left: 0 })
    .where('id', '=', voucherId)
    .where('reserved_left', '=', n)
    .executeTakeFirst();
  if (Number(dropped.numUpdatedRows) !== 1) return 0;
  await release(trx, v.event_id!, [{ typeId: typesOf(v)![0]!, quantity: n }]);
  return n;
}

/** Reservations of codes that have expired, given back (a job: nobody can use them any more). */
export async function dropExpiredReservations(db: Db, now = nowIso()): Promise<number> {
  const due = await db.kysely
    .selectFrom('vouchers')
    .select('id')
    .where('reserved_left', '>', 0)
    .where('valid_until', '<=', now)
    .limit(100)
    .execute();
  let dropped = 0;
  for (const { id } of due) dropped += await saleTransaction(db, (trx) => dropReservation(trx, id));
  return dropped;
}
