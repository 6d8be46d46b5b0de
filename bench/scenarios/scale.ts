import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';
import { ed25519FromSeed, KEY_BYTES } from '../../extension/wire/primitives';
import { benchEntry, forkBenchChild } from '../child-process';
import { cpuMs, type ChildKind, type FromChild, type ToChild } from '../scale-child';
import { simulatedPeerAddress } from '../sim-peer';
import { inBatches, startSimulatedPeers } from '../sim-threads';
import { nowMs } from '../stats';

/**
 * One process under measurement (a node, or a plain ws server for the
 * baseline) and `peerCount` peers simulated in this process, brought up
 * `concurrency` at a time, each from a loopback address of its own (so the
 * node runs with its default limits, which are per address). The node
 * trusts every peer before it starts, as after pairing. A simulated peer
 * answers each batch as a node would on the wire (checks the signature,
 * returns a signed receipt saying every message is stored) but keeps
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

/**
 * The node's peers are simulated on `simulatorThreads` worker threads (see
 * sim-threads.ts); the plain ws clients of the baseline cost little and
 * run on this thread.
 */
export async function scaleRun(kind: ChildKind, peerCount: number, concurrency: number, simulatorThreads: number): Promise<ScaleRun> {
  const seeds = Array.from({ length: peerCount }, () => new Uint8Array(randomBytes(KEY_BYTES)));
  const child = forkBenchChild(kind);
  try {
    const start: ToChild = { kind: 'start', peers: seeds.map((seed) => Buffer.from(ed25519FromSeed(seed).publicKey).toString('base64')) };
    child.send(start);
    const ready = await expect(child, 'ready');
    const peers = kind === 'p2p-node' ? await startSimulatedPeers(benchEntry(), ready.address, Buffer.from(ready.publicKey, 'base64'), seeds, simulatorThreads, concurrency) : null;
    const began = nowMs();
    // The whole process: every thread's CPU time.
    const simulatorCpu = process.cpuUsage();
    const closeWsClients = peers === null ? await inBatches(seeds, concurrency, (_seed, index) => connectWsClient(ready.address, simulatedPeerAddress(index))) : [];
    await peers?.connect();
    const connectsPerSecond = peerCount / ((nowMs() - began) / 1000);
    const simulatorCpuPerConnectUs = (1000 * cpuMs(process.cpuUsage(simulatorCpu))) / peerCount;
    child.send({ kind: 'fan-out' } satisfies ToChild);
    const done = await expect(child, 'done');
    for (const close of closeWsClients) close();
    await peers?.close();
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

/** A plain client that echoes what the server sends, standing for the ack. */
async function connectWsClient(address: string, localAddress: string): Promise<() => void> {
  const client = new WebSocket(`ws://${address}/`, { perMessageDeflate: false, localAddress });
  await once(client, 'open');
  client.on('message', (data: Buffer) => client.send(data, { binary: true }));
  return () => client.terminate();
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
