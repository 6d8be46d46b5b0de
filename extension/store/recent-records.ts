import { FifoMap } from './fifo-map';

/**
 * The record bodies of the newest entries, within a byte budget: adding
 * one past the budget drops the oldest. A body larger than the whole
 * budget is not kept at all.
 */
export class RecentRecords<K> {
  /** In the order added, which is the order they are dropped in. */
  private readonly bodies = new FifoMap<K, Uint8Array>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of the bodies kept. */
  get heldBytes(): number {
    return this.bytes;
  }

  add(key: K, body: Uint8Array): void {
    if (body.length > this.maxBytes) return;
    this.delete(key);
    this.bodies.set(key, body);
    this.bytes += body.length;
    while (this.bytes > this.maxBytes) {
      const { key, value } = this.bodies.oldest() as { key: K; value: Uint8Array };
      this.bodies.delete(key);
      this.bytes -= value.length;
    }
  }

  get(key: K): Uint8Array | undefined {
    return this.bodies.get(key);
  }

  delete(key: K): void {
    const body = this.bodies.get(key);
    if (body === undefined) return;
    this.bodies.delete(key);
    this.bytes -= body.length;
  }
}
