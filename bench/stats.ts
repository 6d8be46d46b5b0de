/** Summaries of repeated measurements: the median is the figure, min and max show the spread. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('cannot summarize zero samples');
  return { median: percentile(samples, 50), min: Math.min(...samples), max: Math.max(...samples) };
}

/** Nearest-rank percentile, interpolated between the two middle values for the median of an even count. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (p === 50 && sorted.length % 2 === 0) {
    return ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  }
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Runs `measure` `count` times, one after another, and collects what each run returned. */
export async function repeat<T>(count: number, measure: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let index = 0; index < count; index += 1) results.push(await measure(index));
  return results;
}

/** Milliseconds since an arbitrary origin, sub-millisecond precision. */
export function nowMs(): number {
  return performance.now();
}

/**
 * A windowed throughput run: `start` fills the window (later refills come
 * from the caller's own events), the run lasts `durationMs`, and `count`
 * says how many messages had arrived when it ended.
 */
export async function timedWindow(durationMs: number, start: () => void, count: () => number): Promise<{ perSecond: number; cpuUsPerMessage: number }> {
  const begin = nowMs();
  const cpuBefore = process.cpuUsage();
  start();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const counted = count();
  const elapsedS = (nowMs() - begin) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond: counted / elapsedS, cpuUsPerMessage: (cpu.user + cpu.system) / counted };
}
