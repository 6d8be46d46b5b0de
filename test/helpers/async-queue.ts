/** Values pushed by events, taken in order by whoever awaits `next()`. */
export class AsyncQueue<T> {
  private readonly values: T[] = [];
  private readonly waiters: ((value: T) => void)[] = [];

  /** Values pushed and not yet taken. */
  get size(): number {
    return this.values.length;
  }

  push(value: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(value);
    else this.values.push(value);
  }

  next(): Promise<T> {
    if (this.values.length > 0) return Promise.resolve(this.values.shift() as T);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
