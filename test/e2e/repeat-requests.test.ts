import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult, RefusalReason, type Decision } from '../../extension/wire/decision';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { startNode, type TestNode } from '../helpers/node';
import { throwawayIdentity } from '../helpers/raw-peer';

const options = { handshakeTimeoutMs: 2000, maxMessagesPerKey: 1000, keepaliveIntervalMs: 60_000 };
/** Below the node's limit of 8 connections from one address. */
const PARALLEL = 4;

interface Responder {
  node: TestNode;
  address: string;
  key: Uint8Array;
  pendingFile: string;
}

async function nodeWith(t: Test, env: Record<string, string> = {}): Promise<Responder> {
  const node = await startNode(t, { env });
  const address = ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  const key = publicKeyFromPeerId((await node.call('identity'))['peer_id'] as string);
  return { node, address, key, pendingFile: join(node.dataDir, 'pending_requests.json') };
}

/** One pairing request over a full handshake, with a fresh request id as a re-run `pair` sends. */
async function ask(target: Responder, identity: StaticIdentity, displayName: string): Promise<Decision> {
  const payload = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort: 0, displayName } as const;
  const socket = await dial(target.address, DEFAULT_TRANSPORT_LIMITS);
  return (await initiateChannel(socket, identity, target.key, payload, target.address, options)).decision;
}

/** Every write replaces the file, so the same inode, mtime and content mean no write. */
function fileState(path: string): { ino: bigint; mtimeNs: bigint; content: string } {
  const { ino, mtimeNs } = statSync(path, { bigint: true });
  return { ino, mtimeNs, content: readFileSync(path, 'utf8') };
}

async function networkRefusals(node: TestNode): Promise<Record<string, number>> {
  return ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
}

async function incoming(node: TestNode): Promise<Record<string, unknown>[]> {
  return (await node.call('requests'))['incoming'] as Record<string, unknown>[];
}

const STORED = { result: DecisionResult.REQUEST_STORED, reason: RefusalReason.NONE };
const BUSY = { result: DecisionResult.REFUSED, reason: RefusalReason.BUSY };

t.test('one key repeating its request as fast as it can: refused beyond the consent budget, counted, and the file never rewritten', async (t) => {
  // Burst 5, then 1 a minute: the flood ends long before a second token could refill.
  // The per-address handshake rate would refuse the repeats at TCP accept, before consent is asked: lifted, so consent's own limit is what is tested.
  const bob = await nodeWith(t, { P2P_COMM_CONSENT_BURST: '5', P2P_COMM_CONSENT_PER_MINUTE: '1', P2P_COMM_HANDSHAKE_RATE_BURST: '100000' });
  const mallory = throwawayIdentity();
  const malloryId = peerIdFromPublicKey(mallory.publicKey);
  t.same(await ask(bob, mallory, 'Mallory'), STORED);
  const [arrived] = await incoming(bob.node);
  const written = fileState(bob.pendingFile);

  const decisions: Decision[] = [];
  const repeats = 60;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (decisions.length < repeats) {
        decisions.push(await ask(bob, mallory, 'Mallory'));
      }
    }),
  );
  const stored = decisions.filter((decision) => decision.result === DecisionResult.REQUEST_STORED).length;
  const refused = decisions.filter((decision) => decision.result === DecisionResult.REFUSED);
  t.ok(stored >= 4 && stored <= 5, `the rest of the burst is taken (${stored}), and no more`);
  t.same(refused, Array(decisions.length - stored).fill(BUSY), 'every other repeat is refused as busy');
  t.equal((await networkRefusals(bob.node))['consent_request_rate_limited'], refused.length, 'and counted');

  t.same(fileState(bob.pendingFile), written, 'pending_requests.json was not written once by the repeats');
  t.same(await incoming(bob.node), [arrived], 'the request is the one that arrived, id included, with no change');
  t.equal(arrived?.['changed'], null);
  t.equal(bob.node.events.filter((e) => e.type === 'p2p.peer.request' && e.data['peer'] === malloryId).length, 1, 'one event, for the request itself');
});

t.test('a repeat with a new name is listed and evented as a change, and accept pins the name that arrived', async (t) => {
  const bob = await nodeWith(t);
  const alice = throwawayIdentity();
  const aliceId = peerIdFromPublicKey(alice.publicKey);
  t.same(await ask(bob, alice, 'Alice'), STORED);
  const [arrived] = await incoming(bob.node);
  const beforeChange = fileState(bob.pendingFile);

  t.same(await ask(bob, alice, 'Alice (bank)'), STORED);
  t.not(fileState(bob.pendingFile).ino, beforeChange.ino, 'the change was written');
  const [listed, ...others] = await incoming(bob.node);
  t.same(others, []);
  const { changed, ...asListed } = listed ?? {};
  t.same({ ...asListed, changed: null }, arrived, 'the request as it arrived: id, name, address, times');
  t.match(changed, { display_name: { from: 'Alice', to: 'Alice (bank)' }, changes: 1, changed_at: /^\d{4}-\d\d-\d\dT/ }, 'with the change beside it');
  t.same(Object.keys(changed ?? {}).sort(), ['changed_at', 'changes', 'display_name'], 'the address did not change');
  const requestEvents = bob.node.events.filter((e) => e.type === 'p2p.peer.request' && e.data['peer'] === aliceId);
  t.same(requestEvents.map((e) => e.data['changed']), [null, changed], 'the change is evented');
  t.same(requestEvents.map((e) => e.data['display_name']), ['Alice', 'Alice']);

  t.match(await bob.node.call('accept', { request_id: arrived?.['request_id'], peer: aliceId }), { peer: aliceId, state: 'trusted' });
  t.match((await bob.node.call('peers'))['peers'], [{ peer: aliceId, display_name: 'Alice' }], 'trusted under the name the request arrived with');
});
