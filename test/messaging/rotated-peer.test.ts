import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import { checkAddressing } from '../../extension/messaging/batch-checks';
import { RefusalCounters } from '../../extension/metrics/refusals';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { InboxStore } from '../../extension/store/inbox';
import { OutboxStore } from '../../extension/store/outbox';
import { TrustStore } from '../../extension/trust/trust-store';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { extendKeyChain } from '../../extension/wire/key-rotation';
import type { Receipt } from '../../extension/wire/receipt';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { AsyncQueue } from '../helpers/async-queue';
import { batchOf, exceptionsOf, readReceipt, textLeaf } from '../helpers/batches';
import { tempDir } from '../helpers/extension';
import { testMessenger } from '../helpers/messenger';
import { messengerSender } from '../helpers/messenger-sender';
import { eventually } from '../helpers/node';
import { throwawayIdentity } from '../helpers/raw-peer';

/**
 * A peer that rotated its key keeps its peer id (the first key) but signs
 * with the end of its key chain: what it signs is checked against that
 * key, what goes to it is addressed to that key, and its first key no
 * longer speaks for it.
 */

const ROTATED_AT = Date.parse('2026-06-01T00:00:00.000Z');

/** A trust store pairing with `root`, which then rotated to `next`. */
function rotatedTrust(dir: string, root: ReturnType<typeof throwawayIdentity>, next: ReturnType<typeof throwawayIdentity>): TrustStore {
  const trust = TrustStore.open(dir);
  trust.trust({ publicKey: root.publicKey, displayName: 'alice', addresses: [] });
  const applied = trust.applyKeyChain(peerIdFromPublicKey(root.publicKey), extendKeyChain([], root, next, ROTATED_AT));
  if (!applied.ok) throw new Error(`the chain was refused: ${applied.message}`);
  return trust;
}

t.test('the batch checks take the sender to be the session peer only when it signs with its current key', async (t) => {
  const [root, next] = [throwawayIdentity(), throwawayIdentity()];
  const peerId = peerIdFromPublicKey(root.publicKey);
  const me = throwawayIdentity().publicKey;
  const now = Date.now();
  const context = (trust: TrustStore) => ({ me, sessionPeer: peerId, trust, now, clockSkewMs: 60_000 });
  const header = (sender: Uint8Array) => ({ sender, recipient: me, time: now, leafCount: 1 });

  const unrotated = TrustStore.open(tempDir(t));
  unrotated.trust({ publicKey: root.publicKey, displayName: 'alice', addresses: [] });
  t.equal(checkAddressing(header(root.publicKey), context(unrotated)), null, 'unrotated: the key the id names');
  t.equal(checkAddressing(header(next.publicKey), context(unrotated)), AckReason.SENDER_MISMATCH, 'unrotated: a key no chain certified');

  const rotated = rotatedTrust(tempDir(t), root, next);
  t.equal(checkAddressing(header(next.publicKey), context(rotated)), null, 'rotated: the current key');
  t.equal(checkAddressing(header(root.publicKey), context(rotated)), AckReason.SENDER_MISMATCH, 'rotated: the first key no longer speaks for the peer');
});

/** The receiving side of a Messenger on real stores, with one rotated peer's session stood in for. */
function receiverOfRotatedPeer(t: Test) {
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir);
  const [root, next] = [throwawayIdentity(), throwawayIdentity()];
  const peerId = peerIdFromPublicKey(root.publicKey);
  const trust = rotatedTrust(dir, root, next);
  const inbox = InboxStore.open(dir);
  const outbox = OutboxStore.open(dir);
  t.teardown(() => Promise.all([inbox.close(), outbox.close()]));
  const session = randomBytes(32);
  const receipts = new AsyncQueue<Receipt>();
  const refusals = new RefusalCounters();
  const network = {
    sendTo(_peerId: string, type: number, body: Uint8Array): boolean {
      // A receipt names the batches' sender: the peer's current key, or readReceipt throws.
      if (type === MSG_RECEIPT) receipts.push(readReceipt(body, identity.publicKey, next.publicKey, session));
      return true;
    },
    sessionIdOf: () => session,
    isOnline: () => true,
    refuse(_peerId: string, reason: string): void {
      refusals.count('network', reason);
    },
    learnDhtBinding(): void {},
  } as unknown as PeerNetwork;
  const messenger = testMessenger({ identity, trust, network, outbox, inbox }, 'receiver');
  t.teardown(() => messenger.close());
  messenger.opened(peerId);
  return { identity, inbox, peerId, root, next, receipts, messenger };
}

t.test('a batch from a rotated peer is stored when signed by its current key and refused when signed by its first key', async (t) => {
  const node = receiverOfRotatedPeer(t);
  const fresh = randomBytes(16);
  node.messenger.message(node.peerId, MSG_BATCH, batchOf(node.next, node.identity.publicKey, [textLeaf('from the new key', { messageId: fresh })]));
  t.same(exceptionsOf(await node.receipts.next()), [], 'stored, receipted by this node under the current key');

  const stale = randomBytes(16);
  node.messenger.message(node.peerId, MSG_BATCH, batchOf(node.root, node.identity.publicKey, [textLeaf('from the old key', { messageId: stale })]));
  t.same(exceptionsOf(await node.receipts.next()), [{ id: Buffer.from(stale).toString('hex'), status: AckStatus.REFUSED, reason: AckReason.SENDER_MISMATCH }]);

  const stored = (await node.inbox.read(node.peerId, 0, 10)).map((message) => Buffer.from(message.content).toString('utf8'));
  t.same(stored, ['from the new key'], 'only the message signed by the current key, under the unchanged peer id');
});

t.test('batches to a rotated peer are addressed to its current key; only its current key can receipt them', async (t) => {
  const node = messengerSender(t);
  const next = throwawayIdentity();
  const applied = node.trust.applyKeyChain(node.peerId, extendKeyChain([], node.peer, next, ROTATED_AT));
  t.ok(applied.ok);
  const id = await node.send('hello');
  node.connect();
  const batch = await node.nextBatch();
  t.same(batch.header.recipient, next.publicKey, 'the recipient is the end of the chain');

  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] }, undefined, node.peer);
  await eventually(async () => node.refusals.get('network', 'bad_receipt') === 1, 'a receipt signed by the first key is refused');
  t.equal(node.stateOf(id), 'sent', 'and settles nothing');

  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] }, undefined, next);
  await eventually(async () => node.stateOf(id) === 'delivered', 'the current key’s receipt settles the batch');
  t.equal(node.refusals.get('network', 'bad_receipt'), 1);
});
