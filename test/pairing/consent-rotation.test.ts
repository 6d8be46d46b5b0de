import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { EventOutbox } from '../../extension/events/outbox';
import { RefusalCounters } from '../../extension/metrics/refusals';
import { Consent } from '../../extension/pairing/consent';
import { PendingRequests } from '../../extension/trust/pending-requests';
import { TRUST_FILE_NAME, TrustStore } from '../../extension/trust/trust-store';
import { DecisionResult, RefusalReason } from '../../extension/wire/decision';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { Intent, type InitiatorPayload } from '../../extension/wire/handshake-payload';
import { extendKeyChain, signRotationStatement, type RotationStatement } from '../../extension/wire/key-rotation';
import { identityFromSeed } from '../helpers/fixed-identity';
import { tempDir } from '../helpers/extension';

/**
 * The responder's consent decision for a peer that rotated its key: the
 * initiator is the peer its chain's root names, and a peer this node knows
 * must prove the key pinned for it, or one its chain certifies from there.
 * A retired key (what a thief of an old key holds) opens nothing.
 */

const ADDRESS = '192.0.2.7:7070';
const OPEN = { result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE };
const NOT_TRUSTED = { result: DecisionResult.REFUSED, reason: RefusalReason.NOT_TRUSTED };
const BUSY = { result: DecisionResult.REFUSED, reason: RefusalReason.BUSY };
const STORED = { result: DecisionResult.REQUEST_STORED, reason: RefusalReason.NONE };

function setup(t: Test, options = { consentBurst: 5, consentPerMinute: 1 }) {
  const dir = tempDir(t);
  const trust = TrustStore.open(dir);
  const pending = PendingRequests.open(dir);
  const outbox = new EventOutbox({ maxQueued: 1000, maxQueuedSecurity: 1000, tallyIntervalMs: 1000 });
  const refusals = new RefusalCounters();
  const consent = new Consent(trust, pending, outbox, refusals, options);
  const events = (type: string) => outbox.takeBatch(1000).filter((event) => event.type === type).map((event) => event.data);
  return { consent, trust, pending, refusals, events, dir };
}

function key(): StaticIdentity {
  return identityFromSeed(new Uint8Array(randomBytes(32)));
}

/** A node that rotated once: its root, its current key and the chain between. */
function rotatedNode(): { root: StaticIdentity; current: StaticIdentity; chain: RotationStatement[]; peerId: string } {
  const root = key();
  const current = key();
  return { root, current, chain: extendKeyChain([], root, current, 1_900_000_000_000), peerId: peerIdFromPublicKey(root.publicKey) };
}

function proof(publicKey: Uint8Array, intent: Intent, keyChain?: RotationStatement[]): { publicKey: Uint8Array; payload: InitiatorPayload } {
  const payload: InitiatorPayload = { intent, requestId: new Uint8Array(randomBytes(16)), listenPort: 7070, displayName: 'Bob' };
  return { publicKey, payload: keyChain === undefined ? payload : { ...payload, keyChain } };
}

t.test('a trusted peer that rotated: its retired root opens no session in its name; its current key does', async (t) => {
  const { consent, trust, events } = setup(t);
  const bob = rotatedNode();
  trust.trust({ publicKey: bob.root.publicKey, displayName: 'Bob', addresses: [] });
  t.ok(trust.applyKeyChain(bob.peerId, bob.chain).ok, 'this node already follows bob’s chain');

  t.same(consent.decide(proof(bob.root.publicKey, Intent.SESSION), ADDRESS), NOT_TRUSTED, 'the retired root is refused, told no more than a stranger');
  t.same(events('p2p.peer.key_mismatch'), [
    {
      peer: bob.peerId,
      expected_fingerprint: fingerprintOf(bob.current.publicKey),
      presented_fingerprint: fingerprintOf(bob.root.publicKey),
      address: ADDRESS,
      chain: 'older_key',
    },
  ]);
  t.same(trust.get(bob.peerId)?.refusedKeys.map((refused) => Buffer.from(refused.publicKey).toString('hex')), [Buffer.from(bob.root.publicKey).toString('hex')]);
  t.same(trust.get(bob.peerId)?.lastSeen, null, 'nothing recorded as a connection of bob');

  t.same(consent.decide(proof(bob.current.publicKey, Intent.SESSION), ADDRESS), OPEN, 'the pinned current key opens, without a chain');
});

t.test('a trusted peer pinned at its root presents its new key with the chain: followed, and the session opens', async (t) => {
  const { consent, trust, events } = setup(t);
  const bob = rotatedNode();
  trust.trust({ publicKey: bob.root.publicKey, displayName: 'Bob', addresses: [] });
  t.same(consent.decide(proof(bob.current.publicKey, Intent.SESSION, bob.chain), ADDRESS), OPEN);
  t.same(trust.currentKey(bob.peerId), bob.current.publicKey, 'the new key pinned under bob’s peer id');
  t.same(events('p2p.peer.key_rotated'), [{ peer: bob.peerId, old_fingerprint: fingerprintOf(bob.root.publicKey), new_fingerprint: fingerprintOf(bob.current.publicKey), seq: 1 }]);
  t.same(consent.decide(proof(bob.current.publicKey, Intent.SESSION, bob.chain), ADDRESS), OPEN, 'the same chain again changes nothing');
  t.same(events('p2p.peer.key_rotated'), []);
});

t.test('a key change its old key did not sign stays refused, and is only counted: it ties the key to nobody; a fork its old key signed is evidence', async (t) => {
  const { consent, trust, refusals, events, dir } = setup(t);
  const bob = rotatedNode();
  trust.trust({ publicKey: bob.root.publicKey, displayName: 'Bob', addresses: [] });
  const trustFile = join(dir, TRUST_FILE_NAME);
  const before = readFileSync(trustFile);
  // Mallory knows bob's peer id and claims to be his successor, again and again, signing for both sides herself.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const mallory = key();
    const forged = [signRotationStatement(bob.root.publicKey, 1, { publicKey: bob.root.publicKey, sign: mallory.sign }, mallory, 1_900_000_000_000 + attempt)];
    t.same(consent.decide(proof(mallory.publicKey, Intent.SESSION, forged), ADDRESS), NOT_TRUSTED);
  }
  t.equal(refusals.get('network', 'key_mismatch'), 20, 'each one counted');
  t.same(events('p2p.peer.key_mismatch'), [], 'no warning in bob’s name');
  t.same(trust.get(bob.peerId)?.refusedKeys, [], 'no key kept as evidence against bob');
  t.same(readFileSync(trustFile), before, 'the trust file not rewritten');
  const stranger = rotatedNode();
  t.same(consent.decide(proof(stranger.current.publicKey, Intent.SESSION, [{ ...(stranger.chain[0] as RotationStatement), root: bob.root.publicKey }]), ADDRESS), NOT_TRUSTED);
  t.same(events('p2p.peer.key_mismatch'), [], 'nor for a chain that does not hold together');
  t.same(trust.currentKey(bob.peerId), bob.root.publicKey, 'the pinned key stays');

  // A second rotation statement at seq 1, signed by bob's real root (say, stolen), forks from the chain this node holds.
  t.ok(trust.applyKeyChain(bob.peerId, bob.chain).ok);
  const thief = key();
  const fork = extendKeyChain([], bob.root, thief, 1_900_000_000_001);
  t.same(consent.decide(proof(thief.publicKey, Intent.SESSION, fork), ADDRESS), NOT_TRUSTED);
  t.match(events('p2p.peer.key_mismatch'), [{ presented_fingerprint: fingerprintOf(thief.publicKey), chain: 'conflict' }]);
});

t.test('a stranger’s chain costs nothing before consent: refused as any stranger, verified only once a pair request took a token', async (t) => {
  const { consent, pending, refusals } = setup(t, { consentBurst: 1, consentPerMinute: 1 });
  const carol = rotatedNode();
  const broken = [{ ...(carol.chain[0] as RotationStatement), oldSignature: new Uint8Array(64) }];
  t.same(consent.decide(proof(carol.current.publicKey, Intent.SESSION, broken), ADDRESS), NOT_TRUSTED, 'a session from an unknown root');
  t.equal(refusals.get('network', 'untrusted_session'), 1);

  t.same(consent.decide(proof(carol.current.publicKey, Intent.PAIR_REQUEST, carol.chain), ADDRESS), STORED, 'a rotated requester');
  const stored = pending.findIncomingByPeer(carol.peerId);
  t.same(stored?.publicKey, carol.current.publicKey, 'kept under its root’s peer id, with its current key');
  t.equal(stored?.keyChain.length, 1);

  t.same(consent.decide(proof(carol.current.publicKey, Intent.PAIR_REQUEST, broken), ADDRESS), BUSY, 'past the token bucket, the chain is not even looked at');
  t.equal(refusals.get('network', 'consent_request_key_chain_bad_old_signature'), 0);
});

t.test('a request this node sent, answered by the peer under its new key: the chain takes the link’s key to it', async (t) => {
  const { consent, trust, pending } = setup(t);
  const dave = rotatedNode();
  pending.addOutgoing({ requestId: '0'.repeat(32), publicKey: dave.root.publicKey, displayName: 'Dave', address: ADDRESS, dhtAddress: null });
  t.same(consent.decide(proof(dave.current.publicKey, Intent.SESSION), ADDRESS), NOT_TRUSTED, 'without the chain the new key is not the one asked for');
  t.same(consent.decide(proof(dave.current.publicKey, Intent.SESSION, dave.chain), ADDRESS), OPEN, 'with it, both consented');
  t.equal(trust.get(dave.peerId)?.state, 'trusted');
  t.same(trust.currentKey(dave.peerId), dave.current.publicKey);
  t.equal(trust.get(dave.peerId)?.keyChain.length, 1, 'the chain is pinned with the key');
});
