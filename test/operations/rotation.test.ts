import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { P2pError } from '../../extension/common/errors';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { parsePairingLink } from '../../extension/common/pairing-link';
import { safetyNumber } from '../../extension/common/safety-number';
import { DEFAULT_NETWORK_CONFIG } from '../../extension/config';
import type { OutgoingEvent } from '../../extension/events/outbox';
import {
  loadOrCreateIdentity,
  NEXT_IDENTITY_FILE_NAME,
  prepareRotation,
  recordConfirmed,
  type NodeIdentity,
  type RotationOptions,
} from '../../extension/identity/node-identity';
import type { NodeContext } from '../../extension/operations/context';
import { identity as identityOperation } from '../../extension/operations/identity';
import { peers as peersOperation } from '../../extension/operations/peers';
import { rotateIdentity } from '../../extension/operations/rotation';
import { KEY_ROTATION_CAPABILITY, type RotationFollow, type RotationResult } from '../../extension/network/rotation-follow';
import { TrustStore } from '../../extension/trust/trust-store';
import type { Hello } from '../../extension/wire/hello';
import { decodeKeyChain, MAX_KEY_CHAIN, verifyKeyChain } from '../../extension/wire/key-rotation';
import { tempDir } from '../helpers/extension';
import { newSigner, rotatedKeys } from '../helpers/key-chains';
import { refusalOf } from '../helpers/refusal';

const DAY_SECONDS = 24 * 3600;

function hello(capabilities: string[]): Hello {
  return { protocolVersion: 1, agent: 'x', capabilities, software: 'p2p-comm/test', dhtBinding: null };
}

/**
 * A node with what these operations use: its identity file and trust store
 * on disk, the rest stubbed. Its key swap takes the identity functions'
 * steps (the next file, then the rename) and follows the new identity, as
 * the network's swap does; `hold` keeps it between the two.
 */
function rotatingNode(t: Test) {
  const dataDir = tempDir(t);
  const trust = TrustStore.open(dataDir);
  t.teardown(() => trust.close());
  const hellos = new Map<string, Hello>();
  const events: OutgoingEvent[] = [];
  const swaps: Partial<RotationOptions>[] = [];
  const state = { identity: loadOrCreateIdentity(dataDir), hold: null as Promise<void> | null, confirmAtOnce: [] as string[] };
  const rotation: Pick<RotationFollow, 'rotate'> = {
    rotate: async (rotationOptions = {}): Promise<RotationResult> => {
      swaps.push(rotationOptions);
      const oldFingerprint = state.identity.fingerprint;
      const prepared = prepareRotation(state.identity, rotationOptions);
      if (state.hold !== null) await state.hold;
      prepared.commit();
      state.identity = prepared.next;
      for (const peer of state.confirmAtOnce) state.identity = recordConfirmed(state.identity, peer, state.identity.keyChain.length);
      const retireAt = state.identity.retiring.at(-1)?.retireAt as Date;
      return { oldFingerprint, fingerprint: state.identity.fingerprint, seq: state.identity.keyChain.length, retireAt };
    },
  };
  const node = {
    dataDir,
    trust,
    get identity(): NodeIdentity {
      return state.identity;
    },
    networkConfig: { ...DEFAULT_NETWORK_CONFIG, dht: { ...DEFAULT_NETWORK_CONFIG.dht, mode: 'off' } },
    messenger: { helloOf: (peer: string) => hellos.get(peer) },
    outbox: { enqueue: (event: OutgoingEvent) => events.push(event) },
    network: {
      addresses: () => ['127.0.0.1:7070'],
      dht: { advertisedBinding: () => null },
      isOnline: () => false,
      direction: () => null,
      pathOf: () => null,
      rotation,
    },
    profile: { displayName: 'Alice' },
    cards: { cardOf: () => undefined },
  } as unknown as NodeContext;
  return { node, state, trust, hellos, events, swaps, dataDir };
}

function pairWith(trust: TrustStore, name: string): string {
  return trust.trust({ publicKey: newSigner().publicKey, displayName: name, addresses: [] }).peerId;
}

t.test('rotate_identity keeps the peer id, reports the new key and where each paired peer stands', async (t) => {
  const { node, state, trust, hellos, swaps, dataDir } = rotatingNode(t);
  const peerId = node.identity.peerId;
  const oldFingerprint = node.identity.fingerprint;
  const confirmed = pairWith(trust, 'Carol');
  const pending = pairWith(trust, 'Bob');
  const unsupported = pairWith(trust, 'Dave');
  const revoked = pairWith(trust, 'Eve');
  trust.revoke(revoked);
  hellos.set(pending, hello(['text', KEY_ROTATION_CAPABILITY]));
  hellos.set(unsupported, hello(['text', 'json']));
  state.confirmAtOnce = [confirmed];

  const before = Date.now();
  const outcome = await rotateIdentity({ grace_seconds: 3 * DAY_SECONDS }, node);
  const data = outcome.data as Record<string, unknown>;
  t.same(swaps, [{ graceMs: 3 * DAY_SECONDS * 1000 }], 'the grace asked for reaches the swap');
  t.equal(data['peer_id'], peerId, 'the peer id stays');
  t.equal(data['old_fingerprint'], oldFingerprint);
  t.equal(data['fingerprint'], node.identity.fingerprint);
  t.not(data['fingerprint'], oldFingerprint, 'a new key');
  t.equal(data['seq'], 1);
  const retireAt = Date.parse(data['retire_at'] as string);
  t.ok(retireAt >= before + 3 * DAY_SECONDS * 1000 && retireAt <= Date.now() + 3 * DAY_SECONDS * 1000, 'retires after the grace period');
  t.same(
    (data['peers'] as { peer: string; state: string }[]).map(({ peer, state }) => [peer, state]).sort(),
    [
      [confirmed, 'confirmed'],
      [pending, 'pending'],
      [unsupported, 'unsupported'],
    ].sort(),
    'each trusted peer by its state; a revoked one is not listed',
  );
  t.same((data['peers'] as { peer: string; name: string }[]).find((entry) => entry.peer === unsupported)?.name, 'Dave');
  t.match(outcome.message, /1 peer\(s\) run a p2p-comm without key rotation: they must update p2p-comm first, or pair again/);
  t.same(readdirSync(dataDir).filter((name) => name.startsWith('identity')), ['identity.key'], 'the next file was renamed into place');

  // Without grace_seconds, the configured one (P2P_COMM_KEY_GRACE_SECONDS, 30 days by default).
  await rotateIdentity({}, node);
  t.same(swaps[1], { graceMs: DEFAULT_NETWORK_CONFIG.keyGraceSeconds * 1000 });
  t.equal(DEFAULT_NETWORK_CONFIG.keyGraceSeconds, 2_592_000);
  t.equal(node.identity.keyChain.length, 2);
});

t.test('one rotation at a time: a second call while one runs, or while a next file waits, is refused busy', async (t) => {
  const { node, state, swaps, dataDir } = rotatingNode(t);
  let release = (): void => undefined;
  state.hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  const first = rotateIdentity({}, node);
  const busy = await refusalOf(rotateIdentity({}, node));
  t.match(busy, { errorName: 'CONFLICT', message: /^busy: a key rotation is already under way/, details: { reason: 'busy' } });
  t.equal(swaps.length, 1, 'the second call never reached the swap');
  release();
  await first;
  state.hold = null;
  t.equal(node.identity.keyChain.length, 1);

  // The swap is over but a next file is there (another process's, or one the start could not settle).
  writeFileSync(join(dataDir, NEXT_IDENTITY_FILE_NAME), '{}');
  t.match(await refusalOf(rotateIdentity({}, node)), { errorName: 'CONFLICT', details: { reason: 'busy' } });
  t.equal(swaps.length, 1);
});

t.test('a failed swap leaves the node free to try again', async (t) => {
  const { node } = rotatingNode(t);
  const failing = { rotate: async () => Promise.reject(new P2pError('IDENTITY_UNUSABLE', 'disk full')) };
  const failingNode = Object.create(node, { network: { value: { ...node.network, rotation: failing } } }) as NodeContext;
  t.match(await refusalOf(rotateIdentity({}, failingNode)), { errorName: 'IDENTITY_UNUSABLE' });
  await rotateIdentity({}, node);
  t.equal(node.identity.keyChain.length, 1);
});

t.test('a key chain of 16 rotations is full: refused before anything is written', async (t) => {
  const { node, state, swaps, dataDir } = rotatingNode(t);
  for (let i = 0; i < MAX_KEY_CHAIN; i += 1) {
    const prepared = prepareRotation(state.identity, {});
    prepared.commit();
    state.identity = prepared.next;
  }
  const full = await refusalOf(rotateIdentity({}, node));
  t.match(full, { errorName: 'LIMIT_REACHED', message: /^key chain full: .* 16 times/, details: { reason: 'key_chain_full' } });
  t.match(full.message, /make a new identity/);
  t.equal(swaps.length, 0);
  t.notOk(existsSync(join(dataDir, NEXT_IDENTITY_FILE_NAME)));
});

t.test('a node killed between the next file and the rename finishes the rotation at its next start', async (t) => {
  const { node, state, dataDir } = rotatingNode(t);
  const peerId = node.identity.peerId;
  const oldKey = node.identity.publicKey;
  state.hold = new Promise<void>(() => undefined); // the process dies while the network is paused
  void rotateIdentity({}, node);
  // The swap writes the next file before its first wait.
  t.ok(existsSync(join(dataDir, NEXT_IDENTITY_FILE_NAME)), 'the next file is durable');
  t.equal(Buffer.compare(node.identity.publicKey, oldKey), 0, 'the running node still holds the old key');
  const restarted = loadOrCreateIdentity(dataDir);
  t.equal(restarted.peerId, peerId);
  t.equal(restarted.keyChain.length, 1);
  t.not(Buffer.compare(restarted.publicKey, oldKey), 0, 'the start took the next key');
  t.same(readdirSync(dataDir).filter((name) => name.startsWith('identity')), ['identity.key']);
});

t.test('identity reports the key sequence, the earlier fingerprints, the rotation and a link carrying the chain', async (t) => {
  const { node, trust, hellos } = rotatingNode(t);
  const root = node.identity.fingerprint;
  const unrotated = (await identityOperation({}, node)).data as Record<string, unknown>;
  t.equal(unrotated['key_seq'], 0);
  t.equal(unrotated['key'], unrotated['peer_id'], 'the current key is the one the peer id names until a rotation');
  t.same(unrotated['previous_fingerprints'], []);
  t.equal(unrotated['rotation'], null);
  t.notMatch(unrotated['link'] as string, /key=|chain=/, 'an unrotated link is as before');

  const bob = pairWith(trust, 'Bob');
  hellos.set(bob, hello([KEY_ROTATION_CAPABILITY]));
  const rotated = (await rotateIdentity({ grace_seconds: 60 }, node)).data as Record<string, unknown>;
  const data = (await identityOperation({}, node)).data as Record<string, unknown>;
  t.equal(data['peer_id'], unrotated['peer_id']);
  t.equal(data['fingerprint'], rotated['fingerprint']);
  t.equal(data['key_seq'], 1);
  t.equal(data['key'], peerIdFromPublicKey(node.identity.publicKey), 'then the rotated key, which safety numbers are computed from');
  t.same(data['previous_fingerprints'], [root]);
  t.same(data['rotation'], { pending: [bob], retire_at: rotated['retire_at'] });
  const link = parsePairingLink(data['link'] as string);
  t.equal(link.peerId, unrotated['peer_id']);
  t.equal(fingerprintOf(link.rotation?.key as Uint8Array), data['fingerprint'], 'the link names the current key');
  const verdict = verifyKeyChain(decodeKeyChain(link.rotation?.chain as Uint8Array));
  t.ok(verdict.ok && Buffer.compare(verdict.chain.currentKey, node.identity.publicKey) === 0, 'its chain certifies that key');

  await rotateIdentity({}, node);
  const twice = (await identityOperation({}, node)).data as Record<string, unknown>;
  t.same(twice['previous_fingerprints'], [root, rotated['fingerprint']], 'oldest first');
});

t.test('peers reports a rotated peer by its current key, with its earlier fingerprints and when it rotated', async (t) => {
  const { node, trust } = rotatingNode(t);
  const alice = rotatedKeys(2, Date.parse('2026-03-04T05:06:07.000Z'));
  const unrotated = pairWith(trust, 'Bob');
  trust.trust({ publicKey: alice.keys[0]?.publicKey as Uint8Array, displayName: 'Alice', addresses: [] });
  const applied = trust.applyKeyChain(alice.peerId, alice.chains[2] ?? []);
  t.ok(applied.ok);
  const listed = ((await peersOperation({}, node)).data as { peers: Record<string, unknown>[] }).peers;
  const entry = listed.find((peer) => peer['peer'] === alice.peerId) as Record<string, unknown>;
  const current = alice.keys[2]?.publicKey as Uint8Array;
  t.equal(entry['fingerprint'], fingerprintOf(current));
  t.equal(entry['key_seq'], 2);
  t.same(entry['previous_fingerprints'], [fingerprintOf(alice.keys[0]?.publicKey as Uint8Array), fingerprintOf(alice.keys[1]?.publicKey as Uint8Array)]);
  t.equal(entry['key_rotated_at'], '2026-03-04T05:06:07.001Z', 'the time its last statement was signed');
  t.equal(entry['safety_number'], safetyNumber(node.identity.publicKey, current));
  const plain = listed.find((peer) => peer['peer'] === unrotated) as Record<string, unknown>;
  t.equal(plain['key_seq'], 0);
  t.same(plain['previous_fingerprints'], []);
  t.equal(plain['key_rotated_at'], null);

  // This node's own rotation changes every safety number too.
  const before = entry['safety_number'];
  await rotateIdentity({}, node);
  const after = ((await peersOperation({}, node)).data as { peers: Record<string, unknown>[] }).peers.find((peer) => peer['peer'] === alice.peerId);
  t.not(after?.['safety_number'], before);
  t.equal(after?.['safety_number'], safetyNumber(node.identity.publicKey, current));
});
