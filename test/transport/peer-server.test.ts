import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from '../../extension/transport/limits';
import { PeerServer, type ServerRefusal } from '../../extension/transport/peer-server';
import { dhtAddress } from '../../extension/common/dht-address';
import type { DhtSocket } from '../../extension/transport/dht/dht-socket';
import { FakeDhtStream, linkedDhtStreams, socketOver } from '../helpers/fake-dht-stream';

interface Accepted {
  socket: WebSocket;
  remoteAddress: string;
  acceptedAt: number;
  stream: Duplex;
}

/** A PeerServer on loopback whose per-address rate runs on a clock the test moves by hand. */
async function serve(t: Test, limits: Partial<TransportLimits> = {}) {
  const refused: ServerRefusal[] = [];
  /** The address each refusal was charged to, in the same order. */
  const refusedFrom: string[] = [];
  const accepted: Accepted[] = [];
  const clock = { ms: 1_000_000 };
  const server = new PeerServer({
    host: '127.0.0.1',
    port: 0,
    limits: { ...DEFAULT_TRANSPORT_LIMITS, ...limits },
    onConnection: (socket, remoteAddress, acceptedAt, stream) => accepted.push({ socket, remoteAddress, acceptedAt, stream }),
    onRefused: (reason, address) => {
      refused.push(reason);
      refusedFrom.push(address);
    },
    rateClock: () => clock.ms,
  });
  const { port } = await server.listen();
  t.teardown(async () => {
    for (const { socket } of accepted) socket.terminate();
    await server.close();
  });
  return { server, port, address: `127.0.0.1:${port}`, refused, refusedFrom, accepted, clock };
}

/** A plain TCP connection, and a promise of its close (by either side). */
async function tcp(t: Test, port: number): Promise<{ socket: Socket; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  // Not once(): it rejects on 'error', and a reset (the node destroying a socket with unread bytes) is a close too.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'connect');
  return { socket, closed };
}

t.test('a connection that sends nothing is closed at the upgrade deadline and counted', async (t) => {
  const { port, refused } = await serve(t, { handshakeTimeoutMs: 100 });
  const { closed } = await tcp(t, port);
  await closed;
  t.same(refused, ['upgrade_timeout']);
});

t.test('request headers trickled a byte at a time do not extend the deadline', async (t) => {
  const { port, refused } = await serve(t, { handshakeTimeoutMs: 100 });
  const { socket, closed } = await tcp(t, port);
  socket.write('GET /p2p-comm/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  // The attack itself, not a wait: one more header byte every few milliseconds, forever.
  const trickle = setInterval(() => socket.write('X'), 5);
  t.teardown(() => clearInterval(trickle));
  await closed;
  t.same(refused, ['upgrade_timeout']);
});

t.test('a complete request that asks for no upgrade is answered 426 and closed at once', async (t) => {
  const { port, refused } = await serve(t, { handshakeTimeoutMs: 60_000 });
  const { socket, closed } = await tcp(t, port);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.write('GET /p2p-comm/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  // With a one-minute deadline, a close within the test's timeout is the node's answer, not the deadline.
  await closed;
  t.match(answer, /^HTTP\/1\.1 426 /);
  t.same(refused, ['bad_upgrade']);
});

t.test('bytes that are not HTTP are refused at once and counted', async (t) => {
  const { port, refused } = await serve(t, { handshakeTimeoutMs: 60_000 });
  const { socket, closed } = await tcp(t, port);
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
  await closed;
  t.same(refused, ['bad_upgrade']);
});

t.test('once upgraded, a socket is the handshake’s: the upgrade deadline no longer cuts it, and it counts from the TCP accept', async (t) => {
  const { port, address, refused, accepted } = await serve(t, { handshakeTimeoutMs: 100 });
  const before = Date.now();
  const client = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  t.teardown(() => client.terminate());
  const upgraded = Date.now();
  t.equal(accepted.length, 1);
  const [{ socket, acceptedAt }] = accepted as [Accepted];
  t.ok(acceptedAt >= before && acceptedAt <= upgraded, 'acceptedAt is the TCP accept, before the upgrade completed');
  // A silent connection opened after it reaches its own deadline later than the upgraded one would have.
  const { closed } = await tcp(t, port);
  await closed;
  t.same(refused, ['upgrade_timeout'], 'only the silent connection was cut');
  t.equal(socket.readyState, WebSocket.OPEN, 'the upgraded socket is still open');
});

t.test('connections from one address beyond its rate are closed at accept and counted', async (t) => {
  const { address, refused, accepted, clock } = await serve(t, { handshakeRate: { burst: 2, perSecond: 1 } });
  const first = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const second = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  t.teardown(() => [first, second].forEach((socket) => socket.terminate()));
  await t.rejects(dial(address, DEFAULT_TRANSPORT_LIMITS), /cannot reach/);
  await t.rejects(dial(address, DEFAULT_TRANSPORT_LIMITS), /cannot reach/);
  t.same(refused, ['handshake_rate_limited', 'handshake_rate_limited']);
  t.equal(accepted.length, 2, 'the refused ones never reached the upgrade');
  clock.ms += 1000;
  const third = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  t.teardown(() => third.terminate());
  t.equal(accepted.length, 3, 'a second later, one more is taken');
});

t.test('the rate is charged before the connection caps', async (t) => {
  const { address, refused } = await serve(t, { handshakeRate: { burst: 1, perSecond: 1 }, maxConnectionsPerIp: 1 });
  const first = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  t.teardown(() => first.terminate());
  await t.rejects(dial(address, DEFAULT_TRANSPORT_LIMITS), /cannot reach/);
  t.same(refused, ['handshake_rate_limited'], 'refused for its rate, which the caps would not show');
});

/** A DHT connection from `key` handed to the server as the DHT server would; its close (by either side) as a promise. */
function streamFrom(server: PeerServer, key: Buffer): { stream: FakeDhtStream; socket: DhtSocket; closed: Promise<unknown> } {
  const stream = new FakeDhtStream(key);
  const socket = socketOver(stream);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  server.acceptStream(socket);
  return { stream, socket, closed };
}

const ALICE_DHT = Buffer.alloc(32, 0xa1);
const MALLORY_DHT = Buffer.alloc(32, 0x3e);

t.test('a DHT stream is held to the per-address cap of its DHT key', async (t) => {
  const { server, refused, refusedFrom } = await serve(t, { maxConnectionsPerIp: 2 });
  const first = streamFrom(server, MALLORY_DHT);
  const second = streamFrom(server, MALLORY_DHT);
  const third = streamFrom(server, MALLORY_DHT);
  await third.closed;
  t.same(refused, ['ip_connection_cap'], 'the third from the same key is refused');
  t.same(refusedFrom, [dhtAddress(MALLORY_DHT)], 'charged to dht:<key>');
  t.equal(third.stream.destroyed, true, 'and its DHT stream destroyed');
  t.equal(server.connections, 2, 'the first two hold their slots');
  const other = streamFrom(server, ALICE_DHT);
  t.equal(server.connections, 3, 'another key has slots of its own');
  t.equal(other.stream.destroyed, false);
  first.socket.destroy();
  await first.closed;
  t.equal(server.connections, 2, 'a closed stream frees its slot');
  const again = streamFrom(server, MALLORY_DHT);
  t.equal(again.stream.destroyed, false, 'so the key may connect once more');
  t.same(refused, ['ip_connection_cap'], 'without another refusal');
  for (const connection of [second, other, again]) connection.socket.destroy();
});

t.test('a DHT stream is charged to the handshake rate of its DHT key, before the caps', async (t) => {
  const { server, refused, refusedFrom, clock } = await serve(t, { handshakeRate: { burst: 2, perSecond: 1 }, maxConnectionsPerIp: 1 });
  const first = streamFrom(server, MALLORY_DHT);
  first.socket.destroy();
  await first.closed;
  const second = streamFrom(server, MALLORY_DHT);
  const third = streamFrom(server, MALLORY_DHT);
  await third.closed;
  t.same(refused, ['handshake_rate_limited'], 'the third within the burst is refused for its rate');
  t.same(refusedFrom, [dhtAddress(MALLORY_DHT)]);
  const other = streamFrom(server, ALICE_DHT);
  t.equal(other.stream.destroyed, false, 'another key has its own bucket');
  second.socket.destroy();
  await second.closed;
  clock.ms += 1000;
  const later = streamFrom(server, MALLORY_DHT);
  t.equal(later.stream.destroyed, false, 'a second later, one more is taken');
  for (const connection of [other, later]) connection.socket.destroy();
});

t.test('a DHT stream gets the upgrade deadline and the HTTP checks of a TCP connection', async (t) => {
  const { server, refused, refusedFrom } = await serve(t, { handshakeTimeoutMs: 100 });
  const silent = streamFrom(server, MALLORY_DHT);
  await silent.closed;
  t.same(refused, ['upgrade_timeout'], 'silence is cut at the deadline');
  const garbage = streamFrom(server, ALICE_DHT);
  garbage.stream.emit('data', Buffer.from('\x16\x03\x01garbage\r\n\r\n'));
  await garbage.closed;
  t.same(refused, ['upgrade_timeout', 'bad_upgrade'], 'bytes that are not HTTP are refused at once');
  t.same(refusedFrom, [dhtAddress(MALLORY_DHT), dhtAddress(ALICE_DHT)], 'each charged to its DHT key');
});

t.test('over a DHT stream, the WebSocket upgrade completes and the owner learns the DHT address and the stream', async (t) => {
  const { server, accepted } = await serve(t);
  const { client, server: serverEnd } = linkedDhtStreams(ALICE_DHT, Buffer.alloc(32, 0x5e));
  const serverSocket = socketOver(serverEnd);
  server.acceptStream(serverSocket);
  const socket = await dial(dhtAddress(Buffer.alloc(32, 0x5e)), DEFAULT_TRANSPORT_LIMITS, socketOver(client));
  t.teardown(() => socket.terminate());
  t.equal(accepted.length, 1);
  t.equal(accepted[0]?.remoteAddress, dhtAddress(ALICE_DHT), 'known by the client’s DHT key');
  t.equal(accepted[0]?.stream, serverSocket, 'with the stream it runs over');
  const message = once(accepted[0]?.socket as WebSocket, 'message');
  socket.send(Buffer.from('over the DHT'));
  t.equal(String((await message)[0]), 'over the DHT');
});
