/**
 * `make`, remembered for the last `limit` keys (the oldest is forgotten first), and for at most
 * `ttlMs` when given. A promise that rejects is forgotten at once, so a failure is not served again.
 */
export function memoize<V>(
  limit: number,
  make: (key: string) => V,
  options: { ttlMs?: number } = {},
): (key: string) => V {
  const kept = new Map<string, { value: V; at: number }>();
  const ttl = options.ttlMs ?? Number.POSITIVE_INFINITY;
  return (key) => {
    const hit = kept.get(key);
    if (hit && Date.now() - hit.at < ttl) return hit.value;
    kept.delete(key);
    if (kept.size >= limit) kept.delete(kept.keys().next().value as string);
    const value = make(key);
    kept.set(key, { value, at: Date.now() });
    if (value instanceof Promise) value.catch(() => kept.delete(key));
    return value;
  };
}
