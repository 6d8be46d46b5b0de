import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Bonjour from 'bonjour-service';
import t, { type Test } from 'tap';
import { encodeTxt } from '../../extension/discovery/txt-record';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { claimFor } from '../helpers/txt-claims';

/**
 * Discovery on, on loopback only. Announced A records list every address
 * of this machine; the nodes dial the address an announcement came from
 * (127.0.0.1 here), never those.
 */
const DISCOVERY_ON = { P2P_COMM_MDNS: 'on', P2P_COMM_MDNS_INTERFACE: '127.0.0.1' };

interface Listed {
  peer: string;
  fingerprint: string;
  display_name: string;
  addresses: string[];
  trust: string;
}

async function listed(node: TestNode, peerId: string): Promise<Listed | undefined> {
  const peers = (await node.call('discover'))['peers'] as Listed[];
  return peers.find((peer) => peer.peer === peerId);
}

async function describe(node: TestNode): Promise<{ id: string; fingerprint: string; name: string; port: number }> {
  const identity = await node.call('identity');
  const listening = (await node.call('status'))['listening'] as { port: number };
  return { id: identity['peer_id'] as string, fingerprint: identity['fingerprint'] as string, name: identity['display_name'] as string, port: listening.port };
}

function discoveryStatus(status: Record<string, unknown>): { refusals: Record<string, number>; [key: string]: unknown } {
  return status['discovery'] as { refusals: Record<string, number> };
}

/** Publishes services from the test process itself, on 127.0.0.1 only, withdrawn when the test ends. */
function announceFromTest(t: Test, services: { name: string; port: number; txt: Record<string, string> }[]): void {
  // bonjour-service hands these options to multicast-dns; its type declares service fields instead.
  const options = { interface: '127.0.0.1', bind: '0.0.0.0', multicast: true, loopback: true, ttl: 1 } as Partial<Bonjour.ServiceConfig>;
  const bonjour = new Bonjour(options, (error: Error) => t.fail(`test announcer: ${error.message}`));
  for (const service of services) bonjour.publish({ ...service, type: 'p2p-comm', protocol: 'tcp', host: 'test-announcer.local', probe: false });
  t.teardown(() => new Promise<void>((resolve) => bonjour.unpublishAll(() => bonjour.destroy(() => resolve()))));
}

function trustFile(dataDir: string): { peers: Record<string, { public_key: string; refused_keys: { public_key: string }[] }> } {
  return JSON.parse(readFileSync(join(dataDir, 'trusted_peers.json'), 'utf8'));
}

t.test('two nodes list each other, and pairing from the discovered entry goes through consent', async (t) => {
  const alice = await startNode(t, { env: DISCOVERY_ON });
  const bob = await startNode(t, { env: DISCOVERY_ON });
  const a = await describe(alice);
  const b = await describe(bob);

  // Needs multicast on the loopback interface (.ci/run turns it on).
  const bobListed = await eventually(() => listed(alice, b.id), 'alice to discover bob over multicast on lo');
  t.match(bobListed, { fingerprint: b.fingerprint, display_name: b.name, trust: 'unknown' });
  t.same(bobListed.addresses, [`127.0.0.1:${b.port}`], 'the address is where the announcement came from, with the announced port');
  await eventually(() => listed(bob, a.id), 'bob to discover alice');
  t.match(discoveryStatus(await alice.call('status')), { enabled: true, mode: 'on', interface: '127.0.0.1', advertising: true, browsing: true });

  const paired = await alice.call('pair', { peer: b.id });
  t.match(paired, { peer: b.id, state: 'delivered', fingerprint: b.fingerprint, address: `127.0.0.1:${b.port}` });
  t.equal((await listed(alice, b.id))?.trust, 'pending', 'alice has asked');
  const request = ((await bob.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  t.equal(request?.peer, a.id, 'bob must still consent');
  t.equal((await listed(bob, a.id))?.trust, 'pending', 'bob has a request to answer');

  const accepted = await bob.call('accept', { request_id: request?.request_id, peer: a.id });
  t.equal(accepted['connected'], true);
  await eventually(async () => (await listed(alice, b.id))?.trust === 'trusted', 'alice to trust bob');
  t.equal((await listed(bob, a.id))?.trust, 'trusted');
  t.match((await alice.call('peers'))['peers'], [{ peer: b.id, online: true }]);
});

t.test('a node that shuts down says goodbye and leaves the others’ lists at once', async (t) => {
  const observer = await startNode(t, { env: DISCOVERY_ON });
  const leaver = await startNode(t, { env: DISCOVERY_ON });
  const l = await describe(leaver);
  await eventually(() => listed(observer, l.id), 'the observer to discover the leaver');
  await leaver.extension.shutdown();
  // Far sooner than any TTL (at least 180 s here): only the goodbye removes it this fast.
  await eventually(async () => (await listed(observer, l.id)) === undefined, 'the leaver to be gone from the list');
  t.pass('gone');
});

t.test('pair by peer id fails with not_found for a peer nobody announced', async (t) => {
  const alice = await startNode(t, { env: DISCOVERY_ON });
  const stranger = claimFor(9);
  const response = await alice.attempt('pair', { peer: stranger.peerId });
  t.equal(response.error?.code, -32013);
  t.match(response.error?.message, /not among the nodes discovered on the local network.*give its address or its pairing link/);
});

t.test("a spoofed announcement of a trusted peer's id leads to another node: refused at the handshake", async (t) => {
  const alice = await startNode(t, { env: DISCOVERY_ON });
  const bob = await startNode(t);
  const carol = await startNode(t);
  const b = await describe(bob);
  const c = await describe(carol);
  await pairNodes(alice, bob);
  const pinned = trustFile(alice.dataDir).peers[b.id]?.public_key;
  await bob.extension.shutdown();

  // Anyone on the LAN can claim Bob's id and fingerprint, and point at any port.
  announceFromTest(t, [{ name: 'spoofed-bob', port: c.port, txt: encodeTxt({ peerId: b.id, fingerprint: b.fingerprint, displayName: b.name }) }]);
  const spoofed = await eventually(async () => {
    const entry = await listed(alice, b.id);
    return entry?.addresses[0] === `127.0.0.1:${c.port}` ? entry : false;
  }, 'alice to hear the spoofed announcement');
  t.equal(spoofed.trust, 'trusted', 'listed under the trusted id: the listing is only a claim');

  const mismatch = await eventually(async () => {
    await alice.call('status');
    return alice.events.find((e) => e.type === 'p2p.peer.key_mismatch');
  }, 'alice to try the spoofed address and refuse it');
  t.match(mismatch.data, { peer: b.id, expected_fingerprint: b.fingerprint, presented_fingerprint: c.fingerprint, address: `127.0.0.1:${c.port}` });
  const refusals = ((await alice.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.ok((refusals['key_mismatch'] ?? 0) >= 1, 'key_mismatch counted');
  const record = trustFile(alice.dataDir).peers[b.id];
  t.equal(record?.public_key, pinned, "bob's pinned key is unchanged");
  t.ok((record?.refused_keys.length ?? 0) >= 1, "carol's key is recorded as refused");
  t.match((await alice.call('peers'))['peers'], [{ peer: b.id, online: false }]);
  t.same((await carol.call('requests'))['incoming'], [], 'alice never revealed herself to carol');
  t.same((await carol.call('peers'))['peers'], []);
});

t.test('a node with discovery off never appears in anyone’s table', async (t) => {
  const observer = await startNode(t, { env: DISCOVERY_ON });
  const silent = await startNode(t, { env: { P2P_COMM_MDNS: 'off' } });
  const third = await startNode(t, { env: DISCOVERY_ON });
  const s = await describe(silent);
  const third_ = await describe(third);
  await eventually(() => listed(observer, third_.id), 'the observer to discover the third node');
  t.equal(await listed(observer, s.id), undefined, 'the silent node is not listed');
  t.equal(await listed(third, s.id), undefined, 'by anyone');
  t.match(discoveryStatus(await silent.call('status')), { enabled: false, mode: 'off', advertising: false, browsing: false });
  const response = await silent.attempt('discover');
  t.equal(response.error?.code, -32012, 'and it lists no one either');
});

t.test('malformed announcements are dropped and counted', async (t) => {
  const observer = await startNode(t, { env: DISCOVERY_ON });
  const mallory = claimFor(7, 'Mallory');
  const other = claimFor(8);
  const valid = encodeTxt(mallory);
  const padding = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`x${i}`, 'p'.repeat(200)]));
  announceFromTest(t, [
    { name: 'bad-fingerprint', port: 1111, txt: { ...valid, fp: other.fingerprint } },
    { name: 'bad-version', port: 1112, txt: { ...valid, v: '2' } },
    { name: 'missing-field', port: 1113, txt: { id: valid.id, name: valid.name, v: valid.v } },
    { name: 'bad-name', port: 1114, txt: { ...valid, name: 'Mal\u0007lory' } },
    { name: 'oversize', port: 1115, txt: { ...valid, ...padding } },
  ]);
  const expected = ['txt_fingerprint_mismatch', 'txt_unknown_version', 'txt_missing_field', 'txt_bad_display_name', 'txt_too_large'];
  const refusals = await eventually(async () => {
    const counted = discoveryStatus(await observer.call('status')).refusals;
    return expected.every((reason) => (counted[reason] ?? 0) >= 1) ? counted : false;
  }, 'every malformed announcement to be counted');
  for (const reason of expected) t.ok((refusals[reason] ?? 0) >= 1, `${reason} counted`);
  t.equal(await listed(observer, mallory.peerId), undefined, 'none of them is listed');
  t.equal(discoveryStatus(await observer.call('status'))['peers_seen'], 0);
});
