/**
 * Runs tasks one at a time, in the order they were queued. Nexus takes the
 * next response line as the answer to the call it has in flight, so answers
 * must leave in request order even when a second request arrives while the
 * first awaits the host (see HOST_PROTOCOL.md, Concurrency).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
