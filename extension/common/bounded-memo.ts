/**
 * Values computed once per key and kept for the next callers, for the
 * per-message paths that would otherwise compute the same few values again
 * and again (a peer's key from its id, its verification key). At most
 * `limit` are kept; past that all are forgotten at once rather than one by
 * one, as a node meets few keys and this happens only when many pass.
 */
export class BoundedMemo<K, V> {
  private readonly values = new Map<K, V>();

  constructor(private readonly limit: number) {}

  get(key: K, compute: (key: K) => V): V {
    let value = this.values.get(key);
    if (value === undefined) {
      value = compute(key);
      if (this.values.size >= this.limit) this.values.clear();
      this.values.set(key, value);
    }
    return value;
  }
}
