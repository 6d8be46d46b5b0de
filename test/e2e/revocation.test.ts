import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fingerprintOf, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { signRevocationNotice } from '../../extension/wire/revocation-notice';
import { MSG_REVOCATION } from '../../extension/wire/session-messages';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { acceptChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult, RefusalReason } from '../../extension/wire/decision';
import { CloseCode } from '../../extension/wire/secure-channel';
import { pairedRawPeer, throwawayIdentity } from '../helpers/raw-peer';

/** How long a peer may take to learn of a revocation: a round trip on loopback, or one reconnect. */
const TOLD_WITHIN_MS = 5000;

interface PeerEntry {
  peer: string;
  state: string;
  online: boolean;
  revoked_by_peer_at: string | null;
}

async function peerEntry(node: TestNode, peerId: string): Promise<PeerEntry | undefined> {
  return ((await node.call('peers'))['peers'] as PeerEntry[]).find((entry) => entry.peer === peerId);
}

async function stateOf(node: TestNode, peerId: string, state: string): Promise<PeerEntry> {
  return eventually(
    async () => {
      const entry = await peerEntry(node, peerId);
      return entry?.state === state ? entry : false;
    },
    `${peerId} to be ${state}`,
    TOLD_WITHIN_MS,
  );
}

async function networkRefusals(node: TestNode): Promise<Record<string, number>> {
  return ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
}

async function messageStatus(node: TestNode, messageId: string): Promise<Record<string, unknown>> {
  return node.call('message_status', { message_id: messageId });
}

async function send(node: TestNode, peer: string, content: string): Promise<string> {
  return (await node.call('send', { peer, type: 'text', content }))['message_id'] as string;
}

/** Waits until the event arrived at the host (each call lets the node publish what it queued). */
async function published(node: TestNode, type: string, matches: (data: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const event = await eventually(async () => {
    await node.call('status');
    return node.events.find((e) => e.type === type && matches(e.data));
  }, `event ${type}`);
  return event.data;
}

function trustState(node: TestNode, peerId: string): string | undefined {
  const file = JSON.parse(readFileSync(join(node.dataDir, 'trusted_peers.json'), 'utf8')) as { peers: Record<string, { state: string }> };
  return file.peers[peerId]?.state;
}

t.test('revoked on a live session: the peer is told, its waiting messages fail, sending is refused', async (t) => {
  // Alice's inbox takes one message from Bob; the rest wait at Bob, deferred.
  const alice = await startNode(t, { env: { P2P_COMM_INBOX_MAX_MESSAGES: '1' } });
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  t.match(await peerEntry(bob, aId), { state: 'trusted', revoked_by_peer_at: null }, 'a paired peer is listed as trusted');

  const delivered = await send(bob, aId, 'stored at alice');
  await eventually(async () => (await messageStatus(bob, delivered))['state'] === 'delivered', 'the first message to be delivered');
  const waiting = [await send(bob, aId, 'waits 1'), await send(bob, aId, 'waits 2'), await send(bob, aId, 'waits 3')];
  await eventually(async () => (await messageStatus(bob, waiting[0] as string))['reason'] === 'inbox_full', 'alice to defer the rest');

  t.match(await alice.call('revoke', { peer: bId }), { peer: bId, state: 'revoked', notified: true });
  const entry = await stateOf(bob, aId, 'revoked_by_peer');
  t.match(entry, { online: false, revoked_by_peer_at: /^\d{4}-\d\d-\d\dT/ });
  t.equal(trustState(bob, aId), 'revoked_by_peer', 'on disk too');
  // The trust store records the revocation first; the outbox follows.
  await eventually(async () => (await messageStatus(bob, waiting[2] as string))['state'] === 'failed', 'the waiting messages to fail', TOLD_WITHIN_MS);

  for (const id of waiting) {
    t.match(await messageStatus(bob, id), { state: 'failed', reason: 'revoked_by_peer' }, `${id} failed with the reason`);
  }
  t.match(await messageStatus(bob, delivered), { state: 'delivered' }, 'what was delivered stays delivered');
  t.match(((await bob.call('status'))['queues'] as { outbox: unknown }).outbox, { queued: 0, sent: 0, failed: 3 });

  const refused = await bob.attempt('send', { peer: aId, type: 'text', content: 'still there?' });
  t.equal(refused.error?.code, -32017, 'send is refused at once');
  t.match(refused.error?.data, { error: 'revoked_by_peer' });
  t.match(refused.error?.message, /revoked the pairing.*pair again/);

  t.same(await published(bob, 'p2p.peer.revoked_by_peer', (data) => data['peer'] === aId), {
    peer: aId,
    fingerprint: fingerprintOf(publicKeyFromPeerId(aId)),
    display_name: (await alice.call('identity'))['display_name'],
  });
  for (const id of waiting) {
    t.same(await published(bob, 'p2p.message.failed', (data) => data['message_id'] === id), { message_id: id, peer: aId, reason: 'revoked_by_peer' });
  }
  t.match((await bob.call('status'))['connections'], { active: 0, retrying: 0 }, 'bob stops reaching out');
  t.match((await alice.call('status'))['connections'], { active: 0, retrying: 0 }, 'alice never reaches out');
  t.same((await alice.call('peers'))['peers'], [], 'alice no longer lists bob');
});

t.test('revoked while offline: the peer learns it when it next connects; offline alone is not a revocation', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await alice.extension.shutdown();
  await eventually(async () => (await peerEntry(bob, aId))?.online === false, 'bob to see alice go');
  const queued = await send(bob, aId, 'for later');
  t.match(await messageStatus(bob, queued), { state: 'queued' });
  t.match(await peerEntry(bob, aId), { state: 'trusted' }, 'an unreachable peer has not revoked anyone');
  await bob.extension.shutdown();

  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  t.match(await alice2.call('revoke', { peer: bId }), { state: 'revoked', notified: false });
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  await stateOf(bob2, aId, 'revoked_by_peer');
  // The trust store records the revocation first; the outbox follows.
  await eventually(async () => (await messageStatus(bob2, queued))['state'] === 'failed', 'the waiting message to fail', TOLD_WITHIN_MS);
  t.match(await messageStatus(bob2, queued), { state: 'failed', reason: 'revoked_by_peer' });
  await published(bob2, 'p2p.peer.revoked_by_peer', (data) => data['peer'] === aId);
  const refusals = await networkRefusals(alice2);
  t.ok((refusals['revoked_session'] ?? 0) >= 1, 'alice answered revoked');
  t.equal(refusals['untrusted_session'], undefined, 'and never plain not-trusted');
  t.match((await bob2.call('status'))['connections'], { retrying: 0 }, 'bob stops reaching out');
});

t.test('messages left pending for a peer recorded as revoked_by_peer fail when the node starts', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId } = await pairNodes(alice, bob);
  await alice.extension.shutdown();
  await eventually(async () => (await peerEntry(bob, aId))?.online === false, 'bob to see alice go');
  const queued = await send(bob, aId, 'left behind');
  await bob.extension.shutdown();
  // As if Bob had stopped between recording the revocation and failing the messages.
  const path = join(bob.dataDir, 'trusted_peers.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { peers: Record<string, { state: string; revoked_at: string | null }> };
  file.peers[aId] = { ...(file.peers[aId] as { state: string; revoked_at: string | null }), state: 'revoked_by_peer', revoked_at: new Date().toISOString() };
  writeFileSync(path, JSON.stringify(file));
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  await eventually(async () => (await messageStatus(bob2, queued))['state'] === 'failed', 'the message to fail', TOLD_WITHIN_MS);
  t.match(await messageStatus(bob2, queued), { reason: 'revoked_by_peer' });
  t.same(await published(bob2, 'p2p.message.failed', (data) => data['message_id'] === queued), { message_id: queued, peer: aId, reason: 'revoked_by_peer' });
});

t.test('a peer that merely does not know us (not trusted) has not revoked us', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await alice.extension.shutdown();
  // Alice's node loses its record of Bob, as if its trust store had been replaced.
  const path = join(alice.dataDir, 'trusted_peers.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { peers: Record<string, unknown> };
  delete file.peers[bId];
  writeFileSync(path, JSON.stringify(file));
  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  await eventually(async () => ((await networkRefusals(alice2))['untrusted_session'] ?? 0) >= 1, 'alice to refuse bob as unknown');
  t.match(await peerEntry(bob, aId), { state: 'trusted', revoked_by_peer_at: null }, 'bob still trusts alice');
  const queued = await send(bob, aId, 'kept');
  t.match(await messageStatus(bob, queued), { state: 'queued' }, 'and keeps his message for her');
  t.notOk(bob.events.some((e) => e.type === 'p2p.peer.revoked_by_peer'), 'no revocation event');
});

t.test('a forged, stale or garbled notice is counted and changes nothing; a valid one is taken', async (t) => {
  const bob = await startNode(t);
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const address = ((await bob.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  const mallory = await pairedRawPeer(bob, address, bId, 'mallory');
  const now = Date.now();
  const other = throwawayIdentity();
  const valid = signRevocationNotice(mallory.identity, bobKey, now);
  const invalid: [string, Uint8Array][] = [
    ['wrong_revoker', signRevocationNotice({ publicKey: publicKeyFromPeerId(aId), sign: (m) => mallory.identity.sign(m) }, bobKey, now)],
    ['wrong_recipient', signRevocationNotice(mallory.identity, other.publicKey, now)],
    ['stale_timestamp', signRevocationNotice(mallory.identity, bobKey, now - 6 * 60_000)],
    ['future_timestamp', signRevocationNotice(mallory.identity, bobKey, now + 6 * 60_000)],
    ['bad_signature', signRevocationNotice({ publicKey: mallory.identity.publicKey, sign: (m) => other.sign(m) }, bobKey, now)],
    ['malformed', valid.subarray(0, valid.length - 1)],
    ['malformed', Buffer.from('not a notice at all')],
  ];
  for (const [, body] of invalid) mallory.channel.send(MSG_REVOCATION, body);
  const refusals = await eventually(async () => {
    const counted = await networkRefusals(bob);
    return (counted['revocation_notice_malformed'] ?? 0) >= 2 ? counted : false;
  }, 'bob to refuse the notices');
  for (const reason of ['wrong_revoker', 'wrong_recipient', 'stale_timestamp', 'future_timestamp', 'bad_signature']) {
    t.equal(refusals[`revocation_notice_${reason}`], 1, `${reason} counted`);
  }
  t.match(await peerEntry(bob, aId), { state: 'trusted', online: true }, 'alice is untouched');
  t.match(await peerEntry(bob, mallory.peerId), { state: 'trusted', online: true }, 'mallory too, still connected');
  t.notOk(bob.events.some((e) => e.type === 'p2p.peer.revoked_by_peer'), 'no revocation event');

  mallory.channel.send(MSG_REVOCATION, valid);
  await stateOf(bob, mallory.peerId, 'revoked_by_peer');
  t.match(await peerEntry(bob, aId), { state: 'trusted', online: true }, 'only the revoker is affected');
});

async function talking(t: Test, a: TestNode, b: TestNode, aId: string, bId: string): Promise<void> {
  await stateOf(a, bId, 'trusted');
  await stateOf(b, aId, 'trusted');
  await eventually(async () => (await peerEntry(a, bId))?.online === true, 'a session');
  for (const [from, to, toId, fromId] of [
    [a, b, bId, aId],
    [b, a, aId, bId],
  ] as const) {
    const id = await send(from, toId, `hello again from ${fromId}`);
    await eventually(async () => (await messageStatus(from, id))['state'] === 'delivered', `delivery of ${id}`);
    const received = (await to.call('receive', { peer: fromId }))['messages'] as { message_id: string }[];
    t.ok(received.some((message) => message.message_id === id), `${toId} received ${id}`);
  }
}

t.test('after a revocation, pairing again works from either side', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const directions = [
    { asker: bob, accepter: alice, name: 'bob asks again, alice accepts' },
    { asker: alice, accepter: bob, name: 'alice asks again, bob accepts' },
  ];
  for (const { asker, accepter, name } of directions) {
    await alice.call('revoke', { peer: bId });
    await stateOf(bob, aId, 'revoked_by_peer');
    await pairNodes(asker, accepter);
    await talking(t, alice, bob, aId, bId);
    t.same([trustState(alice, bId), trustState(bob, aId)], ['trusted', 'trusted'], `${name}: both trust each other on disk`);
  }
});

t.test('revoking a peer here fails the messages still waiting for it at once, with reason revoked', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  await bob.extension.shutdown();
  const waiting = [await send(alice, bId, 'never goes 1'), await send(alice, bId, 'never goes 2')];
  t.match(await alice.call('revoke', { peer: bId }), { peer: bId, state: 'revoked', notified: false });
  for (const id of waiting) t.match(await messageStatus(alice, id), { state: 'failed', reason: 'revoked' }, id);
  const failed = await published(alice, 'p2p.message.failed', (data) => data['message_id'] === waiting[1]);
  t.same(failed, { message_id: waiting[1], peer: bId, reason: 'revoked' });
  t.match(await published(alice, 'p2p.peer.revoked', (data) => data['peer'] === bId), { fingerprint: fingerprintOf(publicKeyFromPeerId(bId)), notified: false });
});

t.test('a revocation made while the node was connecting to the peer stands: the session that then opens is closed, not taken as consent', async (t) => {
  const alice = await startNode(t);
  const aId = (await alice.call('identity'))['peer_id'] as string;
  const aliceAddress = ((await alice.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  // Where the peer listens: it answers the node's handshake only when the test lets it.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as { port: number }).port;
  const peer = await pairedRawPeer(alice, aliceAddress, aId, 'peer being revoked', port);
  let connecting!: () => void;
  const connectingNow = new Promise<void>((resolve) => (connecting = resolve));
  let answer!: () => void;
  const answerNow = new Promise<void>((resolve) => (answer = resolve));
  const sessions: Promise<{ code: number }>[] = [];
  server.on('connection', (socket: WebSocket) => {
    socket.on('error', () => undefined);
    const session = acceptChannel(
      socket,
      peer.identity,
      { displayName: 'peer being revoked' },
      aliceAddress,
      async () => {
        connecting();
        await answerNow;
        return { result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE };
      },
      { handshakeTimeoutMs: 10_000, maxMessagesPerKey: 1_000_000, keepaliveIntervalMs: 60_000 },
    ).then(async ({ channel }) => {
      if (channel === null) throw new Error('no session');
      const [code] = (await once(channel, 'close')) as [number];
      return { code };
    });
    sessions.push(session);
  });
  // The peer's session ends: the node calls it back, and its handshake waits on the peer.
  peer.channel.close(CloseCode.NORMAL, 'gone for a moment');
  await connectingNow;
  t.match(await alice.call('revoke', { peer: peer.peerId }), { state: 'revoked', notified: false });
  answer();
  t.equal((await sessions[0])?.code, CloseCode.REVOKED, 'the node closes the session the peer opened, as revoked');
  t.equal(await peerEntry(alice, peer.peerId), undefined, 'the peer is not listed as paired again');
  t.equal(trustState(alice, peer.peerId), 'revoked', 'and stays revoked on disk');
});
