import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { dhtEnv, dhtOnlyLink, localTestnet } from '../helpers/dht-testnet';
import { tempDir } from '../helpers/extension';
import { dhtListening, eventually, startNode, type TestNode } from '../helpers/node';

interface PeerView {
  peer: string;
  online: boolean;
  path: string | null;
}

async function onlinePath(node: TestNode, peer: string): Promise<string> {
  return eventually(async () => {
    const view = ((await node.call('peers'))['peers'] as PeerView[]).find((p) => p.peer === peer);
    return view?.online === true ? (view.path ?? undefined) : undefined;
  }, `a session with ${peer}`, 30_000);
}

t.test('two nodes with no direct address pair by link through the DHT, exchange messages, and reconnect after a restart', async (t) => {
  const testnet = await localTestnet(t);
  // Direct addresses exist but are never handed out: the link carries the DHT key alone.
  const env = dhtEnv(testnet);
  const alice = await startNode(t, { env });
  const bob = await startNode(t, { env });
  await Promise.all([dhtListening(alice), dhtListening(bob)]);
  const link = await dhtOnlyLink(bob);
  t.notMatch(link, /addr=/, 'the link names no address');

  const paired = await alice.call('pair', { link });
  t.equal(paired['state'], 'delivered', 'the request reached bob through the DHT');
  t.match(paired['dht_address'], /^dht:[0-9a-f]{64}$/);
  const incoming = ((await bob.call('requests'))['incoming'] as { request_id: string; peer: string; address: string }[])[0];
  t.match(incoming?.address, /^dht:[0-9a-f]{64}$/, 'bob can reach alice back through the key she came from');
  const accepted = await bob.call('accept', { request_id: incoming?.request_id, peer: incoming?.peer });
  t.equal(accepted['connected'], true, 'bob reached alice through the DHT');
  const aId = (await alice.call('identity'))['peer_id'] as string;
  const bId = (await bob.call('identity'))['peer_id'] as string;
  t.equal(await onlinePath(alice, bId), 'holepunched');
  t.equal(await onlinePath(bob, aId), 'holepunched');

  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'over the DHT' });
  const atBob = await eventually(async () => {
    const messages = (await bob.call('receive', { peer: aId, wait_ms: 500 }))['messages'] as { content: unknown }[];
    return messages.length > 0 ? messages : undefined;
  }, 'the message at bob');
  t.equal(atBob[0]?.content, 'over the DHT');
  await eventually(async () => (await alice.call('message_status', { message_id: sent['message_id'] }))['state'] === 'delivered', 'delivered');
  await bob.call('send', { peer: aId, type: 'json', content: { back: true } });
  const atAlice = await eventually(async () => {
    const messages = (await alice.call('receive', { peer: bId, wait_ms: 500 }))['messages'] as { content: unknown }[];
    return messages.length > 0 ? messages : undefined;
  }, 'the reply at alice');
  t.same(atAlice[0]?.content, { back: true });

  // Both now know each other's DHT key, signed, from the hellos.
  const bobSeen = ((await alice.call('peers'))['peers'] as { addresses: string[] }[])[0];
  t.ok(bobSeen?.addresses.some((a) => a.startsWith('dht:')), 'bob is reachable through his DHT key');

  await bob.extension.shutdown();
  await eventually(async () => ((await alice.call('peers'))['peers'] as PeerView[])[0]?.online === false, 'bob offline');
  const bobAgain = await startNode(t, { env, dataDir: bob.dataDir });
  await dhtListening(bobAgain);
  t.equal(await onlinePath(bobAgain, aId), 'holepunched', 'the restarted node and its peer find each other again through the DHT');
  const status = await alice.call('status');
  t.match((status['connections'] as { paths: unknown }).paths, { holepunched: 1, direct: 0, relayed: 0 });
});

t.test('a node in connect mode reaches a peer through the DHT but announces nothing: no DHT key in its link or hello', async (t) => {
  const testnet = await localTestnet(t);
  const announcing = await startNode(t, { env: dhtEnv(testnet) });
  const dialOnly = await startNode(t, { env: { ...dhtEnv(testnet), P2P_COMM_DHT: 'connect' } });
  await dhtListening(announcing);
  await eventually(async () => ((await dialOnly.call('status'))['dht'] as { public_key: string | null }).public_key !== null, 'the dial-only node on the DHT');
  const status = (await dialOnly.call('status'))['dht'] as Record<string, unknown>;
  t.match(status, { mode: 'connect', listening: false }, 'not listening on the DHT');
  const identity = await dialOnly.call('identity');
  t.notMatch(identity['link'], /dht=/, 'its link carries no DHT key');
  t.match(identity['dht'], /^DHT: dial out only \(P2P_COMM_DHT=connect\)/);

  const paired = await dialOnly.call('pair', { link: await dhtOnlyLink(announcing) });
  t.equal(paired['state'], 'delivered', 'its request went out through the DHT');
  const incoming = ((await announcing.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  // The peer cannot call a node that does not announce itself; the session opens when the dial-only node calls again.
  await announcing.call('accept', { request_id: incoming?.request_id, peer: incoming?.peer });
  const dialOnlyId = (await dialOnly.call('identity'))['peer_id'] as string;
  const announcingId = (await announcing.call('identity'))['peer_id'] as string;
  t.equal(await onlinePath(dialOnly, announcingId), 'holepunched', 'connected through the DHT');
  t.equal(await onlinePath(announcing, dialOnlyId), 'holepunched');
  // Its hello names no DHT key: the key its connection came from is not kept as a way to call it.
  await eventually(async () => {
    const seen = ((await announcing.call('peers'))['peers'] as { addresses: string[]; capabilities: unknown }[])[0];
    return seen?.capabilities !== null && seen?.addresses.every((address) => !address.startsWith('dht:'));
  }, 'no DHT address kept for the dial-only node');
  t.pass('the peer keeps no DHT address for a node that does not announce itself');
});

t.test('the DHT server lets strangers through only within the consent budget', async (t) => {
  const testnet = await localTestnet(t);
  const node = await startNode(t, { env: { ...dhtEnv(testnet), P2P_COMM_CONSENT_BURST: '1', P2P_COMM_CONSENT_PER_MINUTE: '1' } });
  await dhtListening(node);
  const key = Buffer.from(((await node.call('status'))['dht'] as { public_key: string }).public_key, 'hex');
  const stranger = testnet.createNode();
  const outcomes: string[] = [];
  for (let i = 0; i < 2; i += 1) {
    const socket = stranger.connect(key, { keyPair: (stranger.constructor as typeof import('hyperdht')).keyPair() });
    outcomes.push(
      await new Promise<string>((resolve) => {
        socket.once('open', () => {
          socket.destroy();
          resolve('open');
        });
        socket.once('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
      }),
    );
  }
  t.equal(outcomes[0], 'open', 'the first stranger is let through to the handshake');
  t.same(outcomes.slice(1).filter((outcome) => outcome === 'open'), [], 'the second is refused by the firewall');
  const refusals = (await node.call('status'))['refusals'] as { network: Record<string, number> };
  t.equal(refusals.network['dht_firewall_refused'], 1, 'the refusal is counted');
});

t.test('a DHT that cannot start is reported, and the node works on without it: no DHT key in its link, dials fail at once', async (t) => {
  const testnet = await localTestnet(t);
  // A file where the native addons' directory should be: hyperdht cannot be loaded (the built node carries its addons).
  const dataDir = join(tempDir(t), 'node');
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(join(dataDir, 'native'), 'not a directory');
  const node = await startNode(t, { dataDir, env: dhtEnv(testnet) });
  const dht = await eventually(async () => {
    const status = (await node.call('status'))['dht'] as { error: string | null; listening: boolean };
    return status.error !== null ? status : undefined;
  }, 'the DHT start failure reported');
  t.match(dht, { listening: false, error: /^the DHT did not start: .*cannot write .* to .*native: .*make the directory writable/ });
  t.ok(node.stderr.some((line) => /the DHT did not start: .*links carry no DHT key/.test(line)), 'the log says so, and what it means');
  const identity = await node.call('identity');
  t.notMatch(identity['link'], /dht=/, 'its link no longer offers a DHT key nobody could use');
  t.match(identity['link'], /addr=/, 'it still has its direct address');
  const other = await startNode(t, { env: dhtEnv(testnet) });
  const paired = await node.attempt('pair', { link: await dhtOnlyLink(other) });
  t.equal((paired.result as { data: { state: string } }).data.state, 'queued', 'a peer only the DHT reaches is queued, not waited on');
});

t.test('a node that stops withdraws its DHT announcement, so peers are not sent to a dead address', async (t) => {
  const testnet = await localTestnet(t);
  const node = await startNode(t, { env: dhtEnv(testnet) });
  await dhtListening(node);
  const key = Buffer.from(((await node.call('status'))['dht'] as { public_key: string }).public_key, 'hex');
  const looker = testnet.createNode();
  const announcements = async (): Promise<number> => {
    let found = 0;
    for await (const result of looker.findPeer(key)) if (Buffer.from(result.peer.publicKey).equals(key)) found += 1;
    return found;
  };
  t.ok((await announcements()) > 0, 'while it runs, DHT nodes hold its announcement');
  const exit = await node.extension.shutdown();
  t.equal(exit.code, 0);
  t.equal(await announcements(), 0, 'once it has stopped, none does');
});

