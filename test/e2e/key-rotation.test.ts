import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PluginClient } from '../../permissions/demo/plugin-client';
import { startNode as startHost } from '../../permissions/node/running-node';
import { createPlugin } from '../../permissions/plugins/plugin-directory';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity, NEXT_IDENTITY_FILE_NAME, prepareRotation } from '../../extension/identity/node-identity';
import { BINARY, tempDir } from '../helpers/extension';
import { approveAll } from '../helpers/mcp-clients';
import { eventually, LOOPBACK_ENV, pairNodes, startNode, type TestNode } from '../helpers/node';

/**
 * Key rotation through the built binary: A, paired with B and C, replaces
 * its key while C is away. Its peer id stays; B follows at once (4008 and
 * a reconnect), C at its next connection, from the chain in the handshake;
 * messages queued on either side of the rotation all arrive. Keys no chain
 * certifies are refused; a kill -9 at the end of a rotation, and the files
 * a crash between its steps leaves, start into a consistent key; a rotation
 * link updates a peer that cannot reach A. Through the reference host, a
 * grant scoped to A's peer id outlives the rotation, and dialogs about
 * rotated nodes show their current key and the safety number both sides list.
 */

interface PeerEntry {
  peer: string;
  state: string;
  online: boolean;
  fingerprint: string;
  safety_number: string;
  key_seq: number;
  previous_fingerprints: string[];
  key_rotated_at: string | null;
}

interface Received {
  message_id: string;
  content: unknown;
  from: { peer: string; fingerprint: string };
}

interface Rotated {
  peer_id: string;
  old_fingerprint: string;
  fingerprint: string;
  seq: number;
  retire_at: string;
  peers: { peer: string; state: string }[];
}

async function peerEntry(node: TestNode, peer: string): Promise<PeerEntry | undefined> {
  return ((await node.call('peers'))['peers'] as PeerEntry[]).find((entry) => entry.peer === peer);
}

/** Waits until `node` pins `fingerprint` for `peer` and has a session with it. */
async function follows(node: TestNode, peer: string, fingerprint: string): Promise<PeerEntry> {
  return eventually(async () => {
    const entry = await peerEntry(node, peer);
    return entry?.fingerprint === fingerprint && entry.online ? entry : false;
  }, `the peer to pin ${fingerprint} and be online`);
}

async function send(node: TestNode, peer: string, content: string): Promise<string> {
  return (await node.call('send', { peer, type: 'text', content }))['message_id'] as string;
}

async function stateOf(node: TestNode, messageId: string): Promise<string> {
  return (await node.call('message_status', { message_id: messageId }))['state'] as string;
}

async function delivered(node: TestNode, messageId: string): Promise<void> {
  await eventually(async () => (await stateOf(node, messageId)) === 'delivered', `delivery of ${messageId}`);
}

/** Every message `node` received from `peer`, once there are `count` of them. */
async function receivedFrom(node: TestNode, peer: string, count: number): Promise<Received[]> {
  return eventually(async () => {
    const messages = (await node.call('receive', { peer }))['messages'] as Received[];
    return messages.length >= count ? messages : false;
  }, `${count} messages from ${peer}`);
}

/** The events of `type` the node published so far; each call to the node also brings its queued events in. */
async function eventsOf(node: TestNode, type: string): Promise<Record<string, unknown>[]> {
  await node.call('status');
  return node.events.filter((event) => event.type === type).map((event) => event.data);
}

async function eventMatching(node: TestNode, type: string, wanted: Record<string, unknown>): Promise<Record<string, unknown>> {
  return eventually(async () => (await eventsOf(node, type)).find((data) => Object.entries(wanted).every(([key, value]) => data[key] === value)), `${type} ${JSON.stringify(wanted)}`);
}

function refusedKeysOf(dataDir: string, peer: string): string[] {
  const file = JSON.parse(readFileSync(join(dataDir, 'trusted_peers.json'), 'utf8')) as { peers: Record<string, { refused_keys: { public_key: string }[] }> };
  return (file.peers[peer]?.refused_keys ?? []).map((refused) => refused.public_key);
}

async function listeningPort(node: TestNode): Promise<string> {
  return String(((await node.call('status'))['listening'] as { port: number }).port);
}

t.test('one identity through its rotations, with a peer offline, kill -9 and interrupted rotations', async (story) => {
  // The shortest grace the configuration takes: the replaced keys stay usable for the DHT only that long.
  const shortGrace = { P2P_COMM_KEY_GRACE_SECONDS: '60' };
  let a = await startNode(story, { env: shortGrace });
  const b = await startNode(story);
  let c = await startNode(story);
  const { aId, bId } = await pairNodes(a, b);
  const { bId: cId } = await pairNodes(a, c);
  const before = await a.call('identity');
  const firstFingerprint = before['fingerprint'] as string;
  const aPort = await listeningPort(a);
  // What a thief of A's first key would hold, taken before that key is replaced.
  const stolen = tempDir(story);
  copyFileSync(join(a.dataDir, IDENTITY_FILE_NAME), join(stolen, IDENTITY_FILE_NAME));
  let rotated: Rotated | undefined;

  await story.test('rotation with C offline: B follows live, C at its next connection, queued messages arrive both ways', async (t) => {
    t.match(before, { key_seq: 0, previous_fingerprints: [], rotation: null });
    const safetyBefore = (await follows(b, aId, firstFingerprint)).safety_number;

    await c.extension.shutdown();
    await eventually(async () => (await peerEntry(a, cId))?.online === false, 'A to see C offline');
    const queuedBefore = [await send(a, cId, 'before 1'), await send(a, cId, 'before 2')];
    t.not(await stateOf(a, queuedBefore[0] as string), 'delivered', 'queued while C is away');

    // B keeps sending while A's key changes (A's own calls wait for its answer, as a host's do): none of it may be
    // checked against a key the other side does not know yet.
    const asked = Date.now();
    const rotation = a.call('rotate_identity');
    const whileRotating: string[] = [];
    for (let i = 0; i < 5; i += 1) whileRotating.push(await send(b, aId, `while A rotates ${i}`));
    rotated = (await rotation) as unknown as Rotated;
    const retiresIn = Date.parse(rotated.retire_at) - asked;
    t.ok(retiresIn >= 59_000 && retiresIn <= 61_000 + (Date.now() - asked), `the replaced key retires after P2P_COMM_KEY_GRACE_SECONDS (in ${retiresIn} ms)`);
    t.equal(rotated.peer_id, aId, 'the peer id stays');
    t.equal(rotated.old_fingerprint, firstFingerprint, 'the key it replaced');
    t.not(rotated.fingerprint, firstFingerprint, 'a new key');
    t.equal(rotated.seq, 1, 'its first rotation');
    t.match(rotated.peers.find((peer) => peer.peer === cId), { state: 'pending' }, 'C has not seen the new key');
    const newFingerprint = rotated.fingerprint;
    await eventMatching(a, 'p2p.identity.rotated', { old_fingerprint: firstFingerprint, fingerprint: newFingerprint, seq: 1 });

    // B was online: its session closed with 4008 and the reconnect carried the chain.
    const atB = await follows(b, aId, newFingerprint);
    t.match(atB, { state: 'trusted', key_seq: 1, previous_fingerprints: [firstFingerprint] });
    t.type(atB.key_rotated_at, 'string');
    t.not(atB.safety_number, safetyBefore, 'the safety number changed');
    await eventMatching(b, 'p2p.peer.disconnected', { peer: aId, code: 4008 });
    await eventMatching(b, 'p2p.peer.key_rotated', { peer: aId, old_fingerprint: firstFingerprint, new_fingerprint: newFingerprint, seq: 1 });

    const toB = await send(a, bId, 'to B, signed by the new key');
    const toA = await send(b, aId, 'to A at its new key');
    await delivered(a, toB);
    for (const id of [...whileRotating, toA]) await delivered(b, id);
    const fromA = await receivedFrom(b, aId, 1);
    t.same(fromA.map((message) => message.content), ['to B, signed by the new key']);
    t.equal(fromA[0]?.from.fingerprint, newFingerprint, 'B checked it against the new key');
    const fromB = await receivedFrom(a, bId, whileRotating.length + 1);
    t.same(fromB.map((message) => message.content), [...whileRotating.map((_, i) => `while A rotates ${i}`), 'to A at its new key'], 'everything B sent arrived, in order, once');
    for (const node of [a, b]) {
      const refusals = ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
      t.same(refusals, {}, 'nothing refused on either side');
    }

    const queuedAfter = [await send(a, cId, 'after 1'), await send(a, cId, 'after 2')];
    const pending = await eventually(async () => {
      const own = (await a.call('identity'))['rotation'] as { pending: string[] };
      return own.pending.includes(bId) ? false : own;
    }, 'A to count B as confirmed');
    t.same(pending, { pending: [cId], retire_at: rotated.retire_at }, 'only C still has to follow');
    t.match(await a.call('identity'), { peer_id: aId, fingerprint: newFingerprint, key_seq: 1, previous_fingerprints: [firstFingerprint] });

    c = await startNode(story, { dataDir: c.dataDir });
    // Sent before C knows A's new key: it waits in C's outbox for the session the chain opens.
    const fromC = await send(c, aId, 'from C, sent as it started');
    const atC = await receivedFrom(c, aId, 4);
    t.same(atC.map((message) => message.content), ['before 1', 'before 2', 'after 1', 'after 2'], 'everything queued, in order, once');
    t.ok(atC.every((message) => message.from.fingerprint === newFingerprint), 'all signed by the new key');
    for (const id of [...queuedBefore, ...queuedAfter]) await delivered(a, id);
    await delivered(c, fromC);
    t.same((await receivedFrom(a, cId, 1)).map((message) => message.content), ['from C, sent as it started']);
    t.match(await follows(c, aId, newFingerprint), { key_seq: 1, previous_fingerprints: [firstFingerprint] });
    await eventMatching(c, 'p2p.peer.key_rotated', { peer: aId, old_fingerprint: firstFingerprint, new_fingerprint: newFingerprint, seq: 1 });
    await eventually(async () => ((await a.call('identity'))['rotation'] as { pending: string[] }).pending.length === 0, 'A to count C as confirmed');
    t.same(await eventsOf(b, 'p2p.peer.key_mismatch'), [], 'B refused nothing on the way');
    t.same(await eventsOf(c, 'p2p.peer.key_mismatch'), [], 'C refused nothing on the way');
  });

  await story.test('keys no chain certifies are refused under A’s peer id: the replaced key, a fresh key', async (t) => {
    const current = rotated?.fingerprint as string;
    await a.extension.shutdown();
    // The thief answers at A's address with A's first key.
    const thief = await startNode(story, { dataDir: stolen, env: { P2P_COMM_LISTEN_PORT: aPort } });
    t.match(await thief.call('identity'), { peer_id: aId, fingerprint: firstFingerprint });
    const dialled = await eventMatching(b, 'p2p.peer.key_mismatch', { peer: aId, chain: 'older_key' });
    t.match(dialled, { expected_fingerprint: current, presented_fingerprint: firstFingerprint });
    // The thief asks B to pair under A's peer id: refused like a stranger, nothing stored.
    const bLink = (await b.call('identity'))['link'] as string;
    const asked = (await thief.attempt('pair', { link: bLink })).result as { data: Record<string, unknown>; message: string };
    t.match(asked, { data: { peer: bId, state: 'queued' }, message: /the peer refused the connection/ }, 'B turned the request away');
    t.same((await b.call('requests'))['incoming'], [], 'no request stored');
    t.match(await peerEntry(b, aId), { fingerprint: current, online: false, key_seq: 1 }, 'nothing adopted');
    t.ok(refusedKeysOf(b.dataDir, aId).length >= 1, 'the presented key is kept as refused');
    await thief.extension.shutdown();

    const stranger = await startNode(story, { env: { P2P_COMM_LISTEN_PORT: aPort } });
    const strangerFingerprint = (await stranger.call('identity'))['fingerprint'] as string;
    const fresh = await eventMatching(b, 'p2p.peer.key_mismatch', { peer: aId, presented_fingerprint: strangerFingerprint });
    t.match(fresh, { expected_fingerprint: current, chain: 'none' });
    t.match(await peerEntry(b, aId), { fingerprint: current, online: false }, 'still A’s current key');
    t.same((await stranger.call('peers'))['peers'], [], 'the stranger learned nothing that makes it a peer');
    await stranger.extension.shutdown();
    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    await follows(b, aId, current);
    await follows(c, aId, current);
  });

  let second: Rotated | undefined;
  await story.test('kill -9 as rotate_identity answers: the restart keeps the new key and the peer id, B and C follow', async (t) => {
    second = (await a.call('rotate_identity')) as unknown as Rotated;
    a.extension.kill('SIGKILL');
    await a.extension.exited;
    t.match(second, { peer_id: aId, old_fingerprint: rotated?.fingerprint, seq: 2 });
    t.notOk(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'no rotation left half done');

    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    const previous = [firstFingerprint, rotated?.fingerprint];
    t.match(await a.call('identity'), { peer_id: aId, fingerprint: second.fingerprint, key_seq: 2, previous_fingerprints: previous });
    t.match(await follows(b, aId, second.fingerprint), { key_seq: 2, previous_fingerprints: previous });
    t.match(await follows(c, aId, second.fingerprint), { key_seq: 2, previous_fingerprints: previous });
    const toB = await send(a, bId, 'after the kill');
    const toA = await send(c, aId, 'to A after its restart');
    await delivered(a, toB);
    await delivered(c, toA);
  });

  // Whatever A holds now; a kill inside a rotation may or may not have taken it a key further.
  let held = { fingerprint: '', seq: 0 };
  await story.test('kill -9 while the rotation closes the sessions: the restart is at the old key or the new one, and B and C follow it', async (t) => {
    held = { fingerprint: second?.fingerprint as string, seq: 2 };
    const closedWith4008 = async (): Promise<number> => (await eventsOf(b, 'p2p.peer.disconnected')).filter((data) => data['peer'] === aId && data['code'] === 4008).length;
    const mismatches = async (node: TestNode): Promise<number> => (await eventsOf(node, 'p2p.peer.key_mismatch')).length;
    const before = { closed: await closedWith4008(), atB: await mismatches(b), atC: await mismatches(c) };
    // It never answers when the kill comes first.
    const unanswered = a.attempt('rotate_identity').catch(() => undefined);
    await eventually(async () => (await closedWith4008()) > before.closed, 'B to see its session closed with 4008');
    a.extension.kill('SIGKILL');
    await a.extension.exited;
    await unanswered;

    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    const restarted = await a.call('identity');
    t.notOk(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'no rotation left half done');
    t.equal(restarted['peer_id'], aId, 'the peer id stays');
    const rotatedBeforeTheKill = restarted['key_seq'] === held.seq + 1;
    t.comment(`the kill came ${rotatedBeforeTheKill ? 'after' : 'before'} the new key was in place`);
    t.ok(rotatedBeforeTheKill || restarted['fingerprint'] === held.fingerprint, `either the rotation was in place (key ${held.seq + 1}) or nothing changed`);
    t.match(restarted, { previous_fingerprints: rotatedBeforeTheKill ? [firstFingerprint, rotated?.fingerprint, held.fingerprint] : [firstFingerprint, rotated?.fingerprint] });
    held = { fingerprint: restarted['fingerprint'] as string, seq: restarted['key_seq'] as number };
    t.match(await follows(b, aId, held.fingerprint), { key_seq: held.seq });
    t.match(await follows(c, aId, held.fingerprint), { key_seq: held.seq });
    await delivered(a, await send(a, bId, 'after the second kill'));
    await delivered(c, await send(c, aId, 'to A after the second kill'));
    t.same({ atB: await mismatches(b), atC: await mismatches(c) }, { atB: before.atB, atC: before.atC }, 'no key refused on the way');
  });

  await story.test('a crash between the steps: a valid next file is completed at start, a corrupt one removed; a rotation link updates C', async (t) => {
    await c.extension.shutdown();
    await a.extension.shutdown();
    // A crash after the next file was written and before its rename leaves exactly this.
    const interrupted = prepareRotation(loadOrCreateIdentity(a.dataDir));
    const third = interrupted.next;
    t.ok(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'the next file waits beside identity.key');

    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    const completed = await a.call('identity');
    t.match(completed, { peer_id: aId, fingerprint: third.fingerprint, key_seq: held.seq + 1 }, 'the start completed the rotation');
    t.notOk(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'renamed into place');
    await follows(b, aId, third.fingerprint);
    await delivered(a, await send(a, bId, 'from the completed rotation'));
    const rotationLink = completed['link'] as string;
    t.match(rotationLink, /[?&]key=[a-z2-7]{52}&chain=/, 'the link names the current key and its chain');
    await a.extension.shutdown();

    // C comes back while A is away: A's link is the only way it learns the third key.
    c = await startNode(story, { dataDir: c.dataDir });
    t.match(await peerEntry(c, aId), { fingerprint: held.fingerprint, key_seq: held.seq });
    const linked = await c.call('pair', { link: rotationLink });
    t.match(linked, { request_id: null, state: 'trusted', key_rotated: true, old_fingerprint: held.fingerprint, fingerprint: third.fingerprint });
    t.same((await c.call('requests'))['outgoing'], [], 'no new pairing request');
    t.match(await peerEntry(c, aId), { fingerprint: third.fingerprint, key_seq: held.seq + 1, online: false });
    await eventMatching(c, 'p2p.peer.key_rotated', { peer: aId, old_fingerprint: held.fingerprint, new_fingerprint: third.fingerprint, seq: held.seq + 1 });

    // A torn next file: never in use, so the start removes it and keeps the key in place.
    writeFileSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME), '{"version":2,"type":"ed25519","peer_id":', { mode: 0o600 });
    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    t.match(await a.call('identity'), { peer_id: aId, fingerprint: third.fingerprint, key_seq: held.seq + 1 }, 'the old key kept');
    t.notOk(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'the torn file removed');
    await follows(c, aId, third.fingerprint);
    await follows(b, aId, third.fingerprint);
    await delivered(a, await send(a, cId, 'to C, after the link'));
    await delivered(c, await send(c, aId, 'from C, after the link'));
    t.same(await eventsOf(c, 'p2p.peer.key_mismatch'), [], 'C refused nothing');

    // A next file that does not extend the chain by one (here A's very first file) is removed the same way.
    await a.extension.shutdown();
    copyFileSync(join(stolen, IDENTITY_FILE_NAME), join(a.dataDir, NEXT_IDENTITY_FILE_NAME));
    a = await startNode(story, { dataDir: a.dataDir, env: shortGrace });
    t.match(await a.call('identity'), { peer_id: aId, fingerprint: third.fingerprint, key_seq: held.seq + 1 }, 'no rollback to the first key');
    t.notOk(existsSync(join(a.dataDir, NEXT_IDENTITY_FILE_NAME)), 'the stale file removed');
    await follows(b, aId, third.fingerprint);
  });
});

t.test('through the reference host: a send grant scoped to A’s peer id still holds after A rotates, with no new dialog', async (t) => {
  const a = await startNode(t);
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  const plugin = createPlugin(hostDir, 'agent', ['identity', 'requests', 'accept', 'peers', 'send', 'message_status', 'revoke']);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules: approveAll('agent'), default: 'deny' }));
  const dialogs: string[] = [];
  const host = await startHost({ hostDir, dataDir: join(dir, 'extension'), binary: BINARY, plugins: [plugin], policyFile, env: LOOPBACK_ENV, onStderrLine: () => undefined, onDecision: (line) => dialogs.push(line) });
  t.teardown(() => host.stop());
  const agent = new PluginClient(host.apiUrl, plugin.id, plugin.secret);

  const aId = (await a.call('identity'))['peer_id'] as string;
  const hostIdentity = await agent.data('identity');
  const hostId = hostIdentity['peer_id'] as string;
  t.match(await a.call('pair', { link: hostIdentity['link'] }), { state: 'delivered' });
  const incoming = await eventually(async () => ((await agent.data('requests'))['incoming'] as { request_id: string; peer: string }[])[0], 'the pairing request at the host');
  t.equal(incoming.peer, aId);
  await agent.data('accept', { request_id: incoming.request_id, peer: aId });
  const first = (await agent.data('send', { peer: aId, type: 'text', content: 'before the rotation' }))['message_id'] as string;
  await eventually(async () => (await agent.data('message_status', { message_id: first }))['state'] === 'delivered', 'the first message delivered');
  const fingerprintAtHost = async (): Promise<string | undefined> => ((await agent.data('peers'))['peers'] as PeerEntry[]).find((peer) => peer.peer === aId)?.fingerprint;
  const before = await fingerprintAtHost();
  t.equal(dialogs.filter((line) => line.includes('use send for')).length, 1, 'the send scope was asked once');
  t.ok(dialogs.some((line) => line.includes(`use send for peer=${aId.slice(0, 12)}`)), 'for A');
  t.same(host.grants.get('agent', 'ext:p2p-comm:send')?.approvedScopes, [aId]);
  const dialogsBefore = dialogs.length;

  const rotated = (await a.call('rotate_identity')) as unknown as Rotated;
  t.not(rotated.fingerprint, before);
  await eventually(async () => (await fingerprintAtHost()) === rotated.fingerprint, 'the host’s node to follow A’s key');
  const second = (await agent.data('send', { peer: aId, type: 'text', content: 'after the rotation' }))['message_id'] as string;
  await eventually(async () => (await agent.data('message_status', { message_id: second }))['state'] === 'delivered', 'the second message delivered');
  t.same(dialogs.slice(dialogsBefore), [], 'no dialog after the rotation');
  t.same(host.grants.get('agent', 'ext:p2p-comm:send')?.approvedScopes, [aId], 'the grant is the same one');
  const atA = await receivedFrom(a, hostId, 2);
  t.same(atA.map((message) => message.content), ['before the rotation', 'after the rotation']);

  // A dialog that does come up about A (revoking is high risk) shows A's current key and where it came from.
  const safetyAtHost = ((await agent.data('peers'))['peers'] as PeerEntry[]).find((peer) => peer.peer === aId)?.safety_number as string;
  await agent.data('revoke', { peer: aId });
  const revokeDialog = dialogs.find((line) => line.startsWith('high-risk revoke')) ?? '';
  t.match(revokeDialog, `fingerprint ${rotated.fingerprint}`, 'the current fingerprint');
  t.match(revokeDialog, `key changed from ${before} on `, 'the key it replaced');
  t.match(revokeDialog, safetyAtHost, 'the safety number peers reports');
});

t.test('through the reference host: pairing dialogs with rotated nodes show the safety number both sides will list', async (t) => {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  const plugin = createPlugin(hostDir, 'agent', ['identity', 'pair', 'requests', 'accept', 'peers', 'rotate_identity']);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules: approveAll('agent'), default: 'deny' }));
  const dialogs: string[] = [];
  const host = await startHost({ hostDir, dataDir: join(dir, 'extension'), binary: BINARY, plugins: [plugin], policyFile, env: LOOPBACK_ENV, onStderrLine: () => undefined, onDecision: (line) => dialogs.push(line) });
  t.teardown(() => host.stop());
  const agent = new PluginClient(host.apiUrl, plugin.id, plugin.secret);
  // Every node here signs with a key other than the one its peer id names.
  const [d, e] = await Promise.all([startNode(t), startNode(t)]);
  const rotatedD = (await d.call('rotate_identity')) as unknown as Rotated;
  const rotatedE = (await e.call('rotate_identity')) as unknown as Rotated;
  const hostId = (await agent.data('rotate_identity'))['peer_id'] as string;
  const safetyAt = async (node: TestNode, peer: string): Promise<string | undefined> => (await peerEntry(node, peer))?.safety_number;
  const safetyAtHost = async (peer: string): Promise<string | undefined> => ((await agent.data('peers'))['peers'] as PeerEntry[]).find((entry) => entry.peer === peer)?.safety_number;

  // D asks: the host's accept dialog.
  await d.call('pair', { link: (await agent.data('identity'))['link'] });
  const incoming = await eventually(async () => ((await agent.data('requests'))['incoming'] as { request_id: string; peer: string }[])[0], 'D’s request at the host');
  await agent.data('accept', { request_id: incoming.request_id, peer: rotatedD.peer_id });
  const acceptDialog = dialogs.find((line) => line.startsWith('high-risk accept')) ?? '';
  t.match(acceptDialog, `fingerprint ${rotatedD.fingerprint}`, 'accept: D’s current key');
  const withD = await safetyAt(d, hostId);
  t.equal(await safetyAtHost(rotatedD.peer_id), withD, 'both sides list one safety number');
  t.match(acceptDialog, withD as string, 'accept: the safety number both sides list');

  // The host asks, with E's link: the pair dialog.
  await agent.data('pair', { link: (await e.call('identity'))['link'] });
  const request = await eventually(async () => ((await e.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0], 'the host’s request at E');
  await e.call('accept', { request_id: request.request_id, peer: hostId });
  const pairDialog = dialogs.find((line) => line.startsWith('high-risk pair')) ?? '';
  t.match(pairDialog, `fingerprint ${rotatedE.fingerprint}`, 'pair: E’s current key');
  const withE = await safetyAt(e, hostId);
  t.equal(await eventually(async () => safetyAtHost(rotatedE.peer_id), 'E among the host’s peers'), withE, 'both sides list one safety number');
  t.match(pairDialog, withE as string, 'pair: the safety number both sides list');
});
