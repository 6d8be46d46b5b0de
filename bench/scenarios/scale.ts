import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { MerkleTree } from '../../extension/wire/merkle';
import { signReceipt } from '../../extension/wire/receipt';
import type { SecureChannel } from '../../extension/wire/secure-channel';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { checkBatch, decodeBatch } from '../../extension/wire/signed-batch';
import { SCALE_TRANSPORT_LIMITS, type ChildKind, type FromChild, type ToChild } from '../scale-child';
import { openSession, simulatedIdentity } from '../sim-peer';
import { nowMs } from '../stats';

/**
 * One process under measurement (a node, or a plain ws server for the
 * baseline) and `peerCount` peers simulated in this process, brought up
 * `concurrency` at a time. The node trusts every peer before it starts, as
 * after pairing. A simulated peer answers each batch as a node would on
 * the wire (checks the signature, returns a signed receipt saying every
 * message is stored) but keeps nothing on disk.
 */
export interface ScaleRun {
  /** Connections (handshakes for the node) per second while bringing all of them up. */
  connectsPerSecond: number;
  /** One 256 B message to every peer: messages per second until the last is acknowledged. */
  fanOutPerSecond: number;
  peakRssMb: number;
  idleRssMb: number;
  rssMb: number;
}

/** The bench's own entry point, run again as the child; `--bench-child` tells it which part to play. */
function forkScaleChild(kind: ChildKind): ChildProcess {
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot tell which script to fork for the scale child');
  return fork(entry, [`--bench-child=${kind}`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

export async function scaleRun(kind: ChildKind, peerCount: number, concurrency: number): Promise<ScaleRun> {
  const identities = Array.from({ length: peerCount }, () => simulatedIdentity());
  const child = forkScaleChild(kind);
  try {
    const start: ToChild = { kind: 'start', peers: identities.map((identity) => Buffer.from(identity.publicKey).toString('base64')) };
    child.send(start);
    const ready = await expect(child, 'ready');
    const began = nowMs();
    const connections =
      kind === 'p2p-node'
        ? await inBatches(identities, concurrency, (identity) => connectPeer(ready.address, identity, Buffer.from(ready.publicKey, 'base64')))
        : await inBatches(identities, concurrency, () => connectWsClient(ready.address));
    const connectsPerSecond = peerCount / ((nowMs() - began) / 1000);
    child.send({ kind: 'fan-out' } satisfies ToChild);
    const done = await expect(child, 'done');
    for (const close of connections) close();
    await stop(child);
    return { connectsPerSecond, fanOutPerSecond: done.fanOutPerSecond, peakRssMb: done.peakRssMb, idleRssMb: ready.idleRssMb, rssMb: done.rssMb };
  } finally {
    // Whatever failed, the child does not outlive the run (a no-op once it has exited).
    child.kill('SIGKILL');
  }
}

/** A session with the node; each batch on it is verified and receipted as stored. Returns how to close it. */
async function connectPeer(address: string, identity: StaticIdentity, nodeKey: Uint8Array): Promise<() => void> {
  const channel: SecureChannel = await openSession(address, identity, nodeKey, SCALE_TRANSPORT_LIMITS);
  let position = 0;
  channel.setMessageHandler((type, body) => {
    if (type !== MSG_BATCH) return;
    const { header, leaves } = decodeBatch(body);
    if (checkBatch(header, MerkleTree.fromLeaves(leaves)) !== null) throw new Error('the node sent a batch whose signature does not verify');
    channel.send(MSG_RECEIPT, signReceipt({ firstBatch: position, lastBatch: position, exceptions: [] }, identity, header.sender, channel.sessionId));
    position += 1;
  });
  return () => channel.close();
}

/** A plain client that echoes what the server sends, standing for the ack. */
async function connectWsClient(address: string): Promise<() => void> {
  const client = new WebSocket(`ws://${address}/`, { perMessageDeflate: false });
  await once(client, 'open');
  client.on('message', (data: Buffer) => client.send(data, { binary: true }));
  return () => client.terminate();
}

/** Runs `task` for every item, at most `concurrency` at once; results in item order. */
async function inBatches<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await task(items[index] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** Asks the child to exit (so that a --cpu-prof run writes its profile); killed if it takes too long. */
async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.send({ kind: 'stop' } satisfies ToChild);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The child's next message, which must be of `kind`; fails if the child exits first. */
function expect<K extends FromChild['kind']>(child: ChildProcess, kind: K): Promise<Extract<FromChild, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the scale child exited (code ${String(code)}) before "${kind}"`));
    child.once('exit', onExit);
    child.once('message', (message: FromChild) => {
      child.off('exit', onExit);
      if (message.kind === kind) resolve(message as Extract<FromChild, { kind: K }>);
      else reject(new Error(`the scale child said "${message.kind}" instead of "${kind}"`));
    });
  });
}
