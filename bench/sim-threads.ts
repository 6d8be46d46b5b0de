import { once } from 'node:events';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { StaticIdentity } from '../extension/wire/handshake';
import { MerkleTree } from '../extension/wire/merkle';
import { signReceipt } from '../extension/wire/receipt';
import type { SecureChannel } from '../extension/wire/secure-channel';
import { MSG_BATCH, MSG_RECEIPT } from '../extension/wire/session-messages';
import { checkBatch, decodeBatch } from '../extension/wire/signed-batch';
import { DEFAULT_TRANSPORT_LIMITS } from '../extension/transport/limits';
import { openSession, simulatedIdentity, simulatedPeerAddress } from './sim-peer';

/**
 * The simulated peers of the scale scenario, spread over worker threads:
 * each peer costs its own handshake (a signature, a verification, two
 * X25519), close to what the node spends on it, so peers simulated on one
 * thread would compete with the node for the machine and bound the rate
 * they measure. The bench's own entry point is run again in each thread;
 * `--bench-thread=sim-peers` tells it to play this part.
 *
 *   thread → parent  {kind: 'ready'}         (loaded; nothing is timed before this)
 *   parent → thread  {kind: 'connect'}
 *   thread → parent  {kind: 'connected'}     (every peer of the thread has its session)
 *   parent → thread  {kind: 'close'}
 *   thread → parent  {kind: 'closed'}        (its sessions closed; the parent then ends the thread)
 */
export interface SimulatedPeersWork {
  address: string;
  /** The node's identity key. */
  nodeKey: Uint8Array;
  /** Ed25519 seeds of this thread's peers. */
  seeds: Uint8Array[];
  /** Each peer's index among all simulated peers: it picks the loopback address the peer connects from. */
  indexes: number[];
  /** Sessions this thread brings up at once. */
  concurrency: number;
}

type ToThread = { kind: 'connect' } | { kind: 'close' };
type FromThread = { kind: 'ready' } | { kind: 'connected' } | { kind: 'closed' } | { kind: 'failed'; message: string };

export const SIM_PEERS_THREAD_FLAG = '--bench-thread=sim-peers';

export interface SimulatedPeers {
  /** Brings up every peer's session, `concurrency` at a time in all; resolves once each has its session. */
  connect(): Promise<void>;
  /** Closes every session, then ends the threads. */
  close(): Promise<void>;
}

/** Starts `threads` threads that will simulate the peers of `seeds`; resolves once they are loaded. */
export async function startSimulatedPeers(
  entry: string,
  address: string,
  nodeKey: Uint8Array,
  seeds: readonly Uint8Array[],
  threads: number,
  concurrency: number,
): Promise<SimulatedPeers> {
  const workers = Array.from({ length: threads }, (_, thread) => {
    const indexes = seeds.map((_seed, index) => index).filter((index) => index % threads === thread);
    const work: SimulatedPeersWork = {
      address,
      nodeKey,
      seeds: indexes.map((index) => seeds[index] as Uint8Array),
      indexes,
      concurrency: Math.max(1, Math.round(concurrency / threads)),
    };
    return new Worker(entry, { argv: [SIM_PEERS_THREAD_FLAG], workerData: work });
  });
  const all = async (kind: FromThread['kind'], send?: ToThread): Promise<void> => {
    try {
      await Promise.all(
        workers.map((worker) => {
          const reply = next(worker, kind);
          if (send !== undefined) worker.postMessage(send);
          return reply;
        }),
      );
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
  };
  await all('ready');
  return {
    connect: () => all('connected', { kind: 'connect' }),
    close: async () => {
      await all('closed', { kind: 'close' });
      // The closing handshakes were sent; what is left of them is the node's to see.
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

/** The thread's next message, which must be of `kind`; fails if the thread fails or ends first. */
function next(worker: Worker, kind: FromThread['kind']): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => finish(error);
    const onExit = (code: number): void => finish(new Error(`a simulated-peer thread exited (code ${code}) before "${kind}"`));
    const onMessage = (message: FromThread): void =>
      finish(message.kind === kind ? null : new Error(message.kind === 'failed' ? `simulated peers: ${message.message}` : `a simulated-peer thread said "${message.kind}" instead of "${kind}"`));
    const finish = (error: Error | null): void => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      worker.off('message', onMessage);
      if (error === null) resolve();
      else reject(error);
    };
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.once('message', onMessage);
  });
}

/** The thread's part: connect its peers when asked, answer the node's envelopes, close when asked. */
export async function runSimulatedPeersThread(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('the simulated-peer part runs in a worker thread');
  const work = workerData as SimulatedPeersWork;
  const send = (message: FromThread): void => port.postMessage(message);
  const identities = work.seeds.map((seed) => simulatedIdentity(seed));
  const connectAsked = once(port, 'message');
  send({ kind: 'ready' });
  await connectAsked;
  let channels: SecureChannel[];
  try {
    channels = await inBatches(identities, work.concurrency, (identity, slot) =>
      connectPeer(work.address, identity, work.nodeKey, simulatedPeerAddress(work.indexes[slot] as number)),
    );
  } catch (error) {
    send({ kind: 'failed', message: (error as Error).message });
    return;
  }
  const closeAsked = once(port, 'message');
  send({ kind: 'connected' });
  await closeAsked;
  for (const channel of channels) channel.close();
  send({ kind: 'closed' });
}

/** A session with the node; each batch on it is verified and receipted as stored. */
async function connectPeer(address: string, identity: StaticIdentity, nodeKey: Uint8Array, localAddress: string): Promise<SecureChannel> {
  const channel = await openSession(address, identity, nodeKey, DEFAULT_TRANSPORT_LIMITS, localAddress);
  let position = 0;
  channel.setMessageHandler((type, body) => {
    if (type !== MSG_BATCH) return;
    const { header, leaves } = decodeBatch(body);
    if (checkBatch(header, MerkleTree.fromLeaves(leaves)) !== null) throw new Error('the node sent a batch whose signature does not verify');
    channel.send(MSG_RECEIPT, signReceipt({ firstBatch: position, lastBatch: position, exceptions: [] }, identity, header.sender, channel.sessionId));
    position += 1;
  });
  return channel;
}

/** Runs `task` for every item, at most `concurrency` at once; results in item order. */
export async function inBatches<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await task(items[index] as T, index);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
