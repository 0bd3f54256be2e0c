/**
 * `make`, remembered for the last `limit` keys (the oldest is forgotten first). A promise that rejects is
 * forgotten at once, so a failure is not served again.
 */
export function memoize<V>(limit: number, make: (key: string) => V): (key: string) => V {
  const kept = new Map<string, V>();
  return (key) => {
    if (kept.has(key)) return kept.get(key) as V;
    if (kept.size >= limit) kept.delete(kept.keys().next().value as string);
    const value = make(key);
    kept.set(key, value);
    if (value instanceof Promise) value.catch(() => kept.delete(key));
    return value;
  };
}
