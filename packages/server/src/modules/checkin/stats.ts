import { type CheckinStats, REFUSALS } from '@tickets/sdk';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.js';
import { notFound } from '../../http/errors.js';
import { nowIso } from '../../time.js';

const WINDOW_MINUTES = 5;
const WINDOW_MS = WINDOW_MINUTES * 60_000;
/** Two days of windows; beyond that only the windows with admissions are listed. */
const MAX_FILLED = 576;
type Refusal = (typeof REFUSALS)[number];

/**
 * The live view of an event's doors, read from the scan log (`checkins`) and `ticket_presence`.
 * Plain GROUP BYs that read the same on SQLite and Postgres: counts come back as numbers from one
 * and strings from the other, so every one goes through Number(); time windows are cut from the
 * ISO text of `scanned_at` (to the minute in SQL, to five minutes here).
 */
export async function checkinStats(
  k: Kysely<Database>,
  orgId: string,
  eventId: string,
): Promise<CheckinStats> {
  const event = await k
    .selectFrom('events')
    .select('id')
    .where('id', '=', eventId)
    .where('org_id', '=', orgId)
    .executeTakeFirst();
  if (!event) throw notFound('event');

  const scans = () => k.selectFrom('checkins').where('event_id', '=', eventId).where('org_id', '=', orgId);
  const refusals = [...REFUSALS];
  const minute = sql<string>`substr(scanned_at, 1, 16)`;

  const [lists, admittedTotal, admittedByList, presence, refusedByList, byGate, perMinute] =
    await Promise.all([
      k
        .selectFrom('checkin_lists')
        .select(['id', 'name'])
        .where('event_id', '=', eventId)
        .where('org_id', '=', orgId)
        .orderBy('id')
        .execute(),
      scans()
        .select((eb) => eb.fn.count<number | string>('ticket_id').distinct().as('n'))
        .where('result', '=', 'admitted')
        .executeTakeFirstOrThrow(),
      scans()
        .select((eb) => ['list_id', eb.fn.count<number | string>('ticket_id').distinct().as('n')])
        .where('result', '=', 'admitted')
        .groupBy('list_id')
        .execute(),
      k
        .selectFrom('ticket_presence')
        .innerJoin('checkin_lists', 'checkin_lists.id', 'ticket_presence.list_id')
        .select((eb) => ['ticket_presence.list_id', eb.fn.countAll<number | string>().as('n')])
        .where('checkin_lists.event_id', '=', eventId)
        .where('checkin_lists.org_id', '=', orgId)
        .where('ticket_presence.inside', '=', 1)
        .groupBy('ticket_presence.list_id')
        .execute(),
      scans()
        .select((eb) => ['list_id', 'result', eb.fn.countAll<number | string>().as('n')])
        .where('result', 'in', refusals)
        .groupBy(['list_id', 'result'])
        .execute(),
      scans()
        .select((eb) => ['gate', 'result', eb.fn.countAll<number | string>().as('n')])
        .where('result', 'in', ['admitted', ...refusals])
        .groupBy(['gate', 'result'])
        .execute(),
      scans()
        .select((eb) => [minute.as('minute'), eb.fn.countAll<number | string>().as('n')])
        .where('result', '=', 'admitted')
        .groupBy(minute)
        .execute(),
    ]);

  const admittedOn = new Map(admittedByList.map((r) => [r.list_id, Number(r.n)]));
  const insideOn = new Map(presence.map((r) => [r.list_id, Number(r.n)]));
  const refusedOn = new Map<string | null, number>();
  const byReason = new Map<Refusal, number>();
  for (const r of refusedByList) {
    refusedOn.set(r.list_id, (refusedOn.get(r.list_id) ?? 0) + Number(r.n));
    byReason.set(r.result as Refusal, (byReason.get(r.result as Refusal) ?? 0) + Number(r.n));
  }

  const gates = new Map<string | null, { gate: string | null; admitted: number; refused: number }>();
  for (const r of byGate) {
    const g = gates.get(r.gate) ?? { gate: r.gate, admitted: 0, refused: 0 };
    if (r.result === 'admitted') g.admitted += Number(r.n);
    else g.refused += Number(r.n);
    gates.set(r.gate, g);
  }

  return {
    object: 'checkin_stats',
    event_id: eventId,
    admitted: Number(admittedTotal.n),
    inside: [...insideOn.values()].reduce((s, n) => s + n, 0),
    refused: [...byReason.values()].reduce((s, n) => s + n, 0),
    refused_by_reason: [...byReason]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    lists: lists.map((l) => ({
      id: l.id,
      name: l.name,
      admitted: admittedOn.get(l.id) ?? 0,
      inside: insideOn.get(l.id) ?? 0,
      refused: refusedOn.get(l.id) ?? 0,
    })),
    gates: [...gates.values()].sort(
      (a, b) =>
        b.admitted + b.refused - (a.admitted + a.refused) || (a.gate ?? '').localeCompare(b.gate ?? ''),
    ),
    admissions: windows(perMinute.map((r) => ({ minute: r.minute, count: Number(r.n) }))),
    generated_at: nowIso(),
  };
}

/** Per-minute counts ('2026-12-31T20:07') into 5-minute windows, empty ones between included. */
export function windows(perMinute: { minute: string; count: number }[]): { start: string; count: number }[] {
  const counts = new Map<number, number>();
  for (const { minute, count } of perMinute) {
    const t = Date.parse(`${minute}:00.000Z`);
    const start = t - (t % WINDOW_MS);
    counts.set(start, (counts.get(start) ?? 0) + count);
  }
  if (counts.size === 0) return [];
  const starts = [...counts.keys()];
  const first = Math.min(...starts);
  const last = Math.max(...starts);
  // A stray scan far from the rest (a device with its clock wrong) must not make thousands of rows.
  if ((last - first) / WINDOW_MS > MAX_FILLED)
    return starts
      .sort((a, b) => a - b)
      .map((t) => ({ start: new Date(t).toISOString(), count: counts.get(t) ?? 0 }));
  const out: { start: string; count: number }[] = [];
  for (let t = first; t <= last; t += WINDOW_MS)
    out.push({ start: new Date(t).toISOString(), count: counts.get(t) ?? 0 });
  return out;
}
