/**
 * Counts of input refused, by where it came from and why. `status` reports
 * them so that an operator can see an attack or a misbehaving host without
 * reading logs.
 */
export type RefusalSource = 'rpc' | 'network';

export class RefusalCounters {
  private readonly counts = new Map<RefusalSource, Map<string, number>>();

  count(source: RefusalSource, reason: string): void {
    let bySource = this.counts.get(source);
    if (bySource === undefined) {
      bySource = new Map();
      this.counts.set(source, bySource);
    }
    bySource.set(reason, (bySource.get(reason) ?? 0) + 1);
  }

  get(source: RefusalSource, reason: string): number {
    return this.counts.get(source)?.get(reason) ?? 0;
  }

  snapshot(): Record<RefusalSource, Record<string, number>> {
    return {
      rpc: Object.fromEntries(this.counts.get('rpc') ?? []),
      network: Object.fromEntries(this.counts.get('network') ?? []),
    };
  }
}
