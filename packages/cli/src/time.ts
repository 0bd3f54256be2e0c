import { DateTime, IANAZone } from 'luxon';
import { checkDateTime, DATE_TIME } from './date-input.js';
import { UsageError } from './errors.js';

export function checkTimeZone(zone: string, flag = '--timezone'): string {
  if (!IANAZone.isValidZone(zone))
    throw new UsageError(`${flag}: "${zone}" is not an IANA time zone (e.g. Europe/Berlin)`);
  return zone;
}

/**
 * Reads a date typed by a person. Without an offset it is wall-clock time in `zone` (the event's), so
 * "2026-12-31 20:00" in Europe/Berlin is 19:00 UTC. Returns ISO-8601 UTC.
 */
export function parseDateTime(text: string, zone: string, flag: string): string {
  const m = DATE_TIME.exec(checkDateTime(text, flag))!;
  const [, date, hour = '00', minute = '00', second = '00', offset] = m;
  checkTimeZone(zone);
  const dt = DateTime.fromISO(`${date}T${hour}:${minute}:${second}${offset ?? ''}`, { zone, setZone: true });
  if (!dt.isValid) throw new UsageError(`${flag}: "${text}" is not a valid date (${dt.invalidExplanation})`);
  // Luxon moves a time inside a daylight-saving gap forward; say so rather than guess.
  if (!offset && (dt.hour !== Number(hour) || dt.minute !== Number(minute)))
    throw new UsageError(`${flag}: ${date} ${hour}:${minute} does not exist in ${zone} (clocks change then)`);
  return dt.toUTC().toISO({ suppressMilliseconds: true })!;
}

/** An API timestamp as wall-clock time in a zone, e.g. `2026-12-31 20:00`. */
export function formatDateTime(iso: string | null | undefined, zone: string, withOffset = false): string {
  if (!iso) return '';
  const dt = DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone);
  return dt.toFormat(withOffset ? 'yyyy-MM-dd HH:mm ZZ' : 'yyyy-MM-dd HH:mm');
}

/** The machine's own zone, for times not tied to an event. */
export const localZone = (): string => DateTime.local().zoneName ?? 'UTC';
