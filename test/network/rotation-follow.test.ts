import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { dhtAddress } from '../../extension/common/dht-address';
import { fingerprintOf } from '../../extension/common/peer-id';
import { DEFAULT_NETWORK_CONFIG, type DhtConfig } from '../../extension/config';
import { IDENTITY_FILE_NAME } from '../../extension/identity/node-identity';
import { CAPABILITIES } from '../../extension/node-parts';
import { Intent } from '../../extension/wire/handshake-payload';
import { CloseCode } from '../../extension/wire/secure-channel';
import { sdkStyleCard } from '../helpers/agent-cards';
import { localTestnet } from '../helpers/dht-testnet';
import { tempDir } from '../helpers/extension';
import { type InProcessNode, startInProcessNode } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

/**
 * Key rotation between running nodes (docs/protocol.md §19): the rotated
 * node's chain rides in handshake message 2 (as responder) or 3 (as
 * initiator), and the other node follows it whichever side dials; a node
 * that rotates closes its sessions with 4008; a key no chain certifies,
 * and a retired key above all, opens nothing; the DHT follows the key.
 */

const HOUR_MS = 3600_000;

type Node = InProcessNode;

interface NodeOptions {
  dataDir?: string;
  dht?: Partial<DhtConfig>;
}

/** An in-process node that redials quickly; DHT off unless asked for. */
function startNode(t: Test, name: string, options: NodeOptions = {}): Promise<Node> {
  return startInProcessNode(t, name, {
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    networkConfig: {
      ...DEFAULT_NETWORK_CONFIG,
      listenHost: '127.0.0.1',
      listenPort: 0,
      reconnectBaseMs: 50,
      dht: { ...DEFAULT_NETWORK_CONFIG.dht, mode: 'off', ...options.dht },
    },
  });
}

/** Each trusts the other under its current key, with no session yet. */
function pair(a: Node, b: Node): void {
  a.trust.trust({ publicKey: b.identity.publicKey, keyChain: b.identity.keyChain, displayName: 'node b', addresses: [b.address] });
  b.trust.trust({ publicKey: a.identity.publicKey, keyChain: a.identity.keyChain, displayName: 'node a', addresses: [a.address] });
}

function hex(key: Uint8Array | undefined): string {
  return Buffer.from(key ?? new Uint8Array(0)).toString('hex');
}

t.test('the chain in message 2: a peer away during the rotation follows when it dials the rotated node', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  pair(a, b);
  const bId = b.identity.peerId;
  const root = b.identity.publicKey;
  const rotated = await b.network.rotation.rotate({ graceMs: HOUR_MS });
  t.equal(b.identity.peerId, bId, 'the peer id stays');
  t.not(hex(b.identity.publicKey), hex(root));

  t.equal(await a.network.attemptNow(bId), 'connected', 'a, still pinned at the root, reaches b');
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey), 'and pins b’s new key');
  const record = a.trust.get(bId);
  t.same(record?.keyHistory.map((pinned) => hex(pinned.publicKey)), [hex(root), hex(b.identity.publicKey)], 'key history kept');
  t.equal(record?.keyChain.length, 1);
  t.same(a.events.of('p2p.peer.key_rotated'), [{ peer: bId, old_fingerprint: fingerprintOf(root), new_fingerprint: rotated.fingerprint, seq: 1 }]);
  t.same(b.events.of('p2p.identity.rotated'), [{ old_fingerprint: fingerprintOf(root), fingerprint: rotated.fingerprint, seq: 1 }]);
  await eventually(async () => b.identity.confirmed[a.identity.peerId] === 1, 'b to note that a confirmed its key');
  t.equal(b.network.rotation.chainToSend(a.identity.peerId, Intent.SESSION), undefined, 'no chain in message 3 to a peer that confirmed');
  t.equal(b.network.rotation.chainToSend(a.identity.peerId, Intent.PAIR_REQUEST)?.length, 1, 'but always with a pair request');
});

t.test('the chain in message 3: a peer away during the rotation follows when the rotated node dials it', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  pair(a, b);
  const bId = b.identity.peerId;
  const root = b.identity.publicKey;
  await b.network.rotation.rotate({ graceMs: HOUR_MS });
  t.equal(b.network.rotation.chainToSend(a.identity.peerId, Intent.SESSION)?.length, 1, 'a has not confirmed the new key yet');

  t.equal(await b.network.attemptNow(a.identity.peerId), 'connected', 'the rotated node dials the one that pins its root');
  await eventually(async () => a.network.isOnline(bId), 'a to adopt the session');
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey), 'a follows the chain b sent');
  t.equal(a.events.of('p2p.peer.key_rotated')[0]?.['old_fingerprint'], fingerprintOf(root));
  t.same(a.events.of('p2p.peer.key_mismatch'), [], 'nothing refused');
});

t.test('4008: a node that rotates closes its sessions; its peers reconnect and learn the chain', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  pair(a, b);
  const bId = b.identity.peerId;
  b.cards.setOwnCard(sdkStyleCard());
  t.equal(await a.network.attemptNow(bId), 'connected');
  await eventually(async () => b.network.isOnline(a.identity.peerId), 'b to see the session');
  await eventually(async () => a.cards.cardOf(bId), 'a to hold b’s agent card');

  await b.network.rotation.rotate({ graceMs: HOUR_MS });
  await eventually(async () => a.events.of('p2p.peer.disconnected').find((event) => event['code'] === CloseCode.KEY_ROTATED), 'a to see the session closed with 4008');
  await eventually(async () => a.network.isOnline(bId) && b.network.isOnline(a.identity.peerId), 'the session to come back');
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey), 'under b’s new key');
  const sent = await b.messenger.send({ peer: a.identity.peerId, type: 'text', content: 'signed by the new key', correlationId: null, ttlSeconds: null });
  await eventually(async () => b.events.of('p2p.message.delivered').some((event) => event['message_id'] === sent.messageId), 'the message to be delivered');
  await eventually(async () => a.events.of('p2p.peer.connected').length === 2, 'the second session to be announced');
  const refused = Object.keys(a.refusals.snapshot().network);
  t.same(refused.filter((reason) => reason.includes('mismatch') || reason.startsWith('agent_card_')), [], 'nothing refused on the way: the card b sends again is signed by its new key');
});

t.test('a retired key opens nothing, whichever side dials: key_mismatch with both fingerprints', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  pair(a, b);
  const bId = b.identity.peerId;
  const root = b.identity.publicKey;
  // A copy of b's identity from before the rotation: what a thief of the old key would hold.
  const stolen = tempDir(t);
  copyFileSync(join(b.dataDir, IDENTITY_FILE_NAME), join(stolen, IDENTITY_FILE_NAME));
  await b.network.rotation.rotate({ graceMs: HOUR_MS });
  t.equal(await a.network.attemptNow(bId), 'connected');
  await a.network.close();
  // b itself is away: only the thief answers in its name.
  await b.network.close();
  const current = b.identity.publicKey;

  const a2 = await startNode(t, 'node a', { dataDir: a.dataDir });
  const thief = await startNode(t, 'thief', { dataDir: stolen });
  t.equal(thief.identity.peerId, bId, 'the thief holds b’s peer id');
  thief.trust.trust({ publicKey: a2.identity.publicKey, displayName: 'node a', addresses: [a2.address] });
  t.equal(await thief.network.attemptNow(a2.identity.peerId), 'not_trusted_by_peer', 'a session asked with the retired root is refused');
  t.notOk(a2.network.isOnline(bId), 'and nothing was adopted as b');
  const mismatch = { peer: bId, expected_fingerprint: fingerprintOf(current), presented_fingerprint: fingerprintOf(root) };
  t.match(a2.events.of('p2p.peer.key_mismatch'), [{ ...mismatch, chain: 'older_key' }]);
  t.ok(a2.trust.get(bId)?.refusedKeys.some((refused) => hex(refused.publicKey) === hex(root)), 'the retired key is kept as refused');

  // a dials the thief's address believing it b's: the retired key is refused there too.
  a2.trust.recordSeen(bId, { address: thief.address });
  const addresses = a2.trust.get(bId)?.addresses ?? [];
  t.equal(addresses[0], thief.address);
  t.equal(await a2.network.attemptNow(bId), 'unreachable', 'the thief’s address refused (b’s own is closed)');
  t.match(a2.events.of('p2p.peer.key_mismatch')[1], { ...mismatch, chain: 'older_key', address: thief.address });
  t.equal(hex(a2.trust.currentKey(bId)), hex(current), 'b’s current key stays pinned');
});

t.test('pairing again from an old link with a revoked peer that rotated: its retired key is refused older_key, and no channel is left open', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  pair(a, b);
  const aId = a.identity.peerId;
  const bId = b.identity.peerId;
  const root = b.identity.publicKey;
  const stolen = tempDir(t);
  copyFileSync(join(b.dataDir, IDENTITY_FILE_NAME), join(stolen, IDENTITY_FILE_NAME));
  await b.network.rotation.rotate({ graceMs: HOUR_MS });
  t.equal(await a.network.attemptNow(bId), 'connected', 'a follows b to its new key');
  await b.network.close();
  await eventually(async () => !a.network.isOnline(bId), 'a to see b’s session closed');
  a.trust.revoke(bId);

  // a pairs again from b's old link, which names the root; the holder of that retired key answers, and would open a session.
  const thief = await startNode(t, 'thief', { dataDir: stolen });
  thief.trust.trust({ publicKey: a.identity.publicKey, displayName: 'node a', addresses: [a.address] });
  a.pending.addOutgoing({ requestId: 'cd'.repeat(16), publicKey: root, displayName: 'node b', address: thief.address, dhtAddress: null });
  t.equal(await a.network.attemptNow(bId), 'key_mismatch');
  t.match(a.events.of('p2p.peer.key_mismatch'), [{ peer: bId, presented_fingerprint: fingerprintOf(root), chain: 'older_key', address: thief.address }]);
  t.equal(a.refusals.get('network', 'handshake_internal'), 0, 'not a handshake failure');
  t.notOk(thief.network.isOnline(aId), 'the thief got no session: a never sent message 3');
  t.equal(a.trust.get(bId)?.state, 'revoked', 'b stays revoked, pinned at its current key');
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey));
});

t.test('a key change no chain certifies stays refused: key_mismatch names the expected and the presented key', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  const other = await startNode(t, 'other');
  // Another node answers at b's address: no chain at all, then a chain of its own (another root).
  a.trust.trust({ publicKey: b.identity.publicKey, displayName: 'node b', addresses: [other.address] });
  const bId = b.identity.peerId;
  t.equal(await a.network.attemptNow(bId), 'key_mismatch');
  t.match(a.events.of('p2p.peer.key_mismatch')[0], {
    peer: bId,
    expected_fingerprint: fingerprintOf(b.identity.publicKey),
    presented_fingerprint: fingerprintOf(other.identity.publicKey),
    chain: 'none',
  });
  await other.network.rotation.rotate({ graceMs: HOUR_MS });
  t.equal(await a.network.attemptNow(bId), 'key_mismatch');
  t.match(a.events.of('p2p.peer.key_mismatch')[1], { presented_fingerprint: fingerprintOf(other.identity.publicKey), chain: 'other_root' });
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey), 'the pinned key stays');
});

t.test('the DHT follows the key: the old DHT key still leads to the node until it retires, then goes quiet', async (t) => {
  const testnet = await localTestnet(t);
  const dht = { mode: 'on' as const, bootstrap: testnet.bootstrap.split(','), host: '127.0.0.1', connectTimeoutMs: 10_000 };
  const a = await startNode(t, 'node a', { dht });
  const b = await startNode(t, 'node b', { dht });
  await eventually(async () => b.network.dht.listeningKeys().length === 1 && a.network.dht.listeningKeys().length === 1, 'both to listen on the DHT');
  const oldDhtKey = b.network.dht.listeningKeys()[0] as Uint8Array;
  // a knows b only by its DHT address from before the rotation.
  a.trust.trust({ publicKey: b.identity.publicKey, displayName: 'node b', addresses: [] });
  b.trust.trust({ publicKey: a.identity.publicKey, displayName: 'node a', addresses: [a.address] });
  const bId = b.identity.peerId;
  a.trust.recordSeen(bId, { address: dhtAddress(oldDhtKey) });

  await b.network.rotation.rotate({ graceMs: HOUR_MS });
  // The rotation answers once the key is swapped; the DHT follows in the background.
  await eventually(async () => b.network.dht.listeningKeys().length === 2, 'b to listen under its new DHT key and, for the grace period, the old one');
  const keys = b.network.dht.listeningKeys().map(hex);
  t.equal(keys[1], hex(oldDhtKey));
  t.not(keys[0], hex(oldDhtKey), 'the current DHT key comes from the new seed');

  t.equal(await a.network.attemptNow(bId), 'connected', 'a reaches b through the old DHT key');
  t.equal(hex(a.trust.currentKey(bId)), hex(b.identity.publicKey), 'and follows b’s chain');
  const learned = await eventually(async () => a.trust.get(bId)?.addresses.find((address) => address === dhtAddress(b.network.dht.listeningKeys()[0] as Uint8Array)), 'a to learn b’s new DHT address from its hello');
  t.not(learned, dhtAddress(oldDhtKey));
  t.notOk(a.trust.get(bId)?.addresses.includes(dhtAddress(oldDhtKey)), 'the old DHT address is replaced');

  t.ok(b.identity.retireExpired(new Date(Date.now() + 2 * HOUR_MS)), 'past the grace period the old seed is erased');
  await b.network.dht.followIdentity();
  t.same(b.network.dht.listeningKeys().map(hex), [keys[0]], 'and its DHT key no longer listened under');
});

t.test('key-rotation-v1 is announced', async (t) => {
  t.ok(CAPABILITIES.includes('key-rotation-v1'));
});

t.test('pairing with a node that rotated since its link was made: the chain takes the link’s key to its current one', async (t) => {
  const a = await startNode(t, 'node a');
  const b = await startNode(t, 'node b');
  const bId = b.identity.peerId;
  // a asks to pair under the key b's link named (its root); b already trusts a, so the answer is a session.
  a.pending.addOutgoing({ requestId: 'ab'.repeat(16), publicKey: b.identity.publicKey, displayName: 'node b', address: b.address, dhtAddress: null });
  b.trust.trust({ publicKey: a.identity.publicKey, displayName: 'node a', addresses: [a.address] });
  await b.network.rotation.rotate({ graceMs: HOUR_MS });

  t.equal(await a.network.attemptNow(bId), 'connected');
  const record = a.trust.get(bId);
  t.equal(record?.state, 'trusted', 'paired under b’s peer id');
  t.equal(hex(record?.publicKey), hex(b.identity.publicKey), 'pinning b’s current key');
  t.equal(record?.keyChain.length, 1, 'with the chain that certifies it');
  t.equal(a.pending.findOutgoingByPeer(bId), undefined, 'the request is done');
});

t.test('the retire timer: once the grace period is over, the replaced key’s seed is erased', async (t) => {
  const b = await startNode(t, 'node b');
  const root = b.identity.publicKey;
  await b.network.rotation.rotate({ graceMs: 300 });
  t.same(b.identity.retiring.map((key) => hex(key.publicKey)), [hex(root)], 'kept during the grace period');
  await eventually(async () => b.identity.retiring.length === 0, 'the seed to be erased at its retire time');
  const file = JSON.parse(readFileSync(join(b.dataDir, IDENTITY_FILE_NAME), 'utf8')) as { retiring: unknown[]; chain: string };
  t.same(file.retiring, [], 'and gone from the identity file');
  t.ok(file.chain.length > 0, 'the chain stays');
});
