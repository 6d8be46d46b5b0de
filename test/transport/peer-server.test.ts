import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from '../../extension/transport/limits';
import { PeerServer, type ServerRefusal } from '../../extension/transport/peer-server';

interface Accepted {
  socket: WebSocket;
  acceptedAt: number;
}

/** A PeerServer on loopback whose per-address rate runs on a clock the test moves by hand. */
async function serve(t: Test, limits: Partial<TransportLimits> = {}) {
  const refused: ServerRefusal[] = [];
  const accepted: Accepted[] = [];
  const clock = { ms: 1_000_000 };
  const server = new PeerServer({
    host: '127.0.0.1',
    port: 0,
    limits: { ...DEFAULT_TRANSPORT_LIMITS, ...limits },
    onConnection: (socket, _ip, acceptedAt) => accepted.push({ socket, acceptedAt }),
    onRefused: (reason) => refused.push(reason),
    rateClock: () => clock.ms,
  });
  const { port } = await server.listen();
  t.teardown(async () => {
    for (const { socket } of accepted) socket.terminate();
    await server.close();
  });
  return { port, address: `127.0.0.1:${port}`, refused, accepted, clock };
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
