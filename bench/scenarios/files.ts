import { randomBytes } from 'node:crypto';
import { linkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { StoredMessage } from '../../extension/store/inbox';
import { forkBenchChild, nextFromChild, nextFromParent, sendToParent } from '../child-process';
import { startBenchNode, until, type BenchNode } from '../p2p-node';
import { peakRssMb, rssMb } from '../process-memory';
import { profiled } from '../profile';
import { nowMs, percentile } from '../stats';
import { readAndAck } from './throughput';

/**
 * One file from node A to node B over loopback, each node in a process of
 * its own (the sender's hashing, reading and signing and the receiver's
 * writing, fsync and verifying do not share one event loop), while A sends
 * B a short text message at a steady pace. What it measures:
 *
 * - the time A takes to hash the file before it can offer it;
 * - MB/s from B's accept to B's `p2p.file.received` (every chunk stored in
 *   B's inbox, written to the part file, fsync'd, the whole file hashed and
 *   linked into incoming/);
 * - send → stored at B for the messages sent during that time, beside the
 *   same stream before the offer (idle);
 * - the peak resident memory of both processes.
 *
 * Times cross processes, so they are read on CLOCK_MONOTONIC
 * (process.hrtime), which every process of the machine shares.
 */

export interface FilesJob {
  /** The file to send, written once by `writeRandomFile` and hard-linked into A's files/outgoing. */
  sourcePath: string;
  size: number;
  /** Messages sent before the offer, for the idle figures. */
  idleMessages: number;
  messageBytes: number;
  messageIntervalMs: number;
  /** Where each node's process writes its CPU profile, when the bench profiles. */
  profilePaths: { sender: string; receiver: string } | null;
}

export interface MessageLatency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
}

export interface NodeMemory {
  /** Resident memory just before the transfer (the node started, paired, idle messages exchanged). */
  rssBeforeMb: number;
  /** The process's high-water mark (VmHWM) once the transfer is over. */
  peakRssMb: number;
}

export interface FilesRun {
  hashMs: number;
  transferMs: number;
  megabytesPerSecond: number;
  idle: MessageLatency;
  duringTransfer: MessageLatency;
  sender: NodeMemory;
  receiver: NodeMemory;
  hottest: { sender: string[]; receiver: string[] };
}

const WRITE_BYTES = 4 * 1024 * 1024;
const SOURCE_NAME = 'bench.bin';
const STEP_TIMEOUT_MS = 120_000;

/** Random bytes written a few MiB at a time: the file is never held in memory. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    for (let written = 0; written < size; ) {
      const part = randomBytes(Math.min(WRITE_BYTES, size - written));
      await handle.write(part, 0, part.length, written);
      written += part.length;
    }
  } finally {
    await handle.close();
  }
}

/** One run: two fresh node processes, paired, the idle stream, the transfer with its stream, both closed. */
export async function filesRun(job: FilesJob): Promise<FilesRun> {
  const sender = new NodeChild('sender');
  const receiver = new NodeChild('receiver');
  try {
    const [a, b] = await Promise.all([
      sender.ask<Card>({ do: 'start', name: 'bench a', profilePath: job.profilePaths?.sender ?? null }),
      receiver.ask<Card>({ do: 'start', name: 'bench b', profilePath: job.profilePaths?.receiver ?? null }),
    ]);
    await receiver.ask({ do: 'pair', peer: a, dial: false });
    await sender.ask({ do: 'pair', peer: b, dial: true });
    await receiver.ask({ do: 'listen', peerId: a.peerId });
    const stream = { do: 'stream', peerId: b.peerId, bytes: job.messageBytes, intervalMs: job.messageIntervalMs } as const;
    const idleSends = await sender.ask<Send[]>({ ...stream, count: job.idleMessages });

    const offer = await sender.ask<{ transferId: string; hashMs: number; rssBeforeMb: number }>({ do: 'offer', peerId: b.peerId, sourcePath: job.sourcePath });
    await sender.ask({ ...stream, count: null });
    const received = await receiver.ask<{ acceptedAtMs: number; receivedAtMs: number; rssBeforeMb: number }>({ do: 'accept', peerId: a.peerId, transferId: offer.transferId });
    const transferSends = await sender.ask<Send[]>({ do: 'stop' });
    await sender.ask({ do: 'finish', peerId: b.peerId, transferId: offer.transferId });
    const storedAt = await receiver.ask<Record<string, number>>({ do: 'stored', messageIds: [...idleSends, ...transferSends].map((send) => send.messageId) });

    const during = transferSends.filter((send) => send.sentAtMs >= received.acceptedAtMs && send.sentAtMs <= received.receivedAtMs);
    // The sender closes first: the receiver then stores what is already on its socket before its own stores close.
    const senderEnd = await sender.ask<{ peakRssMb: number; hottest: string[] }>({ do: 'close' });
    const receiverEnd = await receiver.ask<{ peakRssMb: number; hottest: string[] }>({ do: 'close' });
    const transferMs = received.receivedAtMs - received.acceptedAtMs;
    return {
      hashMs: offer.hashMs,
      transferMs,
      megabytesPerSecond: job.size / 1e6 / (transferMs / 1000),
      idle: latencyOf(idleSends, storedAt),
      duringTransfer: latencyOf(during, storedAt),
      sender: { rssBeforeMb: offer.rssBeforeMb, peakRssMb: senderEnd.peakRssMb },
      receiver: { rssBeforeMb: received.rssBeforeMb, peakRssMb: receiverEnd.peakRssMb },
      hottest: { sender: senderEnd.hottest, receiver: receiverEnd.hottest },
    };
  } finally {
    sender.kill();
    receiver.kill();
  }
}

function latencyOf(sends: readonly Send[], storedAt: Record<string, number>): MessageLatency {
  if (sends.length === 0) throw new Error('no message was sent in the interval measured');
  const times = sends.map((send) => {
    const stored = storedAt[send.messageId];
    if (stored === undefined) throw new Error(`message ${send.messageId} was not stored at the receiver`);
    return stored - send.sentAtMs;
  });
  return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: Math.max(...times), count: times.length };
}

/** What one node process tells the other about itself, as a pairing would. */
interface Card {
  peerId: string;
  publicKey: number[];
  address: string;
}

interface Send {
  messageId: string;
  /** CLOCK_MONOTONIC, ms, just before `send` was called. */
  sentAtMs: number;
}

type NodeCommand =
  | { do: 'start'; name: string; profilePath: string | null }
  | { do: 'pair'; peer: Card; dial: boolean }
  | { do: 'listen'; peerId: string }
  /** `count` messages, answered once all are sent; or, with null, answered at once and sent until `stop`. */
  | { do: 'stream'; peerId: string; bytes: number; intervalMs: number; count: number | null }
  | { do: 'stop' }
  | { do: 'offer'; peerId: string; sourcePath: string }
  | { do: 'accept'; peerId: string; transferId: string }
  | { do: 'finish'; peerId: string; transferId: string }
  | { do: 'stored'; messageIds: string[] }
  | { do: 'close' };

/** The parent's handle on one node process: one command at a time, one answer each. */
class NodeChild {
  private readonly child: ChildProcess;

  constructor(private readonly role: string) {
    this.child = forkBenchChild('files-node');
  }

  async ask<T = unknown>(command: NodeCommand): Promise<T> {
    this.child.send(command);
    const answer = (await nextFromChild(this.child, `files ${this.role}`)) as { ok: T } | { error: string };
    if ('error' in answer) throw new Error(`the files ${this.role} failed: ${answer.error}`);
    return answer.ok;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The node process (`--bench-child=files-node`): a node with its file service started, driven by the parent's commands. */
export async function runFilesNodeChild(): Promise<void> {
  const start = (await nextFromParent()) as NodeCommand;
  if (start.do !== 'start') throw new Error(`the first command must be start, not ${start.do}`);
  const node = await startBenchNode(start.name, { startFiles: true });
  // The answer to start goes once the profiler (if any) runs, and just before the loop that takes the next command.
  const serve = (): Promise<number> => {
    sendToParent({ ok: { peerId: node.identity.peerId, publicKey: [...node.identity.publicKey], address: node.address() } satisfies Card });
    return serveCommands(node);
  };
  let hottest: string[] = [];
  let peak: number;
  if (start.profilePath === null) {
    peak = await serve();
  } else {
    const run = await profiled(start.profilePath, serve);
    peak = run.result;
    hottest = run.hottest;
  }
  sendToParent({ ok: { peakRssMb: peak, hottest } });
}

/** Answers commands until `close`; returns the peak RSS once the node is closed. */
async function serveCommands(node: BenchNode): Promise<number> {
  const storedAt = new Map<string, number>();
  let reader: { stop(): Promise<void> } | null = null;
  let stream: Stream | null = null;
  for (;;) {
    const command = (await nextFromParent()) as NodeCommand;
    try {
      switch (command.do) {
        case 'start':
          throw new Error('the node is already started');
        case 'pair':
          node.trust.trust({ publicKey: Uint8Array.from(command.peer.publicKey), displayName: 'bench peer', addresses: [command.peer.address] });
          if (command.dial) {
            const outcome = await node.network.attemptNow(command.peer.peerId);
            if (outcome !== 'connected') throw new Error(`the nodes did not connect: ${outcome}`);
          }
          sendToParent({ ok: null });
          break;
        case 'listen': {
          const from = command.peerId;
          await until(() => node.network.isOnline(from), 'the session', STEP_TIMEOUT_MS);
          node.inbox.on('stored', (message: StoredMessage) => {
            if (message.type === 'text') storedAt.set(message.messageId, monotonicMs());
          });
          // Read and acked as a plugin would, so the inbox stays within its limit of unread messages.
          reader = readAndAck(node, from);
          sendToParent({ ok: null });
          break;
        }
        case 'stream': {
          const running = new Stream(node, command.peerId, command.bytes, command.intervalMs, command.count);
          if (command.count === null) {
            stream = running;
            sendToParent({ ok: null });
          } else {
            sendToParent({ ok: await running.finished() });
          }
          break;
        }
        case 'stop': {
          if (stream === null) throw new Error('no message stream is running');
          const sends = await stream.stop();
          stream = null;
          sendToParent({ ok: sends });
          break;
        }
        case 'offer': {
          const rssBeforeMb = rssMb();
          linkSync(command.sourcePath, join(node.files.folders.outgoing, SOURCE_NAME));
          const began = nowMs();
          const started = await node.files.sender.sendFromFolder({ peer: command.peerId, path: SOURCE_NAME });
          if (!('transferId' in started)) throw new Error('sendFromFolder started no transfer');
          const { transferId } = started;
          await until(() => {
            const state = node.files.transfers.get(command.peerId, transferId)?.state;
            if (state === 'failed' || state === 'cancelled') throw new Error(`the transfer ended ${state} before it was offered`);
            return state === 'offered';
          }, 'the file to be hashed and offered', STEP_TIMEOUT_MS);
          sendToParent({ ok: { transferId, hashMs: nowMs() - began, rssBeforeMb } });
          break;
        }
        case 'accept': {
          const { peerId, transferId } = command;
          await until(() => node.files.transfers.get(peerId, transferId) !== undefined, 'the offer', STEP_TIMEOUT_MS);
          const ended = node.events.next(
            (event) => (event.type === 'p2p.file.received' || event.type === 'p2p.file.failed') && event.data['transfer_id'] === transferId,
          );
          const rssBeforeMb = rssMb();
          const acceptedAtMs = monotonicMs();
          await node.files.receiver.accept(peerId, transferId);
          const event = await ended;
          const receivedAtMs = monotonicMs();
          if (event.type !== 'p2p.file.received') throw new Error(`the transfer failed: ${String(event.data['reason'])}`);
          sendToParent({ ok: { acceptedAtMs, receivedAtMs, rssBeforeMb } });
          break;
        }
        case 'finish':
          // The sender learns of the receipt through the receiver's `received`: closing before would interrupt it.
          await until(() => node.files.transfers.get(command.peerId, command.transferId)?.state === 'received', 'the sender to learn of the receipt', STEP_TIMEOUT_MS);
          sendToParent({ ok: null });
          break;
        case 'stored': {
          const { messageIds } = command;
          await until(() => messageIds.every((id) => storedAt.has(id)), 'every message to be stored', STEP_TIMEOUT_MS);
          sendToParent({ ok: Object.fromEntries(messageIds.map((id) => [id, storedAt.get(id)])) });
          break;
        }
        case 'close':
          await stream?.stop();
          await reader?.stop();
          await node.close();
          return peakRssMb();
      }
    } catch (error) {
      sendToParent({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  }
}

/** One text message of `bytes` every `intervalMs`, its send time taken just before `send`, as latency.ts does. */
class Stream {
  private readonly sends: Send[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private issued = 0;
  private failure: unknown = null;
  private readonly ended: Promise<void>;
  private end: () => void = () => undefined;

  constructor(node: BenchNode, peer: string, bytes: number, intervalMs: number, private readonly count: number | null) {
    const content = 'x'.repeat(bytes);
    this.ended = new Promise((resolve) => {
      this.end = resolve;
    });
    this.timer = setInterval(() => {
      const sentAtMs = monotonicMs();
      const sending = node.messenger
        .send({ peer, type: 'text', content, correlationId: null, ttlSeconds: null })
        .then(
          ({ messageId }) => {
            this.sends.push({ messageId, sentAtMs });
          },
          (error: unknown) => {
            this.failure ??= error;
          },
        )
        .finally(() => this.pending.delete(sending));
      this.pending.add(sending);
      this.issued += 1;
      if (this.count !== null && this.issued >= this.count) this.halt();
    }, intervalMs);
  }

  /** Resolves once `count` messages are sent. */
  async finished(): Promise<Send[]> {
    await this.ended;
    return this.stop();
  }

  async stop(): Promise<Send[]> {
    this.halt();
    await Promise.all([...this.pending]);
    if (this.failure !== null) throw this.failure;
    return this.sends;
  }

  private halt(): void {
    clearInterval(this.timer);
    this.end();
  }
}
