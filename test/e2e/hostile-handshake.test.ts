import { randomBytes } from 'node:crypto';
import t from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult, RefusalReason } from '../../extension/wire/decision';
import { InitiatorHandshake } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { rawConnection, throwawayIdentity } from '../helpers/raw-peer';

const options = { handshakeTimeoutMs: 2000, maxMessagesPerKey: 1000, keepaliveIntervalMs: 60_000 };

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

async function networkRefusals(node: TestNode): Promise<Record<string, number>> {
  return ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
}

function request(name: string) {
  return { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort: 0, displayName: name } as const;
}

t.test('tampered, replayed and truncated handshakes are refused; the node keeps serving its peer', async (t) => {
  const bob = await startNode(t);
  const alice = await startNode(t);
  const { bId } = await pairNodes(alice, bob);
  const address = await addressOf(bob);
  const mallory = throwawayIdentity();
  const bobKey = publicKeyFromPeerId(bId);

  // Flipped byte in message 3.
  {
    const conn = await rawConnection(address);
    const handshake = new InitiatorHandshake(mallory, bobKey, request('m'));
    conn.socket.send(handshake.start());
    const m3 = Uint8Array.from(handshake.finish(await conn.next()).finish);
    m3[40] = (m3[40] as number) ^ 1;
    conn.socket.send(m3);
    await conn.closed;
  }
  // Replayed message 1 then message 3 from an earlier, completed handshake.
  {
    const first = await rawConnection(address);
    const handshake = new InitiatorHandshake(mallory, bobKey, request('m'));
    const m1 = handshake.start();
    first.socket.send(m1);
    const m3 = handshake.finish(await first.next()).finish;
    first.socket.send(m3);
    await first.closed;
    const replay = await rawConnection(address);
    replay.socket.send(m1);
    await replay.next();
    replay.socket.send(m3);
    await replay.closed;
  }
  // Truncated message 1, and garbage.
  for (const frame of [new Uint8Array([1, 1, 2, 3]), new Uint8Array(5000).fill(0xee)]) {
    const conn = await rawConnection(address);
    conn.socket.send(frame);
    await conn.closed;
  }

  const refusals = await networkRefusals(bob);
  t.equal(refusals['handshake_decrypt_failed'], 2, 'flipped byte and replay refused');
  t.ok((refusals['handshake_malformed'] ?? 0) + (refusals['handshake_oversize'] ?? 0) >= 2, 'truncated and garbage refused');
  t.match((await bob.call('peers'))['peers'], [{ online: true }], 'bob still has his real peer');
  t.equal(((await bob.call('requests'))['incoming'] as unknown[]).length, 1, 'only the one completed request was stored');
});

t.test('an unknown key asking for a session is refused', async (t) => {
  const bob = await startNode(t);
  const bobId = (await bob.call('identity'))['peer_id'] as string;
  const address = await addressOf(bob);
  const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const outcome = await initiateChannel(
    socket,
    throwawayIdentity(),
    publicKeyFromPeerId(bobId),
    { intent: Intent.SESSION, requestId: new Uint8Array(16), listenPort: 0, displayName: 'x' },
    address,
    options,
  );
  t.same(outcome.decision, { result: DecisionResult.REFUSED, reason: RefusalReason.NOT_TRUSTED });
  t.equal((await networkRefusals(bob))['untrusted_session'], 1);
});

t.test('a flood of consent requests is rate-limited and the pending list capped', async (t) => {
  const bob = await startNode(t, { env: { P2P_COMM_CONSENT_BURST: '6', P2P_COMM_CONSENT_PER_MINUTE: '1', P2P_COMM_MAX_INCOMING_REQUESTS: '4' } });
  const bobId = (await bob.call('identity'))['peer_id'] as string;
  const address = await addressOf(bob);
  const decisions: number[] = [];
  const senders: string[] = [];
  for (let i = 0; i < 12; i += 1) {
    const identity = throwawayIdentity();
    senders.push(peerIdFromPublicKey(identity.publicKey));
    const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
    const outcome = await initiateChannel(socket, identity, publicKeyFromPeerId(bobId), request(`flood ${i}`), address, options);
    decisions.push(outcome.decision.result);
  }
  t.same(decisions.slice(0, 6), Array(6).fill(DecisionResult.REQUEST_STORED), 'the burst is taken');
  t.same(decisions.slice(6), Array(6).fill(DecisionResult.REFUSED), 'then refused as busy');
  const incoming = (await bob.call('requests'))['incoming'] as { peer: string }[];
  t.equal(incoming.length, 4, 'pending list capped');
  t.same(incoming.map((r) => r.peer), senders.slice(2, 6), 'the oldest were evicted');
  const refusals = await networkRefusals(bob);
  t.equal(refusals['consent_request_rate_limited'], 6);
  t.equal(refusals['handshake_internal'], undefined, 'no handshake ended without a decision');
  t.equal(refusals['consent_request_evicted'], 2);
  t.equal(bob.events.filter((e) => e.type === 'p2p.peer.request').length, 6);
});

t.test('a request id reused by another key is refused, not stored', async (t) => {
  const bob = await startNode(t);
  const bobKey = publicKeyFromPeerId((await bob.call('identity'))['peer_id'] as string);
  const address = await addressOf(bob);
  const sameId = { ...request('first'), requestId: new Uint8Array(16).fill(9) };
  const decisions: number[] = [];
  for (const identity of [throwawayIdentity(), throwawayIdentity()]) {
    const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), identity, bobKey, sameId, address, options);
    decisions.push(outcome.decision.result);
  }
  t.same(decisions, [DecisionResult.REQUEST_STORED, DecisionResult.REFUSED]);
  t.equal((await networkRefusals(bob))['consent_request_id_clash'], 1);
});

t.test('a claimed name with control or text-direction characters is replaced, not shown', async (t) => {
  const bob = await startNode(t);
  const bobKey = publicKeyFromPeerId((await bob.call('identity'))['peer_id'] as string);
  const address = await addressOf(bob);
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), throwawayIdentity(), bobKey, request('Alice\u202Eevil'), address, options);
  t.equal(outcome.decision.result, DecisionResult.REQUEST_STORED);
  t.match((await bob.call('requests'))['incoming'], [{ display_name: 'unnamed peer' }]);
  t.equal((await networkRefusals(bob))['invalid_display_name'], 1);
});

t.test('slow and idle connections are cut at the handshake timeout', async (t) => {
  const bob = await startNode(t, { env: { P2P_COMM_HANDSHAKE_TIMEOUT_MS: '100' } });
  const conn = await rawConnection(await addressOf(bob));
  await conn.closed;
  t.equal((await networkRefusals(bob))['handshake_timeout'], 1);
});

t.test('10,000 connection attempts and oversize frames: refused, counted, the real peer still served', async (t) => {
  const bob = await startNode(t);
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const address = await addressOf(bob);
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const { connect } = await import('node:net');
  let attempts = 0;
  // In waves, so the test machine's own limits are not what is measured.
  for (let wave = 0; wave < 50; wave += 1) {
    await Promise.all(
      Array.from({ length: 200 }, () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, host);
          attempts += 1;
          socket.once('connect', () => socket.destroy());
          socket.once('error', () => resolve());
          socket.once('close', () => resolve());
        }),
      ),
    );
  }
  t.equal(attempts, 10_000);
  if (bob.stderr.some((line) => line.includes('fatal'))) t.fail(bob.stderr.join('\n'));
  // A frame over the size limit, before any handshake; once the storm's sockets have closed on the
  // node's side, since until then the per-IP cap refuses this one too.
  const oversize = await eventually(() => rawConnection(address).catch(() => false as const), 'a connection slot after the storm');
  oversize.socket.send(new Uint8Array(2 * 1024 * 1024));
  await oversize.closed;

  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'still here after the storm' });
  await eventually(async () => ((await bob.call('receive', { peer: aId, wait_ms: 200 }))['messages'] as unknown[]).length === 1, 'the real message');
  await eventually(async () => (await alice.call('message_status', { message_id: sent['message_id'] }))['state'] === 'delivered', 'delivery');
  const refusals = await networkRefusals(bob);
  t.ok((refusals['handshake_closed'] ?? 0) + (refusals['handshake_timeout'] ?? 0) >= 1, 'the oversize frame and the dropped sockets are counted');
  t.match((await bob.call('peers'))['peers'], [{ peer: aId, online: true }]);
});
