/**
 * One entry, shared by the map and the queue; `live` false once deleted, so
 * the queue skips it, and its value dropped then, so that a deleted entry
 * waiting in the queue holds on to no more than its key.
 */
interface Entry<K, V> {
  readonly key: K;
  value: V | undefined;
  live: boolean;
}

/** Below this many entries skipped the queue is not rebuilt: rebuilding a short queue saves nothing. */
const MIN_SKIPPED_TO_REBUILD = 1024;

/**
 * A map that hands out its oldest entry in O(1): for the stores' sets that
 * are forgotten oldest first (final states, seen ids, recent records),
 * which look at the oldest entry on every add.
 *
 * A plain Map keeps insertion order too, but V8 leaves a deleted entry in
 * its table as a hole until the table is rebuilt, and iteration starts at
 * the first slot: with entries removed from the front all the time, asking
 * a Map for its oldest entry walks over thousands of holes each time. Here
 * the order is an array with a moving head, and a deleted entry stays in
 * it, marked, until the head passes it or the array is rebuilt (once the
 * marked entries outnumber the live ones), so each entry costs O(1)
 * amortized however it leaves.
 *
 * Like Map: setting a key that is present replaces its value in place,
 * keeping its position; iteration is oldest first, and may delete.
 */
export class FifoMap<K, V> {
  private readonly entries = new Map<K, Entry<K, V>>();
  private queue: Entry<K, V>[] = [];
  private head = 0;
  /** Deleted entries still in the queue at or after the head. */
  private dead = 0;

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  get(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: K, value: V): this {
    const present = this.entries.get(key);
    if (present !== undefined) {
      present.value = value;
      return this;
    }
    const entry: Entry<K, V> = { key, value, live: true };
    this.entries.set(key, entry);
    this.queue.push(entry);
    return this;
  }

  delete(key: K): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    entry.live = false;
    entry.value = undefined;
    this.dead += 1;
    this.skipDead();
    if (this.dead >= MIN_SKIPPED_TO_REBUILD && this.dead > this.entries.size) this.rebuild();
    return true;
  }

  /** The oldest entry, or undefined when empty: the entry itself, whose value a delete drops, so read it first. */
  oldest(): { readonly key: K; readonly value: V } | undefined {
    // The head is always a live entry (skipDead), and a live entry holds its value.
    return this.queue[this.head] as { readonly key: K; readonly value: V } | undefined;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this) yield value;
  }

  *[Symbol.iterator](): IterableIterator<[K, V]> {
    // The array as it is now: an entry deleted meanwhile is skipped (it is marked), one set meanwhile may not be visited.
    const queue = this.queue;
    for (let index = this.head; index < queue.length; index += 1) {
      const entry = queue[index] as Entry<K, V>;
      if (entry.live) yield [entry.key, entry.value as V];
    }
  }

  /** Moves the head past deleted entries, so that the oldest is always at the head; drops the passed part once it is most of the array. */
  private skipDead(): void {
    while (this.head < this.queue.length && !(this.queue[this.head] as Entry<K, V>).live) {
      this.head += 1;
      this.dead -= 1;
    }
    if (this.head >= MIN_SKIPPED_TO_REBUILD && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** The queue without its deleted entries. */
  private rebuild(): void {
    this.queue = this.queue.slice(this.head).filter((entry) => entry.live);
    this.head = 0;
    this.dead = 0;
  }
}
