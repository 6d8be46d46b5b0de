import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventually, pairNodes, startNode } from '../helpers/node';

function trustFile(dataDir: string): { peers: Record<string, { state: string; public_key: string; refused_keys: { public_key: string }[] }> } {
  return JSON.parse(readFileSync(join(dataDir, 'trusted_peers.json'), 'utf8'));
}

t.test('pair -> accept: both sides trust each other, on disk too', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);

  const alicePeers = (await alice.call('peers'))['peers'] as Record<string, unknown>[];
  t.match(alicePeers, [{ peer: bId, online: true }]);
  const bobPeers = (await bob.call('peers'))['peers'] as Record<string, unknown>[];
  t.match(bobPeers, [{ peer: aId, online: true }]);
  t.match(alicePeers[0]?.['safety_number'], /^[0-9]{5}( [0-9]{5}){13}$/);
  t.equal(alicePeers[0]?.['safety_number'], bobPeers[0]?.['safety_number'], 'both see the same safety number');
  t.equal(trustFile(alice.dataDir).peers[bId]?.state, 'trusted');
  t.equal(trustFile(bob.dataDir).peers[aId]?.state, 'trusted');
  t.same((await alice.call('requests'))['outgoing'], [], 'alice has nothing pending');
  t.same((await bob.call('requests'))['incoming'], [], 'bob has nothing pending');
  t.ok(bob.events.some((e) => e.type === 'p2p.peer.request' && e.data['peer'] === aId), 'bob was told of the request');
  t.ok(alice.events.some((e) => e.type === 'p2p.peer.paired' && e.data['peer'] === bId), 'alice was told of the pairing');
});

t.test('accept names the requester: a request from another peer is refused and nothing is trusted', async (t) => {
  const [alice, bob, carol] = await Promise.all([startNode(t), startNode(t), startNode(t)]);
  const link = (await bob.call('identity'))['link'] as string;
  const asked = await alice.call('pair', { link });
  await carol.call('pair', { link });
  const aliceId = (await alice.call('identity'))['peer_id'] as string;
  const carolId = (await carol.call('identity'))['peer_id'] as string;
  const incoming = (await bob.call('requests'))['incoming'] as Record<string, string>[];
  const fromAlice = incoming.find((request) => request['peer'] === aliceId);
  t.equal(fromAlice?.['safety_number'], asked['safety_number'], 'the requester and bob see the same safety number');

  const mismatched = await bob.attempt('accept', { request_id: fromAlice?.['request_id'], peer: carolId });
  t.equal(mismatched.error?.code, -32018);
  t.match(mismatched.error?.data, { error: 'peer_mismatch' });
  t.match(mismatched.error?.message, /^peer_mismatch: pending request [0-9a-f]{32} came from another peer, not from [a-z2-7]{52}; nothing was accepted\. .*requests operation/);
  t.same((await bob.call('peers'))['peers'], [], 'nobody is trusted');
  t.equal(((await bob.call('requests'))['incoming'] as unknown[]).length, 2, 'both requests still wait');

  const accepted = await bob.call('accept', { request_id: fromAlice?.['request_id'], peer: aliceId });
  t.match(accepted, { peer: aliceId, state: 'trusted', safety_number: asked['safety_number'] });
});

t.test('reject: the requester learns the refusal and is not trusted', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const link = (await bob.call('identity'))['link'] as string;
  await alice.call('pair', { link });
  const request = ((await bob.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  t.match(await bob.call('reject', { request_id: request?.request_id }), { state: 'rejected' });
  t.same((await bob.call('requests'))['incoming'], []);
  const again = await alice.call('pair', { link });
  t.equal(again['state'], 'rejected', 'a new request after a refusal is refused');
  t.same((await bob.call('requests'))['incoming'], [], 'and not stored');
  t.same((await alice.call('peers'))['peers'], []);
  t.same((await bob.call('peers'))['peers'], []);
  const status = await bob.call('status');
  t.ok(((status['refusals'] as { network: Record<string, number> }).network['request_from_rejected_peer'] ?? 0) >= 1, 'counted');
});

t.test('revoke: connection closed, the peer told, pinned key kept', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  t.match(await bob.call('revoke', { peer: aId }), { peer: aId, state: 'revoked', notified: true });
  t.same((await bob.call('peers'))['peers'], [], 'bob no longer lists alice');
  // Alice is told on the session and stops reaching out (revocation.test.ts has the details).
  await eventually(async () => {
    const peers = (await alice.call('peers'))['peers'] as { state: string }[];
    return peers[0]?.state === 'revoked_by_peer';
  }, 'alice to learn of the revocation');
  t.match((await alice.call('peers'))['peers'], [{ peer: bId, online: false }]);
  t.equal(trustFile(bob.dataDir).peers[aId]?.state, 'revoked', 'the record stays, marked revoked');
  const revoked = await bob.attempt('revoke', { peer: bId });
  t.equal(revoked.error?.code, -32013, 'revoking an unknown peer is NOT_FOUND');
});

t.test('restart both: they reconnect without asking for consent again', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await alice.extension.shutdown();
  await bob.extension.shutdown();
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  t.equal((await alice2.call('identity'))['peer_id'], aId, 'same identity after restart');
  await eventually(async () => {
    const peers = (await alice2.call('peers'))['peers'] as { peer: string; online: boolean }[];
    return peers.some((p) => p.peer === bId && p.online);
  }, 'alice to reconnect to bob');
  await eventually(async () => {
    const peers = (await bob2.call('peers'))['peers'] as { peer: string; online: boolean }[];
    return peers.some((p) => p.peer === aId && p.online);
  }, 'bob to see alice online');
  t.same((await bob2.call('requests'))['incoming'], [], 'no new consent request');
});

t.test('a known peer id presenting another key is refused and reported; the pinned key stays', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  const bobPort = String(((await bob.call('status'))['listening'] as { port: number }).port);
  const pinned = trustFile(alice.dataDir).peers[bId]?.public_key;
  await bob.extension.shutdown();
  // Another node takes over Bob's address.
  const mallory = await startNode(t, { env: { P2P_COMM_LISTEN_PORT: bobPort } });
  const malloryFingerprint = (await mallory.call('identity'))['fingerprint'];
  await eventually(async () => {
    await alice.call('status');
    return alice.events.find((e) => e.type === 'p2p.peer.key_mismatch');
  }, 'alice to report the key mismatch');
  const mismatch = alice.events.find((e) => e.type === 'p2p.peer.key_mismatch');
  t.match(mismatch?.data, { peer: bId, presented_fingerprint: malloryFingerprint });
  const record = trustFile(alice.dataDir).peers[bId];
  t.equal(record?.public_key, pinned, 'pinned key unchanged');
  t.ok((record?.refused_keys.length ?? 0) >= 1, 'the presented key is recorded as refused');
  t.match((await alice.call('peers'))['peers'], [{ peer: bId, online: false }]);
  t.same((await mallory.call('peers'))['peers'], [], 'the impostor learned nothing that makes it a peer');
});

t.test('restarting both at once: they settle on one connection, and agree which', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await Promise.all([alice.extension.shutdown(), bob.extension.shutdown()]);
  // Both start at once and both reach out to the other immediately; which
  // connection survives depends on timing (survivor.ts decides real ties).
  const [alice2, bob2] = await Promise.all([startNode(t, { dataDir: alice.dataDir }), startNode(t, { dataDir: bob.dataDir })]);
  const view = async (node: typeof alice2, peer: string) => {
    const peers = (await node.call('peers'))['peers'] as { peer: string; connection: string | null }[];
    const active = ((await node.call('status'))['connections'] as { active: number }).active;
    return { connection: peers.find((p) => p.peer === peer)?.connection ?? null, active };
  };
  const agreed = await eventually(async () => {
    const a = await view(alice2, bId);
    const b = await view(bob2, aId);
    const consistent =
      a.active === 1 && b.active === 1 && a.connection !== null && b.connection !== null && a.connection !== b.connection;
    return consistent ? { a, b } : false;
  }, 'one connection both sides agree on', 20_000);
  t.not(agreed.a.connection, agreed.b.connection, 'one side dialled, the other accepted');
});
