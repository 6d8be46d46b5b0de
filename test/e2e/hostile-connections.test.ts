import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

/** Host and port the node listens on for peers. */
async function listeningOn(node: TestNode): Promise<{ host: string; port: number }> {
  const address = ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

async function networkRefusals(node: TestNode): Promise<Record<string, number>> {
  return ((await node.call('status'))['refusals'] as { network: Record<string, number> }).network;
}

/** A plain TCP connection to the node, and a promise of its close. */
async function tcp(t: Test, { host, port }: { host: string; port: number }): Promise<{ socket: Socket; closed: Promise<unknown> }> {
  const socket = connect(port, host);
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  // Not once(): it rejects on 'error', and a reset (the node destroying a socket with unread bytes) is a close too.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'connect');
  return { socket, closed };
}

async function connectionTo(node: TestNode, peer: string): Promise<{ online: boolean; connection: string | null } | undefined> {
  const peers = (await node.call('peers'))['peers'] as { peer: string; online: boolean; connection: string | null }[];
  return peers.find((p) => p.peer === peer);
}

t.test('connections that never complete the WebSocket upgrade are closed by the node and counted', async (t) => {
  const bob = await startNode(t, { env: { P2P_COMM_HANDSHAKE_TIMEOUT_MS: '300' } });
  const address = await listeningOn(bob);
  const silent = await tcp(t, address);
  const halfHeader = await tcp(t, address);
  halfHeader.socket.write(`GET /p2p-comm/1 HTTP/1.1\r\nHost: ${address.host}\r\nUpgrade: webs`);
  const notAnUpgrade = await tcp(t, address);
  let answer = '';
  notAnUpgrade.socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  notAnUpgrade.socket.write(`GET /p2p-comm/1 HTTP/1.1\r\nHost: ${address.host}\r\nConnection: keep-alive\r\n\r\n`);

  await Promise.all([silent.closed, halfHeader.closed, notAnUpgrade.closed]);
  const refusals = await networkRefusals(bob);
  t.equal(refusals['upgrade_timeout'], 2, 'the silent and the half-header connections were cut at the deadline');
  t.match(answer, /^HTTP\/1\.1 426 /, 'a complete request without an upgrade is answered, then closed');
  t.equal(refusals['bad_upgrade'], 1, 'and counted');
  await eventually(async () => ((await bob.call('status'))['connections'] as { tcp: number }).tcp === 0, 'every connection slot to be free');
});

t.test('a burst of connections beyond the handshake rate is refused and counted; a paired peer still gets through', async (t) => {
  const burst = 4;
  const perSecond = 2;
  const bob = await startNode(t, {
    env: {
      P2P_COMM_HANDSHAKE_RATE_BURST: String(burst),
      P2P_COMM_HANDSHAKE_RATE_PER_SECOND: String(perSecond),
      // The burst's accepted connections are cut at this deadline; short, so that the test is too.
      P2P_COMM_HANDSHAKE_TIMEOUT_MS: '1000',
    },
  });
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await alice.extension.shutdown();
  await eventually(async () => (await connectionTo(bob, aId))?.online === false, 'bob to see alice go');
  const address = await listeningOn(bob);

  const before = await networkRefusals(bob);
  const connections = 40;
  const started = Date.now();
  const sockets = await Promise.all(Array.from({ length: connections }, () => tcp(t, address)));
  // Each is either refused at accept or, if it got a token, cut at the upgrade deadline.
  await Promise.all(sockets.map(({ closed }) => closed));
  const elapsedSeconds = (Date.now() - started) / 1000;
  const after = await networkRefusals(bob);
  const added = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
  const rateLimited = added('handshake_rate_limited');
  t.equal(rateLimited + added('ip_connection_cap') + added('upgrade_timeout'), connections, 'every connection of the burst was closed by the node and counted');
  t.ok(rateLimited >= 1, `${rateLimited} refused for the rate`);
  // Tokens the node can have handed out: its burst, plus what refilled while the burst lasted.
  t.ok(rateLimited >= connections - burst - perSecond * elapsedSeconds, `no more than the rate was taken (${connections - rateLimited} of ${connections} in ${elapsedSeconds} s)`);

  // Alice comes back on another port, so the session can only be one she opens to Bob, through his limit.
  const alice2 = await startNode(t, { dataDir: alice.dataDir, env: { P2P_COMM_LISTEN_PORT: '0' } });
  await eventually(async () => (await connectionTo(bob, aId))?.connection === 'inbound', 'alice to reach bob again');
  t.match(await connectionTo(alice2, bId), { online: true, connection: 'outbound' });
});
