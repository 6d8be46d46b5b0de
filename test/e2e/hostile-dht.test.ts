import { randomBytes } from 'node:crypto';
import type HyperDHT from 'hyperdht';
import t from 'tap';
import { printPairingLink } from '../../extension/common/pairing-link';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { type DhtKeySigner, dhtPublicKeyOf, signDhtKeyBinding } from '../../extension/wire/dht-key-binding';
import { encodeHello } from '../../extension/wire/hello';
import { MSG_HELLO } from '../../extension/wire/session-messages';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { dhtEnv, dhtOnlyLink, localTestnet } from '../helpers/dht-testnet';
import { dhtListening, eventually, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer, reconnectRawPeer, throwawayIdentity } from '../helpers/raw-peer';

/** An identity that can state a DHT key as its own, as a node does. */
function dhtSigner(identity: StaticIdentity = throwawayIdentity()): DhtKeySigner {
  return { ...identity, dhtSeed: new Uint8Array(randomBytes(32)) };
}

async function refusals(node: TestNode): Promise<Record<string, number>> {
  return ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
}

async function requests(node: TestNode): Promise<{ incoming: unknown[]; outgoing: unknown[] }> {
  return (await node.call('requests')) as { incoming: unknown[]; outgoing: unknown[] };
}

t.test('a pairing link whose DHT key is signed by someone else is refused, and nothing is stored', async (t) => {
  const testnet = await localTestnet(t);
  const node = await startNode(t, { env: dhtEnv(testnet) });
  const bob = dhtSigner();
  const eve = dhtSigner();
  const bobKey = dhtPublicKeyOf(bob.dhtSeed);
  const forgeries: [string, Uint8Array][] = [
    ['Eve’s own binding, in a link naming Bob', signDhtKeyBinding(eve)],
    ['Bob’s DHT key with Eve’s signature', Buffer.concat([bobKey, signDhtKeyBinding(eve).subarray(32)])],
    ['Bob’s binding with one signature bit flipped', Buffer.from(signDhtKeyBinding(bob)).map((byte, i) => (i === 95 ? byte ^ 1 : byte))],
  ];
  for (const [label, dhtBinding] of forgeries) {
    for (const addresses of [[], ['127.0.0.1:9']]) {
      const link = printPairingLink({ peerId: peerIdFromPublicKey(bob.publicKey), addresses, displayName: 'Bob', dhtBinding, expiresAt: null });
      const response = await node.attempt('pair', { link });
      t.match(
        response.error,
        { code: -32011, message: /^invalid_input: invalid pairing link: its DHT key is not signed both by the peer it names and by that key; ask the other person for a fresh link$/ },
        `${label}, ${addresses.length === 0 ? 'no address' : 'beside a direct address'}`,
      );
    }
  }
  // Eve names Bob's DHT key in a link of her own, signed by her: she cannot sign with Bob's DHT key.
  const eveText = Buffer.concat([Buffer.from('p2p-comm dht key v1\0'), eve.publicKey, bobKey]);
  const aimed = Buffer.concat([bobKey, eve.sign(eveText), Buffer.from(signDhtKeyBinding(bob).subarray(96))]);
  const aimedLink = printPairingLink({ peerId: peerIdFromPublicKey(eve.publicKey), addresses: [], displayName: 'Eve', dhtBinding: aimed, expiresAt: null });
  t.match((await node.attempt('pair', { link: aimedLink })).error, { code: -32011 }, 'a link that aims the node at someone else’s DHT key');
  t.same(await requests(node), { incoming: [], outgoing: [] }, 'no request was stored');
  // The same link, signed by Bob himself, is taken: the refusals above were the signature's doing.
  const genuine = printPairingLink({ peerId: peerIdFromPublicKey(bob.publicKey), addresses: [], displayName: 'Bob', dhtBinding: signDhtKeyBinding(bob), expiresAt: null });
  const paired = await node.call('pair', { link: genuine });
  t.equal(paired['dht_address'], `dht:${Buffer.from(bobKey).toString('hex')}`, 'Bob’s own binding is stored as his DHT address');
  t.equal((await requests(node)).outgoing.length, 1);
});

t.test('a paired peer whose hello names a DHT key it did not sign is refused and counted; the key is not recorded', async (t) => {
  const testnet = await localTestnet(t);
  const node = await startNode(t, { env: dhtEnv(testnet) });
  const nodeId = (await node.call('identity'))['peer_id'] as string;
  const address = ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  const mallory = await pairedRawPeer(node, address, nodeId, 'mallory');
  const signer = dhtSigner(mallory.identity);
  const stranger = dhtSigner();
  const hello = (dhtBinding: Uint8Array) => encodeHello({ protocolVersion: 1, agent: 'mallory', capabilities: ['text'], software: 'p2p-comm-test/0', dhtBinding });
  const addressesOfMallory = async () =>
    ((await node.call('peers'))['peers'] as { peer: string; addresses: string[] }[]).find((peer) => peer.peer === mallory.peerId)?.addresses ?? [];

  // Each session's first hello is the one read, as a node sends one hello per session.
  const session = (dhtBinding: Uint8Array) => reconnectRawPeer(address, nodeId, mallory.identity, undefined, dhtBinding);
  const replayed = signDhtKeyBinding(stranger);
  const first = await session(replayed);
  await eventually(async () => (await refusals(node))['bad_dht_key_binding'] === 1, 'the replayed binding refused');
  // Once per session: a later hello on the same session teaches nothing, good or bad.
  const own = signDhtKeyBinding(signer);
  const ownAddress = `dht:${Buffer.from(dhtPublicKeyOf(signer.dhtSeed)).toString('hex')}`;
  const malformed = Buffer.from(JSON.stringify({ protocol_version: 1, agent: 'mallory', capabilities: ['text'], software: 'x/1', dht: 'not base64url!' }));
  first.channel.send(MSG_HELLO, hello(own));
  first.channel.send(MSG_HELLO, hello(replayed));
  // A session's messages are handled in order: once this one is dropped, the two before it have been handled.
  first.channel.send(MSG_HELLO, malformed);
  await eventually(async () => (await refusals(node))['bad_hello'] === 1, 'the hellos after the first handled');
  t.notOk((await addressesOfMallory()).includes(ownAddress), 'a second hello in one session is not learnt from');
  t.equal((await refusals(node))['bad_dht_key_binding'], 1, 'nor refused: it is not looked at');

  // A bit of the key flipped, on a new session: another key, under signatures that do not cover it.
  const flipped = Buffer.from(own).map((byte, i) => (i === 5 ? byte ^ 1 : byte));
  await session(flipped);
  await eventually(async () => (await refusals(node))['bad_dht_key_binding'] === 2, 'the altered binding refused');

  // Mallory's own binding, first on a new session, is recorded: the refusals above were the binding's doing.
  await session(own);
  const recorded = await eventually(async () => {
    const addresses = await addressesOfMallory();
    return addresses.includes(ownAddress) ? addresses : undefined;
  }, 'mallory’s own DHT key recorded');
  const refusedKeys = [replayed, flipped].map((binding) => `dht:${Buffer.from(binding.subarray(0, 32)).toString('hex')}`);
  t.same(recorded.filter((a) => a.startsWith('dht:')), [ownAddress], 'only the key Mallory signed herself, never the refused ones');
  t.notOk(refusedKeys.some((refused) => recorded.includes(refused)));
  t.match(await refusals(node), { bad_dht_key_binding: 2, bad_hello: 1 }, 'no more refusals than the bad hellos');
  t.equal(((await node.call('peers'))['peers'] as { peer: string; online: boolean }[]).find((peer) => peer.peer === mallory.peerId)?.online, true, 'the session lives on: two refusals are within the budget');
});

t.test('a DHT stranger that sends garbage or nothing instead of an HTTP upgrade is cut off and counted; the node keeps working', async (t) => {
  const testnet = await localTestnet(t);
  const node = await startNode(t, { env: dhtEnv(testnet) });
  await dhtListening(node);
  const nodeKey = Buffer.from(((await node.call('status'))['dht'] as { public_key: string }).public_key, 'hex');
  const strangerNode = testnet.createNode();
  const HyperDht = strangerNode.constructor as typeof HyperDHT;

  /**
   * A DHT connection to the node from a fresh key that, once open, sends
   * `send`; resolves when the node closes it (a reset, as often as not),
   * saying whether it had opened: the firewall let it through.
   */
  const stranger = (send: Buffer | null): Promise<boolean> =>
    new Promise((resolve) => {
      const stream = strangerNode.connect(nodeKey, { keyPair: HyperDht.keyPair() });
      let opened = false;
      stream.on('error', () => undefined);
      stream.once('open', () => {
        opened = true;
        if (send !== null) stream.write(send);
      });
      stream.once('close', () => resolve(opened));
    });

  t.equal(await stranger(Buffer.from('\x16\x03\x01\x02\x00garbage that is no HTTP request\r\n\r\n', 'latin1')), true, 'the first stranger got through the firewall');
  t.equal((await refusals(node))['bad_upgrade'], 1, 'bytes that are not HTTP: refused at once, counted as bad_upgrade');
  t.equal(await stranger(null), true, 'so did the second');
  t.equal((await refusals(node))['upgrade_timeout'], 1, 'silence: cut at the upgrade deadline, counted as upgrade_timeout');
  await eventually(async () => ((await node.call('status'))['connections'] as { tcp: number }).tcp === 0, 'their connection slots freed');

  const alice = await startNode(t, { env: dhtEnv(testnet) });
  const paired = await alice.call('pair', { link: await dhtOnlyLink(node) });
  t.equal(paired['state'], 'delivered', 'a real peer still pairs with the node through the DHT');
  t.equal(((await requests(node)).incoming as unknown[]).length, 1, 'and its request is there to accept');
});
