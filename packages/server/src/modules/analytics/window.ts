import type { Interval } from '@tickets/sdk';
import { DateTime } from 'luxon';
import { ApiError } from '../../http/errors.js';

/** One bucket of a time series: [start, end) in UTC, and its start as the time zone reads it. */
export interface Bucket {
  start: string;
  end: string;
  label: string;
}

/** The range, time zone and buckets of an analytics answer. */
export interface Window {
  timezone: string;
  interval: Interval;
  from: string;
  to: string;
  buckets: Bucket[];
}

/** More buckets than this is a mistake (20 years by the hour), answered 400 rather than computed. */
export const MAX_BUCKETS = 2000;

const badQuery = (path: string, message: string) =>
  new ApiError(400, 'invalid_query', 'The query string is not valid.', [
    { path, message, code: 'invalid_value' },
  ]);

/** A date is local midnight in the zone; a date-time without an offset is local time there. */
function instant(value: string, zone: string, param: string): DateTime {
  const t = DateTime.fromISO(value, { zone, setZone: false });
  if (!t.isValid)
    throw badQuery(param, `is not a valid date or date-time (${t.invalidExplanation ?? value})`);
  return t.setZone(zone);
}

const iso = (t: DateTime) => t.toUTC().toISO({ suppressMilliseconds: false }) as string;

/** The bucket size that gives at most about 100 buckets over a span. */
function autoInterval(from: DateTime, to: DateTime): Interval {
  const days = to.diff(from, 'days').days;
  if (days <= 4) return 'hour';
  if (days <= 120) return 'day';
  if (days <= 700) return 'week';
  return 'month';
}

/**
 * Resolves `from`, `to`, `interval` and `timezone` into buckets. Buckets are aligned to the interval in
 * the zone (the hour, local midnight, Monday, the 1st) and stepped by calendar units, so a day of a DST
 * change is 23 or 25 hours long; the first starts at or before `from` and the last ends at or after
 * `to`. Defaults: `defaults.from` and `defaults.to` (UTC instants).
 */
export function resolveWindow(
  query: { from?: string; to?: string; interval?: Interval; timezone?: string },
  defaults: { timezone: string; from: string; to: string },
): Window {
  const zone = query.timezone ?? defaults.timezone;
  const from = query.from ? instant(query.from, zone, 'from') : DateTime.fromISO(defaults.from).setZone(zone);
  const to = query.to ? instant(query.to, zone, 'to') : DateTime.fromISO(defaults.to).setZone(zone);
  if (to <= from) throw badQuery(query.to ? 'to' : 'from', '`from` must be before `to`');
  const interval = query.interval ?? autoInterval(from, to);
  const unit = interval === 'week' ? 'week' : interval;
  const step = { [`${unit}s`]: 1 } as Record<string, number>;
  // Rough count first, so a 20-year hourly range is refused before any bucket is made.
  const rough = to.diff(from, `${unit}s` as 'hours').as(`${unit}s` as 'hours');
  if (rough > MAX_BUCKETS)
    throw badQuery(
      'interval',
      `gives ${Math.ceil(rough).toLocaleString('en')} buckets from \`from\` to \`to\`; at most ${MAX_BUCKETS} (choose a longer interval or a shorter range)`,
    );
  const buckets: Bucket[] = [];
  let start = from.startOf(unit === 'week' ? 'week' : unit);
  while (start < to) {
    const end = start.plus(step);
    buckets.push({
      start: iso(start),
      end: iso(end),
      // An hour's label carries its offset: the hour repeated when clocks go back is two buckets.
      label: interval === 'hour' ? start.toFormat("yyyy-MM-dd'T'HH:mmZZ") : start.toISODate()!,
    });
    start = end;
  }
  return { timezone: zone, interval, from: iso(from), to: iso(to), buckets };
}
