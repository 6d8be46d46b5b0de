/**
 * Runs the work given for one peer one piece after another, whether the
 * piece before succeeded or not; different peers do not wait for each
 * other. A transfer's state changes (an answer, a settled chunk, a cancel)
 * then never interleave, and a slow peer holds up only itself.
 */
export class PerPeerLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(peerId: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(peerId) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => undefined);
    this.tails.set(peerId, tail);
    void tail.then(() => {
      if (this.tails.get(peerId) === tail) this.tails.delete(peerId);
    });
    return run;
  }
}
