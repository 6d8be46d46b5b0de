import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { type MessagingConfig } from '../../extension/config';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { EventOutbox } from '../../extension/events/outbox';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import { RefusalCounters } from '../../extension/metrics/refusals';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { InboxStore } from '../../extension/store/inbox';
import { OutboxStore } from '../../extension/store/outbox';
import { TrustStore } from '../../extension/trust/trust-store';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { MerkleTree } from '../../extension/wire/merkle';
import type { MessageType } from '../../extension/wire/message-leaf';
import { type Receipt, signReceipt } from '../../extension/wire/receipt';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { checkBatch, decodeBatch, type SignedBatch } from '../../extension/wire/signed-batch';
import { AsyncQueue } from './async-queue';
import { tempDir } from './extension';
import { testMessenger } from './messenger';
import { throwawayIdentity } from './raw-peer';

/**
 * The sending side of a Messenger on real stores, with one peer whose
 * session is stood in for: the batches the node sends are checked and
 * collected, and receipts are handed back as the peer would sign them.
 */
export function messengerSender(t: Test, config: Partial<MessagingConfig> = {}, clock: () => number = Date.now) {
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir);
  const trust = TrustStore.open(dir);
  const inbox = InboxStore.open(dir);
  const outbox = OutboxStore.open(dir, {}, clock);
  t.teardown(() => Promise.all([inbox.close(), outbox.close()]));
  const peer = throwawayIdentity();
  const peerId = peerIdFromPublicKey(peer.publicKey);
  trust.trust({ publicKey: peer.publicKey, displayName: 'peer', addresses: [] });
  const batches = new AsyncQueue<SignedBatch>();
  const refusals = new RefusalCounters();
  let session: Uint8Array | null = null;
  const batchSizes: number[] = [];
  const network = {
    sendTo(_peerId: string, type: number, parts: Uint8Array | readonly Uint8Array[]): boolean {
      if (type !== MSG_BATCH || session === null) return session !== null;
      const body = Buffer.concat(parts instanceof Uint8Array ? [parts] : parts);
      const batch = decodeBatch(body);
      batchSizes.push(body.length);
      if (checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves)) !== null) throw new Error('the batch does not verify');
      batches.push(batch);
      return true;
    },
    sessionIdOf: () => session,
    isOnline: () => session !== null,
    refuse(_peerId: string, reason: string): void {
      refusals.count('network', reason);
    },
    learnDhtBinding(): void {},
    setSessionListener(): void {},
  } as unknown as PeerNetwork;
  const events = new EventOutbox({ maxQueued: 100, maxQueuedSecurity: 10, tallyIntervalMs: 1000 });
  const messenger = testMessenger({ identity, trust, network, outbox, inbox, events }, 'sender', config);
  t.teardown(() => messenger.close());
  return {
    messenger,
    outbox,
    events,
    refusals,
    nextBatch: () => batches.next(),
    batchesWaiting: () => batches.size,
    /** The size of every batch sent, in order. */
    batchSizes,
    peerId,
    /** The peer's first key: the one its id names. */
    peer,
    trust,
    send: async (content: string) => (await messenger.send({ peer: peerId, type: 'text', content, correlationId: null, ttlSeconds: null })).messageId,
    /** Sends a message of any type, with a TTL if given. */
    sendAs: async (type: MessageType, content: unknown, ttlSeconds: number | null = null) =>
      (await messenger.send({ peer: peerId, type, content, correlationId: null, ttlSeconds })).messageId,
    /** The peer's session opens (a new one each time). */
    connect(): void {
      session = randomBytes(32);
      messenger.opened(peerId);
    },
    disconnect(): void {
      session = null;
      messenger.closed(peerId);
    },
    /** Hands the node a receipt signed by the peer (its first key unless another is given), for the current session unless said otherwise. */
    receipt(receipt: Receipt, forSession = session as Uint8Array, signer: StaticIdentity = peer): void {
      messenger.message(peerId, MSG_RECEIPT, signReceipt(receipt, signer, identity.publicKey, forSession));
    },
    stateOf: (id: string) => messenger.status(id).reportedState,
    reasonOf: (id: string) => messenger.status(id).reason,
  };
}

export const idsOf = (batch: SignedBatch) => batch.leaves.map((leaf) => Buffer.from(leaf.subarray(0, 16)).toString('hex'));

/** Starts the node's timers (the ack timeout, the expiry sweep); they do not hold the process open, so the test does while it runs. */
export function startTimers(t: Test, node: ReturnType<typeof messengerSender>): void {
  node.messenger.start();
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
}
