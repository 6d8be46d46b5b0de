import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { keepAlive } from '../../extension/transport/keepalive';

const INTERVAL_MS = 20;

/** A loopback server and one client connected to it; everything is torn down when the test ends. */
async function connectedPair(t: Test, clientOptions: { autoPong?: boolean } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const accepted = once(server, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, clientOptions);
  t.teardown(() => client.terminate());
  const [[serverSide]] = await Promise.all([accepted, once(client, 'open')]);
  return { serverSide, client };
}

/** Resolves once `socket` has seen `count` pongs. */
function pongs(socket: WebSocket, count: number): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    socket.on('pong', () => {
      seen += 1;
      if (seen === count) resolve(seen);
    });
  });
}

t.test('a peer that answers pings stays connected', async (t) => {
  const { serverSide, client } = await connectedPair(t);
  let dead = 0;
  const pongListenersBefore = serverSide.listenerCount('pong');
  const threePongs = pongs(serverSide, 3);
  const stop = keepAlive(serverSide, INTERVAL_MS, () => {
    dead += 1;
  });
  t.equal(serverSide.listenerCount('pong'), pongListenersBefore + 2, 'keepAlive listens for pongs');
  t.equal(await threePongs, 3, 'three pings were answered');
  t.equal(dead, 0, 'onDead was not called');
  t.equal(serverSide.readyState, WebSocket.OPEN, 'the pinging side is still open');
  t.equal(client.readyState, WebSocket.OPEN, 'the answering side is still open');
  stop();
  t.equal(serverSide.listenerCount('pong'), pongListenersBefore + 1, 'stop removes the pong listener');
  t.equal(serverSide.readyState, WebSocket.OPEN, 'stopping leaves the socket open');
});

t.test('the client side can keep the connection alive too', async (t) => {
  const { serverSide, client } = await connectedPair(t);
  let dead = 0;
  const threePongs = pongs(client, 3);
  const stop = keepAlive(client, INTERVAL_MS, () => {
    dead += 1;
  });
  t.teardown(stop);
  t.equal(await threePongs, 3);
  t.equal(dead, 0);
  t.equal(client.readyState, WebSocket.OPEN);
  t.equal(serverSide.readyState, WebSocket.OPEN);
});

t.test('a peer that does not answer pings is cut off (autoPong off)', async (t) => {
  const { serverSide, client } = await connectedPair(t, { autoPong: false });
  let pingsSeen = 0;
  client.on('ping', () => {
    pingsSeen += 1;
  });
  let dead = 0;
  let stateWhenDead: number | undefined;
  const serverClosed = once(serverSide, 'close');
  const clientClosed = once(client, 'close') as Promise<[number, Buffer]>;
  const stop = keepAlive(serverSide, INTERVAL_MS, () => {
    dead += 1;
    stateWhenDead = serverSide.readyState;
  });
  t.teardown(stop);
  await serverClosed;
  t.equal(dead, 1, 'onDead was called once');
  t.equal(stateWhenDead, WebSocket.OPEN, 'onDead runs before the socket is terminated');
  t.equal(serverSide.readyState, WebSocket.CLOSED, 'the pinging side is closed');
  t.ok(pingsSeen >= 1, `the silent peer received ${pingsSeen} ping(s) and did not answer`);
  const [code] = await clientClosed;
  t.equal(code, 1006, 'the silent peer sees an abnormal close');
});

t.test('a peer whose socket is paused is cut off', async (t) => {
  const { serverSide, client } = await connectedPair(t);
  // The server stops reading: the client's pings are never seen, so never answered.
  (serverSide as unknown as { _socket: Socket })._socket.pause();
  let dead = 0;
  let pongsSeen = 0;
  client.on('pong', () => {
    pongsSeen += 1;
  });
  const clientClosed = once(client, 'close');
  const stop = keepAlive(client, INTERVAL_MS, () => {
    dead += 1;
  });
  t.teardown(stop);
  await clientClosed;
  t.equal(dead, 1, 'onDead was called once');
  t.equal(pongsSeen, 0, 'no pong ever arrived');
  t.equal(client.readyState, WebSocket.CLOSED);
});
