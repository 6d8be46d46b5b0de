import { wsThroughput } from '../baseline-ws';
import { forkBenchChild, nextFromChild, nextFromParent, sendToParent } from '../child-process';
import { startConnectedPair, until, type BenchNode } from '../p2p-node';
import { peakRssMb, rssMb } from '../process-memory';
import { profiled } from '../profile';
import { repeat, timedWindow } from '../stats';

/**
 * One-way throughput between two nodes in this process, both with the
 * default configuration: each message is signed, sealed, stored durably by
 * the sender (outbox) and by the receiver (inbox), and counted when the
 * receiver's inbox emits 'stored'; the receiving agent reads and
 * acknowledges as it goes. At most `window` messages are sent and not yet
 * stored at the receiver, so the run measures steady state instead of a
 * growing queue.
 */

export interface ThroughputRun {
  messagesPerSecond: number;
  /** Payload bytes per second, 1 MB = 10^6 bytes. */
  megabytesPerSecond: number;
  /** CPU time of this process (both nodes) per message stored, user and system. */
  cpuUsPerMessage: number;
}

export async function p2pThroughput(payloadBytes: number, window: number, durationMs: number): Promise<ThroughputRun> {
  const pair = await startConnectedPair();
  const { a, b } = pair;
  const peer = b.identity.peerId;
  const reader = readAndAck(b, a.identity.peerId);
  const content = 'x'.repeat(payloadBytes);
  let issued = 0;
  let stored = 0;
  let running = true;
  let failure: unknown = null;
  const refill = (): void => {
    while (running && issued - stored < window) {
      issued += 1;
      a.messenger.send({ peer, type: 'text', content, correlationId: null, ttlSeconds: null }).catch((error: unknown) => {
        failure ??= error;
      });
    }
  };
  b.inbox.on('stored', () => {
    stored += 1;
    refill();
  });
  const run = await timedWindow(durationMs, refill, () => stored);
  running = false;
  // Let the window drain (stored, acked, recorded) so that closing interrupts nothing.
  await until(() => failure !== null || a.events.delivered >= issued, 'the last messages to be delivered', 10_000);
  await reader.stop();
  const refused = b.refusals.snapshot().network;
  await pair.close();
  if (failure !== null) throw failure;
  if (Object.keys(refused).some((reason) => reason.startsWith('message_'))) {
    throw new Error(`the receiver refused or deferred messages during the run: ${JSON.stringify(refused)}`);
  }
  return {
    messagesPerSecond: run.perSecond,
    megabytesPerSecond: (run.perSecond * payloadBytes) / 1e6,
    cpuUsPerMessage: run.cpuUsPerMessage,
  };
}

/**
 * The receiving agent: reads what is stored and acknowledges it, as a
 * plugin does, so that the receiver runs with its default limits (an inbox
 * of 1,000 unread messages per peer) like any node.
 */
export function readAndAck(node: BenchNode, from: string): { stop(): Promise<void> } {
  let reading = true;
  const loop = (async (): Promise<void> => {
    let cursor = 0;
    while (reading) {
      const messages = await node.messenger.receive(from, cursor, 1000, 50);
      const last = messages[messages.length - 1];
      if (last === undefined) continue;
      cursor = last.cursor;
      await node.messenger.ack(from, cursor);
    }
  })();
  return {
    stop: async () => {
      reading = false;
      await loop;
    },
  };
}

/** What the parent asks the throughput child (`--bench-child=throughput`) to run: a warm-up, then `repetitions` timed runs. */
export interface ThroughputJob {
  /** Two p2p-comm nodes, or the raw ws baseline: a client and a server. */
  implementation: 'p2p-comm' | 'ws';
  payloadBytes: number;
  window: number;
  warmUpMs: number;
  durationMs: number;
  repetitions: number;
  /** Where to write a CPU profile of the timed runs, when the bench profiles. */
  profilePath: string | null;
}

export interface ThroughputReport {
  runs: ThroughputRun[];
  /** The child's resident memory after its last run (both ends closed), and its high-water mark. */
  rssAfterMb: number;
  peakRssMb: number;
  /** The profile's hottest functions, when one was asked for. */
  hottest: string[];
}

/**
 * Runs a throughput job in a fresh process, so that the memory it reports
 * is what these runs left behind, not what earlier sections of the bench
 * did.
 */
export async function throughputInChild(job: ThroughputJob): Promise<ThroughputReport> {
  const child = forkBenchChild('throughput');
  try {
    child.send(job);
    return (await nextFromChild(child, 'throughput')) as ThroughputReport;
  } finally {
    child.kill('SIGKILL');
  }
}

/** The throughput child: one job, its report, then exit. */
export async function runThroughputChild(): Promise<void> {
  const job = (await nextFromParent()) as ThroughputJob;
  const once = async (durationMs: number): Promise<ThroughputRun> => {
    if (job.implementation === 'p2p-comm') return p2pThroughput(job.payloadBytes, job.window, durationMs);
    const run = await wsThroughput(job.payloadBytes, job.window, durationMs);
    return { ...run, megabytesPerSecond: (run.messagesPerSecond * job.payloadBytes) / 1e6 };
  };
  // Warms the JIT up: the first run of a fresh process is slower.
  await once(job.warmUpMs);
  const measure = (): Promise<ThroughputRun[]> => repeat(job.repetitions, () => once(job.durationMs));
  let runs: ThroughputRun[];
  let hottest: string[] = [];
  if (job.profilePath === null) {
    runs = await measure();
  } else {
    const profiledRuns = await profiled(job.profilePath, measure);
    runs = profiledRuns.result;
    hottest = profiledRuns.hottest;
  }
  sendToParent({ runs, rssAfterMb: rssMb(), peakRssMb: peakRssMb(), hottest } satisfies ThroughputReport);
}
