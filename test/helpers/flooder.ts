import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LEAF_FIXED_BYTES } from '../../extension/wire/message-leaf';
import { MSG_BATCH } from '../../extension/wire/session-messages';
import { encodeBatchHeader, LEAF_LENGTH_BYTES } from '../../extension/wire/signed-batch';
import type { RawSessionPeer } from './raw-peer';

/** What a flood achieved, measured by the flooder. */
export interface FloodReport {
  /** Frames handed to the socket. */
  sent: number;
  ms: number;
  perSecond: number;
  /** The node closed the session (e.g. 4007 for too many refusals) before the flood ran out. */
  closedByNode: boolean;
}

/** Most bytes left waiting in the flooder's socket: it sends whenever the node reads, and never builds an unbounded queue. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Frames sent per turn of the flooder's event loop, so its own timers and the node's answers still run. */
const FRAMES_PER_TURN = 256;

/**
 * Sends batch frames on the peer's session as fast as its socket takes
 * them, until `next` runs out (returns null), `stop` resolves, or the node
 * closes the session.
 */
export async function flood(peer: RawSessionPeer, next: () => Uint8Array | null, stop: Promise<unknown> = new Promise(() => undefined)): Promise<FloodReport> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  let closedByNode = false;
  peer.channel.once('close', () => (closedByNode = !stopped));
  const start = performance.now();
  let sent = 0;
  let exhausted = false;
  while (!stopped && !exhausted && peer.channel.isOpen) {
    if (peer.socket.bufferedAmount >= HIGH_WATER_BYTES) await drained(peer, stop);
    for (let n = 0; n < FRAMES_PER_TURN && peer.socket.bufferedAmount < HIGH_WATER_BYTES; n += 1) {
      const frame = next();
      if (frame === null) {
        exhausted = true;
        break;
      }
      if (!peer.channel.send(MSG_BATCH, frame)) break;
      sent += 1;
    }
    await nextTurn();
  }
  const ms = performance.now() - start;
  return { sent, ms, perSecond: sent / (ms / 1000), closedByNode: closedByNode && !exhausted };
}

/**
 * Waits until the socket has written what it holds (or the flood ends), so
 * that a flooder held back by the node waits instead of spinning. ws keeps
 * the TCP socket to itself; its 'drain' is the one signal for this.
 */
function drained(peer: RawSessionPeer, stop: Promise<unknown>): Promise<unknown> {
  const tcp = (peer.socket as unknown as { _socket: Socket })._socket;
  let done!: () => void;
  const gone = new Promise<void>((resolve) => (done = resolve));
  // 'close' too: a node that resets the connection ends the wait, not the flooder.
  tcp.once('drain', done);
  tcp.once('close', done);
  return Promise.race([gone, stop]).finally(() => {
    tcp.off('drain', done);
    tcp.off('close', done);
  });
}

/**
 * A batch of one message that frames well and is refused at once, for
 * naming another recipient: what a peer sends that costs the node the
 * least (no hash, no signature check) and that it must still answer, in a
 * receipt, and charge.
 */
export function junkBatch(): Uint8Array {
  const header = encodeBatchHeader({ sender: randomBytes(32), recipient: randomBytes(32), time: Date.now(), leafCount: 1, signature: randomBytes(64) });
  const length = Buffer.alloc(LEAF_LENGTH_BYTES);
  length.writeUInt32BE(LEAF_FIXED_BYTES);
  return Buffer.concat([header, length, randomBytes(LEAF_FIXED_BYTES)]);
}

/** Hands out the frames in order, then null. */
export function fromList(frames: readonly Uint8Array[]): () => Uint8Array | null {
  let index = 0;
  return () => frames[index++] ?? null;
}
