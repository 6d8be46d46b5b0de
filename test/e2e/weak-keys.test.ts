import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { printPairingLink } from '../../extension/common/pairing-link';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult } from '../../extension/wire/decision';
import { Intent } from '../../extension/wire/handshake-payload';
import { ed25519Verify } from '../../extension/wire/primitives';
import { eventually, startNode, type TestNode } from '../helpers/node';
import { throwawayIdentity } from '../helpers/raw-peer';
import { IDENTITY_KEY, SMALL_ORDER_IDENTITY, WEAK_KEYS } from '../helpers/weak-keys';

const options = { handshakeTimeoutMs: 2000, maxMessagesPerKey: 1000, keepaliveIntervalMs: 60_000 };
const SMALL_ORDER_PEER = peerIdFromPublicKey(IDENTITY_KEY);

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

function pairRequest(name: string) {
  return { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort: 0, displayName: name } as const;
}

/** The incoming requests in pending_requests.json itself, not as the node reports them. */
function storedIncoming(node: TestNode): { peer: string }[] {
  const path = join(node.dataDir, 'pending_requests.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { incoming: { peer: string }[] }).incoming : [];
}

t.test('a pairing request from the small-order key 01 00..00 is refused at the handshake: nothing stored, no event, counted', async (t) => {
  const bob = await startNode(t);
  const bobKey = publicKeyFromPeerId((await bob.call('identity'))['peer_id'] as string);
  const address = await addressOf(bob);
  t.equal(ed25519Verify(IDENTITY_KEY, Buffer.from('any transcript'), SMALL_ORDER_IDENTITY.sign(new Uint8Array(0))), true, 'its forged signature verifies under OpenSSL');

  const refused = initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), SMALL_ORDER_IDENTITY, bobKey, pairRequest('Mallory'), address, options);
  await t.rejects(refused, 'the node closes the connection instead of deciding');

  // A real request after it: once its event is in, any event of the refused one would be too.
  const honest = throwawayIdentity();
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), honest, bobKey, pairRequest('Carol'), address, options);
  t.equal(outcome.decision.result, DecisionResult.REQUEST_STORED);
  await eventually(async () => {
    await bob.call('status');
    return bob.events.some((event) => event.type === 'p2p.peer.request');
  }, 'the honest request event');

  const honestPeer = peerIdFromPublicKey(honest.publicKey);
  t.same(bob.events.filter((event) => event.type === 'p2p.peer.request').map((event) => event.data['peer']), [honestPeer], 'no event for the small-order key');
  t.same(((await bob.call('requests'))['incoming'] as { peer: string }[]).map((request) => request.peer), [honestPeer], 'requests lists only the honest one');
  t.same(storedIncoming(bob).map((request) => request.peer), [honestPeer], 'pending_requests.json holds only the honest one');
  const refusals = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.equal(refusals['handshake_identity_key_small_order'], 1, 'counted under its reason');
  t.equal(refusals['handshake_bad_signature'], undefined, 'not as a bad signature: the signature was fine');
});

t.test('the host cannot pair with, or accept, a key that stands for no one', async (t) => {
  const alice = await startNode(t);
  const link = printPairingLink({ peerId: SMALL_ORDER_PEER, addresses: ['127.0.0.1:9'], displayName: 'Mallory', dhtBinding: null, expiresAt: null });

  const byLink = await alice.attempt('pair', { link });
  t.match(byLink.error, {
    code: -32011,
    message: /^invalid_input: invalid pairing link: the key in its peer id is a small-order Ed25519 point, for which anyone can make valid signatures \(small_order\); ask the other person for a fresh link/,
    data: { error: 'invalid_input', details: { path: '/link', reason: 'small_order' } },
  });
  for (const [reason, key] of Object.entries(WEAK_KEYS)) {
    const peer = peerIdFromPublicKey(key);
    const byId = await alice.attempt('pair', { peer, address: '127.0.0.1:9' });
    t.match(byId.error, { code: -32011, message: new RegExp(`^invalid_input: ${peer} is not a usable peer id: .*\\(${reason}\\)`), data: { details: { path: '/peer', reason } } }, `pair by id: ${reason}`);
  }
  const accept = await alice.attempt('accept', { request_id: '0'.repeat(32), peer: SMALL_ORDER_PEER });
  t.match(accept.error, { code: -32011, message: /\(small_order\)/ }, 'accept names the reason before looking the request up');
  t.same((await alice.call('requests'))['outgoing'], [], 'no outgoing request was stored');
  const rpc = ((await alice.call('status'))['refusals'] as { rpc: Record<string, number> }).rpc;
  t.equal(rpc['invalid_input'], 5, 'each refusal counted');
});
