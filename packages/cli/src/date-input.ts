import { UsageError } from './errors.js';

// Kept apart from time.ts (luxon) so option parsing can check a date's shape without loading luxon.

/** "2026-12-31", "2026-12-31 20:00", "2026-12-31T20:00:00", optionally with Z or an offset. */
export const DATE_TIME =
  /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Checks the shape of a date before anything is sent; the zone may be known only later. */
export function checkDateTime(text: string, flag: string): string {
  if (!DATE_TIME.test(text.trim()))
    throw new UsageError(
      `${flag}: "${text}" is not a date; use e.g. "2026-12-31 20:00" or 2026-12-31T20:00:00+01:00`,
    );
  return text.trim();
}
