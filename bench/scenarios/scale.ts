import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { AckReason, AckStatus, signAck } from '../../extension/wire/ack';
import { decodeEnvelope, verifyEnvelope } from '../../extension/wire/envelope';
import type { StaticIdentity } from '../../extension/wire/handshake';
import type { SecureChannel } from '../../extension/wire/secure-channel';
import { MSG_ACK, MSG_ENVELOPE } from '../../extension/wire/session-messages';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { cpuMs, type ChildKind, type FromChild, type ToChild } from '../scale-child';
import { openSession, simulatedIdentity, simulatedPeerAddress } from '../sim-peer';
import { nowMs } from '../stats';

/**
 * One process under measurement (a node, or a plain ws server for the
 * baseline) and `peerCount` peers simulated in this process, brought up
 * `concurrency` at a time, each from a loopback address of its own (so the
 * node runs with its default limits, which are per address). The node
 * trusts every peer before it starts, as after pairing. A simulated peer answers each envelope as a node would on
 * the wire (checks the signature, returns a signed "stored" ack) but keeps
 * nothing on disk.
 */
export interface ScaleRun {
  /** Connections (handshakes for the node) per second while bringing all of them up. */
  connectsPerSecond: number;
  /**
   * CPU time per connection while bringing them up, of the process under
   * measurement and of the simulated peers: on a machine of few cores the
   * two compete, and the rate is the node's own only while the simulation
   * costs less than the node.
   */
  childCpuPerConnectUs: number;
  simulatorCpuPerConnectUs: number;
  /** One 256 B message to every peer: messages per second until the last is acknowledged. */
  fanOutPerSecond: number;
  peakRssMb: number;
  idleRssMb: number;
  rssMb: number;
}

const MAX_PAYLOAD_BYTES = 1024 * 1024;

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
    const simulatorCpu = process.cpuUsage();
    const connections =
      kind === 'p2p-node'
        ? await inBatches(identities, concurrency, (identity, index) => connectPeer(ready.address, identity, Buffer.from(ready.publicKey, 'base64'), simulatedPeerAddress(index)))
        : await inBatches(identities, concurrency, (_identity, index) => connectWsClient(ready.address, simulatedPeerAddress(index)));
    const connectsPerSecond = peerCount / ((nowMs() - began) / 1000);
    const simulatorCpuPerConnectUs = (1000 * cpuMs(process.cpuUsage(simulatorCpu))) / peerCount;
    child.send({ kind: 'fan-out' } satisfies ToChild);
    const done = await expect(child, 'done');
    for (const close of connections) close();
    await stop(child);
    return {
      connectsPerSecond,
      childCpuPerConnectUs: (1000 * done.connectCpuMs) / peerCount,
      simulatorCpuPerConnectUs,
      fanOutPerSecond: done.fanOutPerSecond,
      peakRssMb: done.peakRssMb,
      idleRssMb: ready.idleRssMb,
      rssMb: done.rssMb,
    };
  } finally {
    // Whatever failed, the child does not outlive the run (a no-op once it has exited).
    child.kill('SIGKILL');
  }
}

/** A session with the node; each envelope on it is verified and acknowledged as stored. Returns how to close it. */
async function connectPeer(address: string, identity: StaticIdentity, nodeKey: Uint8Array, localAddress: string): Promise<() => void> {
  const channel: SecureChannel = await openSession(address, identity, nodeKey, DEFAULT_TRANSPORT_LIMITS, localAddress);
  channel.setMessageHandler((type, body) => {
    if (type !== MSG_ENVELOPE) return;
    const envelope = decodeEnvelope(body, MAX_PAYLOAD_BYTES);
    if (!verifyEnvelope(envelope)) throw new Error('the node sent an envelope whose signature does not verify');
    channel.send(MSG_ACK, signAck({ messageId: envelope.messageId, status: AckStatus.STORED, reason: AckReason.NONE }, identity, envelope.sender));
  });
  return () => channel.close();
}

/** A plain client that echoes what the server sends, standing for the ack. */
async function connectWsClient(address: string, localAddress: string): Promise<() => void> {
  const client = new WebSocket(`ws://${address}/`, { perMessageDeflate: false, localAddress });
  await once(client, 'open');
  client.on('message', (data: Buffer) => client.send(data, { binary: true }));
  return () => client.terminate();
}

/** Runs `task` for every item, at most `concurrency` at once; results in item order. */
async function inBatches<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await task(items[index] as T, index);
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
