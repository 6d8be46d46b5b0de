import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { printPairingLink, type LinkRotation } from '../../extension/common/pairing-link';
import { safetyNumber } from '../../extension/common/safety-number';
import { DEFAULT_NETWORK_CONFIG } from '../../extension/config';
import type { OutgoingEvent } from '../../extension/events/outbox';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import type { NodeContext } from '../../extension/operations/context';
import { pair } from '../../extension/operations/pairing';
import { PendingRequests } from '../../extension/trust/pending-requests';
import { TRUST_FILE_NAME, TrustStore } from '../../extension/trust/trust-store';
import { encodeKeyChain, encodeRotationStatement, type RotationStatement } from '../../extension/wire/key-rotation';
import { tempDir } from '../helpers/extension';
import { newSigner, rotatedKeys, type RotatedKeys } from '../helpers/key-chains';
import { refusalOf } from '../helpers/refusal';

/** A node with real identity, trust and pending requests; its network reaches no one. */
function pairingNode(t: Test) {
  const dataDir = tempDir(t);
  const trust = TrustStore.open(dataDir);
  t.teardown(() => trust.close());
  const pending = PendingRequests.open(dataDir);
  const events: OutgoingEvent[] = [];
  const attempts: string[] = [];
  const node = {
    dataDir,
    identity: loadOrCreateIdentity(dataDir),
    trust,
    pending,
    networkConfig: DEFAULT_NETWORK_CONFIG,
    outbox: { enqueue: (event: OutgoingEvent) => events.push(event) },
    network: {
      attemptNow: async (peer: string) => {
        attempts.push(peer);
        return 'unreachable';
      },
    },
  } as unknown as NodeContext;
  return { node, trust, pending, events, attempts, dataDir };
}

/** The link `keys` would print after `rotations` rotations. */
function linkOf(keys: RotatedKeys, rotations: number, rotation?: LinkRotation): string {
  const current: LinkRotation | undefined =
    rotations === 0 ? undefined : { key: keys.keys[rotations]?.publicKey as Uint8Array, chain: encodeKeyChain(keys.chains[rotations] as RotationStatement[]) };
  const shown = rotation ?? current;
  return printPairingLink({ peerId: keys.peerId, addresses: ['192.0.2.1:7070'], displayName: 'Alice', dhtBinding: null, expiresAt: null, ...(shown === undefined ? {} : { rotation: shown }) });
}

t.test('a rotated node’s link asks it under its current key, stored under its peer id with the chain', async (t) => {
  const { node, pending, attempts } = pairingNode(t);
  const alice = rotatedKeys(2);
  const current = alice.keys[2]?.publicKey as Uint8Array;
  const outcome = await pair({ link: linkOf(alice, 2) }, node);
  const data = outcome.data as Record<string, unknown>;
  t.equal(data['peer'], alice.peerId, 'the peer id is the root’s');
  t.equal(data['fingerprint'], fingerprintOf(current), 'the fingerprint to compare is the current key’s');
  t.equal(data['safety_number'], safetyNumber(node.identity.publicKey, current));
  const request = pending.findOutgoingByPeer(alice.peerId);
  t.ok(request, 'an outgoing request');
  t.equal(Buffer.compare(request?.publicKey as Uint8Array, current), 0, 'under the current key, which the handshake must prove');
  t.equal(request?.keyChain.length, 2, 'with its chain');
  t.same(attempts, [alice.peerId]);
});

t.test('a link whose key chain does not hold is refused before anything is asked or stored', async (t) => {
  const { node, pending, attempts } = pairingNode(t);
  const alice = rotatedKeys(2);
  const chain = alice.chains[2] as RotationStatement[];
  const key = alice.keys[2]?.publicKey as Uint8Array;
  const tampered = encodeKeyChain(chain);
  tampered[1 + 32 + 2 + 64 + 7] = (tampered[1 + 32 + 2 + 64 + 7] as number) ^ 1; // the first statement's time
  const other = rotatedKeys(1);
  const cases: [string, string, RegExp][] = [
    ['not a key chain', linkOf(alice, 2, { key, chain: new Uint8Array(10) }), /^invalid pairing link: its key chain is not one \(/],
    ['a statement whose signatures no longer hold', linkOf(alice, 2, { key, chain: tampered }), /^invalid pairing link: its key chain does not hold: .*\(statement 1\)/],
    [
      'another identity’s chain',
      linkOf(alice, 2, { key: other.keys[1]?.publicKey as Uint8Array, chain: encodeKeyChain(other.chains[1] as RotationStatement[]) }),
      /^invalid pairing link: its key chain starts at another identity than the peer id it names/,
    ],
    ['a chain ending at another key', linkOf(alice, 2, { key: newSigner().publicKey, chain: encodeKeyChain(chain) }), /^invalid pairing link: its key chain ends at another key than the current key it names/],
    ['a key the chain left behind', linkOf(alice, 2, { key: alice.keys[1]?.publicKey as Uint8Array, chain: encodeKeyChain(chain) }), /ends at another key than the current key it names/],
  ];
  for (const [label, link, message] of cases) {
    const refusal = await refusalOf(pair({ link }, node));
    t.match(refusal, { errorName: 'INVALID_INPUT', message }, label);
    t.match(refusal.message, /ask the other person for a fresh link/, `${label}: says what to do`);
  }
  t.same(pending.outgoing(), [], 'nothing stored');
  t.same(attempts, [], 'no one asked');
});

t.test('a rotation link from a paired peer moves the pinned key along its chain, with no request', async (t) => {
  const { node, trust, pending, events, attempts, dataDir } = pairingNode(t);
  const alice = rotatedKeys(2);
  const root = alice.keys[0]?.publicKey as Uint8Array;
  const current = alice.keys[2]?.publicKey as Uint8Array;
  trust.trust({ publicKey: root, displayName: 'Alice', addresses: ['192.0.2.1:7070'] });

  const outcome = await pair({ link: linkOf(alice, 2) }, node);
  const data = outcome.data as Record<string, unknown>;
  t.same(data, {
    request_id: null,
    peer: alice.peerId,
    state: 'trusted',
    key_rotated: true,
    old_fingerprint: fingerprintOf(root),
    fingerprint: fingerprintOf(current),
    safety_number: safetyNumber(node.identity.publicKey, current),
  });
  t.match(outcome.message, new RegExp(`^key change for this peer, signed by its previous key: ${fingerprintOf(root)} → ${fingerprintOf(current)}\\. Nothing to accept`));
  t.match(outcome.message, /compare it with the other person again/);
  t.equal(Buffer.compare(trust.currentKey(alice.peerId) as Uint8Array, current), 0, 'the current key is pinned');
  t.match(JSON.parse(readFileSync(join(dataDir, TRUST_FILE_NAME), 'utf8')), { peers: { [alice.peerId]: { public_key: Buffer.from(current).toString('base64') } } }, 'durably');
  t.same(pending.outgoing(), [], 'no request');
  t.same(attempts, [], 'no dial');
  t.same(events, [
    {
      type: 'p2p.peer.key_rotated',
      subject: alice.peerId,
      data: { peer: alice.peerId, old_fingerprint: fingerprintOf(root), new_fingerprint: fingerprintOf(current), seq: 2 },
    },
  ]);

  // The same link again, or the unrotated link of old: already paired, nothing changes.
  for (const link of [linkOf(alice, 2), linkOf(alice, 0)]) {
    const again = await pair({ link }, node);
    t.equal(again.message, 'already paired');
    t.equal((again.data as Record<string, unknown>)['fingerprint'], fingerprintOf(current));
  }
  // A link from before the latest rotation: the newer pinned key stays.
  const older = await pair({ link: linkOf(alice, 1) }, node);
  t.match(older.message, /^already paired; this link is older than the key this node holds for the peer/);
  t.equal(Buffer.compare(trust.currentKey(alice.peerId) as Uint8Array, current), 0);
  t.equal(events.length, 1, 'no further event');
});

t.test('a rotation link that forks from the chain this node holds is refused, the pinned key kept', async (t) => {
  const { node, trust, events } = pairingNode(t);
  const alice = rotatedKeys(1);
  trust.trust({ publicKey: alice.keys[0]?.publicKey as Uint8Array, displayName: 'Alice', addresses: [] });
  t.ok(trust.applyKeyChain(alice.peerId, alice.chains[1] as RotationStatement[]).ok);
  // Someone holding the root signs another first rotation, and a second on top.
  const fork = rotatedKeys(2, Date.parse('2026-05-01T00:00:00Z'), alice, 0);
  t.not(Buffer.compare(encodeRotationStatement(fork.chains[2]?.[0] as RotationStatement), encodeRotationStatement(alice.chains[1]?.[0] as RotationStatement)), 0);
  const refusal = await refusalOf(pair({ link: linkOf(fork, 2) }, node));
  t.match(refusal, { errorName: 'CONFLICT', details: { reason: 'conflict' } });
  t.match(refusal.message, /another rotation statement at seq 1 .*Nothing was changed: ask the other person, by another channel, for their fingerprint/);
  t.equal(peerIdFromPublicKey(trust.currentKey(alice.peerId) as Uint8Array), peerIdFromPublicKey(alice.keys[1]?.publicKey as Uint8Array));
  t.same(events, []);
});
