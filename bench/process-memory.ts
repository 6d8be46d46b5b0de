import { readFileSync } from 'node:fs';

/** This process's resident memory now, in MiB. */
export function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/**
 * The high-water mark of this process's own memory (VmHWM). Not
 * resourceUsage().maxRSS: Linux carries that across the exec of a forked
 * child, so it would report the parent's RSS at the time of the fork.
 */
export function peakRssMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kilobytes = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kilobytes === undefined) throw new Error('no VmHWM in /proc/self/status: the bench measures RSS on Linux only');
  return Number(kilobytes) / 1024;
}
