import { randomBytes } from 'node:crypto';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { MSG_RECEIPT } from '../../extension/wire/session-messages';
import { signedBatches } from '../../test/helpers/batches';
import { flood, fromList, junkBatch } from '../../test/helpers/flooder';
import { reconnectRawPeer, throwawayIdentity, type RawSessionPeer } from '../../test/helpers/raw-peer';
import { forkBenchChild, nextFromChild, nextFromParent, sendToParent } from '../child-process';
import { nowMs, percentile } from '../stats';
import { eventually, startHostedNode } from './stdio';

/**
 * The node's answers to its host while a paired peer floods it as fast as
 * it can. The node is the built binary under a Nexus-style host (the bench
 * process), which calls `status` one after another and answers the node's
 * event.publish requests; the flooder is a separate process, so neither
 * side's measurements include the other's work. Two floods:
 *
 * - valid: batches of one message signed in advance, each of which the
 *   node must check and store (its inbox is made large enough never to
 *   defer). The rate is what the node stored per second, receipted.
 * - junk: batches of one message naming another recipient, refused before
 *   any hash (flooder.ts, junkBatch). The node cuts the session off
 *   past its refusal budget and keeps the flooder away; the flooder keeps
 *   trying to reconnect until the run ends. The rate is frames per second
 *   until the cut.
 *
 * Messages over the IPC channel:
 *
 *   parent → child  {kind: 'start', address, peer}
 *   child → parent  {kind: 'requested', requestId, peer}      (a pairing request, which the parent accepts)
 *   parent → child  {kind: 'flood', mode, ms}
 *   child → parent  {kind: 'flooding'}                        (ready: the clock starts)
 *   child → parent  {kind: 'done', perSecond, sent, cutOff, reconnects}
 */
export type FloodMode = 'valid' | 'junk';

type ToFlooder = { kind: 'start'; address: string; peer: string } | { kind: 'flood'; mode: FloodMode; ms: number };
type FromFlooder =
  | { kind: 'requested'; requestId: string; peer: string }
  | { kind: 'flooding' }
  | { kind: 'done'; perSecond: number; sent: number; cutOff: boolean; reconnects: number };

export interface FloodRun {
  /** Valid: messages stored per second; junk: frames per second until the node cut the session. */
  floodPerSecond: number;
  statusCalls: number;
  statusP50Ms: number;
  statusP99Ms: number;
  statusMaxMs: number;
  cutOff: boolean;
  reconnects: number;
}

const SESSION_OPTIONS = { handshakeTimeoutMs: 10_000, maxMessagesPerKey: 2 ** 32, keepaliveIntervalMs: 60_000 };
/** Enough signed batches to keep the node busy for the whole valid run. */
const VALID_MESSAGES_PER_SECOND = 16_000;

export async function floodRun(mode: FloodMode, ms: number): Promise<FloodRun> {
  // Harder than the default, never easier: the inbox takes every valid message (none is deferred once 1,000 wait unread),
  // so each is checked and stored while the calls are timed.
  const bob = await startHostedNode('flooded', { P2P_COMM_INBOX_MAX_MESSAGES: '1000000' });
  const child = forkBenchChild('flooder');
  try {
    const identity = await eventually(async () => {
      const answer = await bob.call('identity');
      return answer['link'] === null ? null : answer;
    }, 'the node to listen');
    const address = ((await bob.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
    child.send({ kind: 'start', address, peer: identity['peer_id'] as string } satisfies ToFlooder);
    const requested = (await nextFromChild(child, 'flooder')) as Extract<FromFlooder, { kind: 'requested' }>;
    await bob.call('accept', { request_id: requested.requestId, peer: requested.peer });
    child.send({ kind: 'flood', mode, ms } satisfies ToFlooder);
    await nextFromChild(child, 'flooder');
    const done = nextFromChild(child, 'flooder') as Promise<Extract<FromFlooder, { kind: 'done' }>>;
    let finished = false;
    void done.then(() => (finished = true));
    const times: number[] = [];
    while (!finished) {
      const start = nowMs();
      await bob.call('status');
      times.push(nowMs() - start);
    }
    const report = await done;
    return {
      floodPerSecond: report.perSecond,
      statusCalls: times.length,
      statusP50Ms: percentile(times, 50),
      statusP99Ms: percentile(times, 99),
      statusMaxMs: Math.max(...times),
      cutOff: report.cutOff,
      reconnects: report.reconnects,
    };
  } finally {
    child.kill();
    await bob.stop();
  }
}

/** The flooder process (`--bench-child=flooder`): asks to pair, then floods once accepted. */
export async function runFloodChild(): Promise<void> {
  const start = (await nextFromParent()) as Extract<ToFlooder, { kind: 'start' }>;
  const nodeKey = publicKeyFromPeerId(start.peer);
  const identity = throwawayIdentity();
  const requestId = randomBytes(16);
  const request = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(requestId), listenPort: 0, displayName: 'flooder' } as const;
  await initiateChannel(await dial(start.address, DEFAULT_TRANSPORT_LIMITS), identity, nodeKey, request, start.address, SESSION_OPTIONS);
  sendToParent({ kind: 'requested', requestId: requestId.toString('hex'), peer: peerIdFromPublicKey(identity.publicKey) } satisfies FromFlooder);
  const order = (await nextFromParent()) as Extract<ToFlooder, { kind: 'flood' }>;
  const connect = (): Promise<RawSessionPeer> => reconnectRawPeer(start.address, start.peer, identity);
  const peer = await connect();
  // Signed before the clock starts: the flood measures the node, not the flooder's signing.
  const batches = order.mode === 'valid' ? signedBatches(identity, nodeKey, Math.ceil((VALID_MESSAGES_PER_SECOND * order.ms) / 1000)) : [];
  sendToParent({ kind: 'flooding' } satisfies FromFlooder);
  const began = nowMs();
  const timeUp = new Promise<void>((resolve) => setTimeout(resolve, order.ms));
  if (order.mode === 'valid') {
    const stored = countStored(peer);
    const report = await flood(peer, fromList(batches), timeUp);
    // The batches are soon all in flight (socket buffers hold thousands); the node works through them until the time is up.
    await timeUp;
    sendToParent({ kind: 'done', perSecond: stored.count / ((nowMs() - began) / 1000), sent: report.sent, cutOff: report.closedByNode, reconnects: 0 } satisfies FromFlooder);
  } else {
    const report = await flood(peer, junkBatch, timeUp);
    // Cut off, the flooder keeps knocking until the run is over: each attempt is a handshake the node must refuse.
    let reconnects = 0;
    let timedOut = false;
    void timeUp.then(() => (timedOut = true));
    while (!timedOut) {
      reconnects += 1;
      try {
        (await connect()).channel.close();
      } catch {
        // Refused or not let in: what the node is meant to do.
      }
    }
    sendToParent({ kind: 'done', perSecond: report.perSecond, sent: report.sent, cutOff: report.closedByNode, reconnects } satisfies FromFlooder);
  }
  process.exit(0);
}

/**
 * Counts the messages the node receipted as stored (its batches hold one
 * each: the batches covered, less the exceptions); the flooder does not
 * verify the receipts, to spend its time flooding.
 */
function countStored(peer: RawSessionPeer): { count: number } {
  const stored = { count: 0 };
  void (async () => {
    for (;;) {
      const [type, body] = await peer.next();
      if (type !== MSG_RECEIPT) continue;
      const receipt = Buffer.from(body);
      stored.count += receipt.readUInt32BE(4) - receipt.readUInt32BE(0) + 1 - receipt.readUInt16BE(8);
    }
  })();
  return stored;
}
