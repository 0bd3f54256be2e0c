/** Timestamps are stored and returned as ISO-8601 UTC with milliseconds (see db/schema.ts). */
export const nowIso = (): string => new Date().toISOString();

/** Normalises any ISO-8601 input with an offset to UTC. */
export const toUtc = (iso: string): string => new Date(iso).toISOString();

export const toUtcOrNull = (iso: string | null | undefined): string | null => (iso ? toUtc(iso) : null);

export const addSeconds = (iso: string, s: number): string =>
  new Date(Date.parse(iso) + s * 1000).toISOString();
