import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { DEFAULT_MESSAGING_CONFIG, type MessagingConfig } from '../../extension/config';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import { RefusalCounters } from '../../extension/metrics/refusals';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { type InboxLimits, InboxStore } from '../../extension/store/inbox';
import { OutboxStore } from '../../extension/store/outbox';
import { TrustStore } from '../../extension/trust/trust-store';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { encodeFileChunk, encodeFileControl, encodeFileOffer } from '../../extension/wire/file-payload';
import { encodeGroupControl, encodeGroupMessage } from '../../extension/wire/group-payload';
import { decodeLeaf, encodeLeaf, MAX_CREATED_AT } from '../../extension/wire/message-leaf';
import { checkMessage, decodeMessageProof } from '../../extension/wire/message-proof';
import type { Receipt } from '../../extension/wire/receipt';
import { CloseCode } from '../../extension/wire/secure-channel';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { AsyncQueue } from '../helpers/async-queue';
import { batchOf, exceptionsOf, readReceipt, textLeaf } from '../helpers/batches';
import { tempDir } from '../helpers/extension';
import { envelopeBy, groupHistory, leaveChange } from '../helpers/groups';
import { testMessenger } from '../helpers/messenger';
import { throwawayIdentity } from '../helpers/raw-peer';


/**
 * The receiving side of a Messenger on real stores, its sessions stood in
 * for: batches are handed to it as a session would, and the receipts it
 * sends back are checked and collected per peer.
 */
function receiver(t: Test, inboxLimits: Partial<InboxLimits> = {}, config: Partial<MessagingConfig> = {}) {
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir);
  const trust = TrustStore.open(dir);
  const inbox = InboxStore.open(dir, inboxLimits);
  const outbox = OutboxStore.open(dir);
  t.teardown(() => Promise.all([inbox.close(), outbox.close()]));
  const receipts = new Map<string, AsyncQueue<Receipt>>();
  const receiptsOf = (peerId: string) => {
    let queue = receipts.get(peerId);
    if (queue === undefined) {
      queue = new AsyncQueue<Receipt>();
      receipts.set(peerId, queue);
    }
    return queue;
  };
  const peers = new Map<string, { identity: StaticIdentity; session: Uint8Array }>();
  const refusals = new RefusalCounters();
  const closed: { peerId: string; code: number }[] = [];
  const network = {
    sendTo(peerId: string, type: number, body: Uint8Array): boolean {
      const peer = peers.get(peerId);
      if (type !== MSG_RECEIPT || peer === undefined) return true;
      receiptsOf(peerId).push(readReceipt(body, identity.publicKey, peer.identity.publicKey, peer.session));
      return true;
    },
    sessionIdOf: (peerId: string) => peers.get(peerId)?.session ?? null,
    isOnline: () => false,
    closeSession(peerId: string, code: number): void {
      closed.push({ peerId, code });
    },
    refuse(_peerId: string, reason: string): void {
      refusals.count('network', reason);
    },
    learnDhtBinding(): void {},
  } as unknown as PeerNetwork;
  const messenger = testMessenger({ identity, trust, network, outbox, inbox }, 'receiver', config);
  t.teardown(() => messenger.close());
  return {
    identity,
    inbox,
    messenger,
    refusals,
    closed,
    /** A peer this node is paired with, with a session open. */
    pairedPeer(name: string) {
      const peer = throwawayIdentity();
      const peerId = peerIdFromPublicKey(peer.publicKey);
      trust.trust({ publicKey: peer.publicKey, displayName: name, addresses: [] });
      peers.set(peerId, { identity: peer, session: randomBytes(32) });
      messenger.opened(peerId);
      return {
        peerId,
        identity: peer,
        /** Hands the node a session message as the peer's session would. */
        deliver(type: number, body: Uint8Array): void {
          messenger.message(peerId, type, body);
        },
        /** Sends one signed batch of these leaves. */
        sendLeaves(leaves: readonly Uint8Array[], time = Date.now(), signer: StaticIdentity = peer, recipient = identity.publicKey): void {
          messenger.message(peerId, MSG_BATCH, batchOf(signer, recipient, leaves, time));
        },
        /** Sends a batch of one text message; resolves with the next receipt. */
        send(content: string, messageId: Uint8Array = randomBytes(16)): Promise<Receipt> {
          this.sendLeaves([textLeaf(content, { messageId, createdAt: 1_700_000_000_000 })]);
          return receiptsOf(peerId).next();
        },
        nextReceipt: () => receiptsOf(peerId).next(),
        /** A new session replaces the current one. */
        reopen(): void {
          peers.set(peerId, { identity: peer, session: randomBytes(32) });
          messenger.opened(peerId);
        },
      };
    },
  };
}

async function contents(inbox: InboxStore, peerId: string): Promise<string[]> {
  return (await inbox.read(peerId, 0, 100)).map((message) => Buffer.from(message.content).toString('utf8'));
}

const refused = (id: Uint8Array, reason: number) => ({ id: Buffer.from(id).toString('hex'), status: AckStatus.REFUSED, reason });

t.test("a paired peer reusing another peer's message id neither blocks nor shadows that peer's message; its own id reused is refused", async (t) => {
  const node = receiver(t);
  const mallory = node.pairedPeer('mallory');
  const alice = node.pairedPeer('alice');
  const messageId = randomBytes(16);
  t.same(await mallory.send('taken first', messageId), { firstBatch: 0, lastBatch: 0, exceptions: [] });
  t.same(await alice.send("alice's own", messageId), { firstBatch: 0, lastBatch: 0, exceptions: [] }, 'stored, not a duplicate');
  t.same(await contents(node.inbox, alice.peerId), ["alice's own"]);
  t.same(await contents(node.inbox, mallory.peerId), ['taken first']);
  t.same(await alice.send("alice's own", messageId), { firstBatch: 1, lastBatch: 1, exceptions: [] }, "a peer's own resend (the same leaf) is a duplicate: receipted");
  t.same(exceptionsOf(await mallory.send('another message', messageId)), [refused(messageId, AckReason.ID_REUSED)], 'another leaf under a stored id is refused');
  t.equal(node.refusals.get('network', 'message_id_reused'), 1);
  t.same(node.inbox.depth(), { messages: 2, bytes: 'taken first'.length + "alice's own".length });
});

t.test('a peer at its seen bound is deferred as inbox_full while another peer is still stored', async (t) => {
  const node = receiver(t, { maxSeenPerPeer: 2 });
  const fast = node.pairedPeer('fast');
  const alice = node.pairedPeer('alice');
  t.same((await fast.send('one')).exceptions, []);
  t.same((await fast.send('two')).exceptions, []);
  t.match(exceptionsOf(await fast.send('three')), [{ status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL }]);
  t.same((await alice.send('hello')).exceptions, []);
  t.same((await alice.send('again')).exceptions, []);
  t.equal(node.refusals.get('network', 'message_inbox_full'), 1);
  t.same(await contents(node.inbox, alice.peerId), ['hello', 'again']);
});

t.test('receipts cover the batches of the session in order, each continuing the last, with only the messages not stored listed', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('batcher');
  const bad = textLeaf(Buffer.from([0xff, 0xfe]));
  const tooLarge = textLeaf(new Uint8Array(65));
  const node2 = receiver(t, {}, { maxPayloadBytes: 64 });
  const small = node2.pairedPeer('small');
  small.sendLeaves([textLeaf('fits'), tooLarge]);
  t.same(exceptionsOf(await small.nextReceipt()), [{ id: Buffer.from(tooLarge.subarray(0, 16)).toString('hex'), status: AckStatus.REFUSED, reason: AckReason.PAYLOAD_TOO_LARGE }]);
  peer.sendLeaves([textLeaf('a1'), bad, textLeaf('a3')]);
  peer.sendLeaves([textLeaf('b1')]);
  peer.sendLeaves([textLeaf('c1'), textLeaf('c2')]);
  const covered: Receipt[] = [];
  while (covered.at(-1)?.lastBatch !== 2) covered.push(await peer.nextReceipt());
  t.equal(covered[0]?.firstBatch, 0);
  for (let n = 1; n < covered.length; n += 1) t.equal(covered[n]?.firstBatch, (covered[n - 1]?.lastBatch ?? 0) + 1, 'continues the last');
  t.same(covered.flatMap(exceptionsOf), [{ id: Buffer.from(bad.subarray(0, 16)).toString('hex'), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD }]);
  t.same(await contents(node.inbox, peer.peerId), ['a1', 'a3', 'b1', 'c1', 'c2']);
});

t.test('a batch refused as a whole lists every message: bad signature, wrong recipient, sender mismatch, stale and future time', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('sender');
  const leaves = () => [textLeaf('x'), textLeaf('y')];
  const expect = async (reason: number, what: string, send: (batch: Uint8Array[]) => void) => {
    const batch = leaves();
    send(batch);
    t.same(exceptionsOf(await peer.nextReceipt()), batch.map((leaf) => refused(leaf.subarray(0, 16), reason)), what);
  };
  await expect(AckReason.BAD_SIGNATURE, 'signed by another key under the peer\'s name', (batch) => {
    peer.deliver(MSG_BATCH, flipByte(batchOf(peer.identity, node.identity.publicKey, batch), 137));
  });
  await expect(AckReason.WRONG_RECIPIENT, 'for another node', (batch) => peer.sendLeaves(batch, Date.now(), peer.identity, throwawayIdentity().publicKey));
  await expect(AckReason.SENDER_MISMATCH, 'signed by a third key', (batch) => peer.sendLeaves(batch, Date.now(), throwawayIdentity()));
  await expect(AckReason.STALE_TIMESTAMP, 'signed too long ago', (batch) => peer.sendLeaves(batch, Date.now() - DEFAULT_MESSAGING_CONFIG.clockSkewMs - 60_000));
  await expect(AckReason.FUTURE_TIMESTAMP, 'signed in the future', (batch) => peer.sendLeaves(batch, Date.now() + DEFAULT_MESSAGING_CONFIG.clockSkewMs + 60_000));
  t.same(node.inbox.depth(), { messages: 0, bytes: 0 });
  t.equal(node.refusals.get('network', 'message_bad_signature'), 2, 'charged per message');
});

t.test('a message dated past the latest date is refused malformed, charged, not taken for a failing disk', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('far future');
  const leaf = Buffer.from(textLeaf('from the year 275761'));
  leaf.writeBigUInt64BE(BigInt(MAX_CREATED_AT + 1), 16);
  peer.sendLeaves([leaf]);
  t.same(exceptionsOf(await peer.nextReceipt()), [refused(leaf.subarray(0, 16), AckReason.MALFORMED)]);
  t.equal(node.refusals.get('network', 'message_storage_error'), 0);
  t.same(node.inbox.depth(), { messages: 0, bytes: 0 });
});

t.test('a duplicate is answered as stored even when the batch carrying it does not verify', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('resender');
  const leaf = textLeaf('once');
  peer.sendLeaves([leaf]);
  t.same((await peer.nextReceipt()).exceptions, []);
  peer.deliver(MSG_BATCH, flipByte(batchOf(peer.identity, node.identity.publicKey, [leaf]), 100));
  t.same(await peer.nextReceipt(), { firstBatch: 1, lastBatch: 1, exceptions: [] }, 'the answer only repeats what is stored');
});

t.test('bytes that do not frame as a batch close the session (4002), counted batch_malformed', async (t) => {
  for (const [what, body] of [
    ['too short', new Uint8Array(10)],
    ['a leaf too short to name a message', batchOf(throwawayIdentity(), randomBytes(32), [new Uint8Array(25)])],
    ['one id twice', (() => {
      const leaf = textLeaf('twice');
      return batchOf(throwawayIdentity(), randomBytes(32), [leaf, leaf]);
    })()],
  ] as const) {
    const node = receiver(t);
    const peer = node.pairedPeer('framer');
    peer.deliver(MSG_BATCH, body);
    t.same(node.closed, [{ peerId: peer.peerId, code: CloseCode.BAD_FRAME }], what);
    t.equal(node.refusals.get('network', 'batch_malformed'), 1);
  }
});

t.test('a receipt covers only the batches of the current session: positions start again, and an ended session gets none', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('reconnecting');
  peer.sendLeaves([textLeaf('first session')]);
  t.same(await peer.nextReceipt(), { firstBatch: 0, lastBatch: 0, exceptions: [] });
  peer.sendLeaves([textLeaf('decided after the session ended')]);
  peer.reopen();
  peer.sendLeaves([textLeaf('second session')]);
  t.same(await peer.nextReceipt(), { firstBatch: 0, lastBatch: 0, exceptions: [] }, 'the first receipt of the new session, signed for its id');
  t.same(await contents(node.inbox, peer.peerId), ['first session', 'decided after the session ended', 'second session'], 'stored all the same: its sender offers it again and hears duplicate');
});

t.test('every stored message is verifiable alone, from what the inbox holds', async (t) => {
  const node = receiver(t);
  const peer = node.pairedPeer('prover');
  peer.sendLeaves(['one', 'two', 'three', 'four', 'five'].map((text) => textLeaf(text, { correlationId: `c-${text}` })));
  t.same((await peer.nextReceipt()).exceptions, []);
  const stored = await node.inbox.read(peer.peerId, 0, 10);
  t.equal(stored.length, 5);
  for (const message of stored) {
    const leaf = encodeLeaf({
      messageId: Buffer.from(message.messageId, 'hex'),
      createdAt: message.sentAt.getTime(),
      type: message.type,
      correlationId: message.correlationId,
      payload: message.content,
    });
    const proof = decodeMessageProof(message.proof);
    t.equal(checkMessage(leaf, proof), null, `${Buffer.from(message.content).toString()} checks out`);
    t.same([proof.header.sender, proof.header.recipient], [peer.identity.publicKey, node.identity.publicKey]);
    t.equal(checkMessage(encodeLeaf({ ...decodeLeafFields(leaf), payload: Buffer.from('changed') }), proof), 'bad_signature', 'changed content does not');
  }
});

t.test('duplicates are answered, and charged to the peer only past an honest allowance', async (t) => {
  // Allowance: twice the in-flight window since the peer's last stored message.
  const node = receiver(t, {}, { maxInFlightPerPeer: 4 });
  const peer = node.pairedPeer('repeater');
  const messageId = randomBytes(16);
  t.same((await peer.send('once', messageId)).exceptions, []);
  for (let n = 0; n < 12; n += 1) t.same((await peer.send('once', messageId)).exceptions, []);
  t.equal(node.refusals.get('network', 'message_duplicate_past_allowance'), 4, 'the 8 within the allowance are free, the 4 beyond it are charged');
  t.same((await peer.send('new')).exceptions, []);
  t.same((await peer.send('once', messageId)).exceptions, []);
  t.equal(node.refusals.get('network', 'message_duplicate_past_allowance'), 4, 'a stored message starts the allowance again');
});

/** The bytes with one bit flipped (at 100: the signature; at 137: its last byte). */
function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[at] = (copy[at] as number) ^ 1;
  return copy;
}

function decodeLeafFields(leaf: Uint8Array) {
  return decodeLeaf(leaf, Number.MAX_SAFE_INTEGER);
}

t.test('the file and group types are stored in their channels, never returned by receive; a payload its codec refuses is bad_payload', async (t) => {
  const node = receiver(t);
  const groups = groupHistory();
  const peer = node.pairedPeer('sharer');
  const offerId = randomBytes(16);
  const offer = encodeFileOffer({ name: 'a.txt', size: 3, sha256: '0'.repeat(64), chunkSize: 65_536, mediaType: null, description: null });
  const good = [
    textLeaf('hello'),
    textLeaf(offer, { type: 'file_offer', messageId: offerId }),
    textLeaf(encodeFileControl({ action: 'cancel', reason: 'user' }), { type: 'file_control', correlationId: offerId.toString('hex') }),
    textLeaf(encodeFileChunk({ transferId: offerId, index: 0, data: Buffer.from('abc') }), { type: 'file_chunk' }),
    textLeaf(encodeGroupControl({ kind: 'leave', leave: leaveChange(groups.epochs[2]!, groups.bob).leave }), { type: 'group_control' }),
    textLeaf(encodeGroupMessage({ envelope: envelopeBy(groups.bob, groups.epochs[1]!), relay: null }), { type: 'group_message' }),
  ];
  const bad = [
    textLeaf(Buffer.from('{"v":1,"name":"../x","size":3,"sha256":"' + '0'.repeat(64) + '","chunk_size":65536}'), { type: 'file_offer' }),
    textLeaf('{"v":1,"action":"accept","reason":"user"}', { type: 'file_control' }),
    textLeaf(new Uint8Array(20), { type: 'file_chunk' }),
    textLeaf('{"v":1', { type: 'group_control' }),
    textLeaf('{"v":1,"kind":"leave"}', { type: 'group_control' }),
    textLeaf(Buffer.from([0xff]), { type: 'group_message' }),
    textLeaf('{"v":1,"envelope":{}}', { type: 'group_message' }),
  ];
  peer.sendLeaves([...good, ...bad]);
  const receipt = await peer.nextReceipt();
  t.same(
    exceptionsOf(receipt),
    bad.map((leaf) => refused(leaf.subarray(0, 16), AckReason.BAD_PAYLOAD)),
    'each refused by its own codec, the rest stored',
  );
  t.equal(node.refusals.get('network', 'message_bad_payload'), bad.length);
  t.same((await node.messenger.receive(peer.peerId, 0, 100, 0)).map((m) => m.type), ['text'], 'receive returns the text message alone');
  t.same((await node.inbox.read(peer.peerId, 0, 100, 'files')).map((m) => m.type), ['file_offer', 'file_control', 'file_chunk']);
  t.same((await node.inbox.read(peer.peerId, 0, 100, 'groups')).map((m) => m.type), ['group_control', 'group_message']);
  t.same((await node.inbox.read(peer.peerId, 0, 100, 'files'))[1]?.correlationId, offerId.toString('hex'), 'the control names its transfer');
});
