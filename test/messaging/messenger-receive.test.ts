import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { DEFAULT_MESSAGING_CONFIG, type MessagingConfig } from '../../extension/config';
import { isValidDisplayName } from '../../extension/common/display-name';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { EventOutbox } from '../../extension/events/outbox';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import type { Logger } from '../../extension/log';
import { Messenger } from '../../extension/messaging/messenger';
import { RefusalCounters } from '../../extension/metrics/refusals';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { type InboxLimits, InboxStore } from '../../extension/store/inbox';
import { OutboxStore } from '../../extension/store/outbox';
import { TrustStore } from '../../extension/trust/trust-store';
import { AckReason, AckStatus, openAck, type Ack } from '../../extension/wire/ack';
import { encodeEnvelope, signEnvelope } from '../../extension/wire/envelope';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { openAckBatch } from '../../extension/wire/ack-batch';
import { encodeHello } from '../../extension/wire/hello';
import { MSG_ACK, MSG_ACK_BATCH, MSG_ENVELOPE, MSG_HELLO } from '../../extension/wire/session-messages';
import { AsyncQueue } from '../helpers/async-queue';
import { tempDir } from '../helpers/extension';
import { throwawayIdentity } from '../helpers/raw-peer';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The receiving side of a Messenger on real stores, its sessions stood in
 * for: envelopes are handed to it as a session would, and the acks it sends
 * back are collected per peer.
 */
function receiver(t: Test, inboxLimits: Partial<InboxLimits> = {}, config: Partial<MessagingConfig> = {}) {
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir);
  const trust = TrustStore.open(dir);
  const inbox = InboxStore.open(dir, inboxLimits);
  const outbox = OutboxStore.open(dir);
  t.teardown(() => Promise.all([inbox.close(), outbox.close()]));
  const acks = new Map<string, AsyncQueue<Ack>>();
  const acksOf = (peerId: string) => {
    let queue = acks.get(peerId);
    if (queue === undefined) {
      queue = new AsyncQueue<Ack>();
      acks.set(peerId, queue);
    }
    return queue;
  };
  const peers = new Map<string, StaticIdentity>();
  const refusals = new RefusalCounters();
  /** The session message types of the answers, in the order sent. */
  const answerTypes: number[] = [];
  const network = {
    sendTo(peerId: string, type: number, body: Uint8Array): boolean {
      const peer = peers.get(peerId);
      if ((type !== MSG_ACK && type !== MSG_ACK_BATCH) || peer === undefined) return true;
      answerTypes.push(type);
      const acks = type === MSG_ACK ? [openAck(body, identity.publicKey, peer.publicKey)] : openAckBatch(body, identity.publicKey, peer.publicKey);
      if (acks === null) throw new Error('the acks do not verify');
      for (const ack of acks) {
        if (ack === null) throw new Error('the ack does not verify');
        acksOf(peerId).push(ack);
      }
      return true;
    },
    refuse(_peerId: string, reason: string): void {
      refusals.count('network', reason);
    },
    learnDhtBinding(): void {},
  } as unknown as PeerNetwork;
  const messenger = new Messenger({
    identity,
    trust,
    network,
    outbox,
    inbox,
    events: new EventOutbox({ maxQueued: 100, maxQueuedSecurity: 10, tallyIntervalMs: 1000 }),
    logger: quiet,
    config: { ...DEFAULT_MESSAGING_CONFIG, ...config },
    hello: () => ({ protocolVersion: 1, agent: 'receiver', capabilities: ['text'], software: 'p2p-comm/test', dhtBinding: null }),
    validAgentName: isValidDisplayName,
  });
  return {
    inbox,
    refusals,
    answerTypes,
    /** A peer this node is paired with; `capabilities`, when given, are named in a hello it sends first. */
    pairedPeer(name: string, capabilities?: string[]) {
      const peer = throwawayIdentity();
      const peerId = peerIdFromPublicKey(peer.publicKey);
      trust.trust({ publicKey: peer.publicKey, displayName: name, addresses: [] });
      peers.set(peerId, peer);
      if (capabilities !== undefined) {
        messenger.message(peerId, MSG_HELLO, encodeHello({ protocolVersion: 1, agent: name, capabilities, software: 'p2p-comm-test/0', dhtBinding: null }));
      }
      return {
        peerId,
        /** Sends a signed text envelope on the peer's session; resolves with the node's ack. */
        send(content: string, messageId: Uint8Array = randomBytes(16)): Promise<Ack> {
          const envelope = signEnvelope(
            {
              messageId,
              sender: peer.publicKey,
              recipient: identity.publicKey,
              timestamp: Date.now(),
              nonce: randomBytes(16),
              type: 'text',
              correlationId: null,
              payload: Buffer.from(content),
            },
            (bytes) => peer.sign(bytes),
          );
          messenger.message(peerId, MSG_ENVELOPE, encodeEnvelope(envelope));
          return acksOf(peerId).next();
        },
      };
    },
  };
}

async function contents(inbox: InboxStore, peerId: string): Promise<string[]> {
  return (await inbox.read(peerId, 0, 100)).map((message) => Buffer.from(message.content).toString('utf8'));
}

t.test("a paired peer reusing another peer's message id neither blocks nor shadows that peer's message", async (t) => {
  const node = receiver(t);
  const mallory = node.pairedPeer('mallory');
  const alice = node.pairedPeer('alice');
  const messageId = randomBytes(16);
  t.match(await mallory.send('taken first', messageId), { status: AckStatus.STORED });
  t.match(await alice.send("alice's own", messageId), { status: AckStatus.STORED, reason: AckReason.NONE }, 'stored, not a duplicate');
  t.same(await contents(node.inbox, alice.peerId), ["alice's own"]);
  t.same(await contents(node.inbox, mallory.peerId), ['taken first']);
  t.match(await alice.send('resent', messageId), { status: AckStatus.DUPLICATE }, "a peer's own resend is a duplicate");
  t.match(await mallory.send('resent', messageId), { status: AckStatus.DUPLICATE });
  t.same(node.inbox.depth(), { messages: 2, bytes: 'taken first'.length + "alice's own".length });
});

t.test('a peer at its seen bound is deferred as inbox_full while another peer is still stored', async (t) => {
  const node = receiver(t, { maxSeenPerPeer: 2 });
  const fast = node.pairedPeer('fast');
  const alice = node.pairedPeer('alice');
  t.match(await fast.send('one'), { status: AckStatus.STORED });
  t.match(await fast.send('two'), { status: AckStatus.STORED });
  t.match(await fast.send('three'), { status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL });
  t.match(await alice.send('hello'), { status: AckStatus.STORED });
  t.match(await alice.send('again'), { status: AckStatus.STORED });
  t.equal(node.refusals.get('network', 'message_inbox_full'), 1);
  t.same(await contents(node.inbox, alice.peerId), ['hello', 'again']);
});

t.test('a peer whose hello names ack_batch is answered in signed batches; one from before them, with single acks', async (t) => {
  const node = receiver(t);
  const current = node.pairedPeer('current', ['text', 'json', 'ack_batch']);
  t.match(await current.send('hello'), { status: AckStatus.STORED });
  t.same(node.answerTypes, [MSG_ACK_BATCH]);
  const older = node.pairedPeer('older', ['text', 'json']);
  t.match(await older.send('hello'), { status: AckStatus.STORED });
  const duplicateId = randomBytes(16);
  t.match(await older.send('once', duplicateId), { status: AckStatus.STORED });
  t.match(await older.send('twice', duplicateId), { status: AckStatus.DUPLICATE });
  t.same(node.answerTypes, [MSG_ACK_BATCH, MSG_ACK, MSG_ACK, MSG_ACK], 'each answer to the older peer is an ack of its own');
});

t.test('duplicates are answered, and charged to the peer only past an honest allowance', async (t) => {
  // Allowance: twice the in-flight window since the peer's last stored message.
  const node = receiver(t, {}, { maxInFlightPerPeer: 4 });
  const peer = node.pairedPeer('repeater', ['text', 'json', 'ack_batch']);
  const messageId = randomBytes(16);
  t.match(await peer.send('once', messageId), { status: AckStatus.STORED });
  for (let n = 0; n < 12; n += 1) t.match(await peer.send('again', messageId), { status: AckStatus.DUPLICATE });
  t.equal(node.refusals.get('network', 'message_duplicate_past_allowance'), 4, 'the 8 within the allowance are free, the 4 beyond it are charged');
  t.match(await peer.send('new'), { status: AckStatus.STORED });
  t.match(await peer.send('new again', messageId), { status: AckStatus.DUPLICATE });
  t.equal(node.refusals.get('network', 'message_duplicate_past_allowance'), 4, 'a stored message starts the allowance again');
});
