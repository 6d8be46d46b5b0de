import { EventEmitter, once } from 'node:events';
import { throwawayIdentity } from '../helpers/raw-peer';
import t, { type Test } from 'tap';
import type { WebSocket } from 'ws';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { PeerServer } from '../../extension/transport/peer-server';
import { acceptChannel, failureReason, initiateChannel, type HandshakeOptions } from '../../extension/wire/channel-handshake';
import { DecisionResult, RefusalReason, type Decision } from '../../extension/wire/decision';
import { SecureChannel } from '../../extension/wire/secure-channel';
import { SessionCipher } from '../../extension/wire/session-cipher';
import { Intent } from '../../extension/wire/handshake-payload';

const identity = throwawayIdentity;

function nextMessage(channel: SecureChannel): Promise<[number, Uint8Array]> {
  return new Promise((resolve) => channel.setMessageHandler((type, body) => resolve([type, body])));
}

const options: HandshakeOptions = { handshakeTimeoutMs: 2000, maxMessagesPerKey: 1000, keepaliveIntervalMs: 60_000 };
const session = { intent: Intent.SESSION, requestId: new Uint8Array(16), listenPort: 0, displayName: 'Alice' } as const;

async function serve(t: Test, onSocket: (socket: WebSocket, ip: string) => void, limits = DEFAULT_TRANSPORT_LIMITS) {
  const refused: string[] = [];
  const server = new PeerServer({
    host: '127.0.0.1',
    port: 0,
    limits,
    onConnection: onSocket,
    onRefused: (reason) => refused.push(reason),
  });
  const address = await server.listen();
  t.teardown(() => server.close());
  return { server, address: `127.0.0.1:${address.port}`, refused };
}

t.test('a session opens and carries messages both ways', async (t) => {
  const alice = identity();
  const bob = identity();
  let accepted!: Promise<Awaited<ReturnType<typeof acceptChannel>>>;
  const { address } = await serve(t, (socket, ip) => {
    accepted = acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => ({ result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE }), options);
  });
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, session, address, options);
  t.equal(outcome.decision.result, DecisionResult.SESSION_OPEN);
  t.equal(outcome.peer.payload.displayName, 'Bob');
  const server = await accepted;
  t.same(server.peer.publicKey, alice.publicKey);
  const aliceSide = outcome.channel;
  const bobSide = server.channel;
  if (aliceSide === null || bobSide === null) throw new Error('expected open channels');

  const atBob = nextMessage(bobSide);
  aliceSide.send(0x20, Buffer.from('hello bob'));
  const [type, body] = await atBob;
  t.equal(type, 0x20);
  t.equal(Buffer.from(body).toString(), 'hello bob');

  const atAlice = nextMessage(aliceSide);
  bobSide.send(0x21, Buffer.from('hello alice'));
  const [type2, body2] = await atAlice;
  t.equal(type2, 0x21);
  t.equal(Buffer.from(body2).toString(), 'hello alice');

  const closedAtBob = once(bobSide, 'close');
  aliceSide.close();
  await closedAtBob;
  t.equal(bobSide.isOpen, false);
});

t.test('a refusal closes the connection after the decision', async (t) => {
  const alice = identity();
  const bob = identity();
  const decided: Decision = { result: DecisionResult.REFUSED, reason: RefusalReason.NOT_TRUSTED };
  const { address } = await serve(t, (socket, ip) => {
    void acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => decided, options);
  });
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, session, address, options);
  t.same(outcome.decision, decided);
  t.equal(outcome.channel, null);
});

t.test('a stored pair request: the initiator sends its follow-up before closing; a responder that asked reads it', async (t) => {
  const alice = identity();
  const bob = identity();
  const stored: Decision = { result: DecisionResult.REQUEST_STORED, reason: RefusalReason.NONE };
  const request = { ...session, intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(16).fill(7) } as const;
  let accepted!: Promise<Awaited<ReturnType<typeof acceptChannel>>>;
  const { address } = await serve(t, (socket, ip) => {
    accepted = acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => stored, options, Date.now(), true);
  });
  const followUp = { type: 0x27, body: Buffer.from('{"name":"Alice\'s agent"}') };
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, request, address, options, Date.now(), followUp);
  t.same([outcome.decision, outcome.channel], [stored, null], 'the initiator is done: no session');
  const atBob = await accepted;
  t.equal(atBob.channel, null);
  const requestChannel = atBob.requestChannel;
  if (requestChannel === null) throw new Error('expected the request channel');
  const [type, body] = await nextMessage(requestChannel);
  t.same([type, Buffer.from(body).toString()], [0x27, '{"name":"Alice\'s agent"}']);
  requestChannel.close();

  // A responder that did not ask closes at once, as before: the follow-up goes nowhere, and nothing fails.
  const { address: older } = await serve(t, (socket, ip) => void acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => stored, options));
  const again = await initiateChannel(await dial(older, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, request, older, options, Date.now(), followUp);
  t.same(again.decision, stored);
});

t.test('a silent client is cut off at the handshake timeout', async (t) => {
  const bob = identity();
  let failure = '';
  const done = new Promise<void>((resolve) => {
    void serve(t, (socket, ip) => {
      acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => ({ result: 1, reason: 0 }), { ...options, handshakeTimeoutMs: 50 }).catch((error: unknown) => {
        failure = failureReason(error);
        resolve();
      });
    }).then(async ({ address }) => {
      const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
      await once(socket, 'close');
    });
  });
  await done;
  t.equal(failure, 'timeout');
});

t.test('the handshake timeout counts from when the connection began, not from the upgrade', async (t) => {
  const alice = identity();
  const bob = identity();
  // Each side has already spent its whole budget (on the TCP accept or dial, and the upgrade).
  const spent = () => Date.now() - options.handshakeTimeoutMs;
  const outcome = (handshake: Promise<unknown>) => handshake.then(() => 'opened', failureReason);
  let atBob!: Promise<string>;
  const { address } = await serve(t, (socket, ip) => {
    atBob = outcome(acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => ({ result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE }), options, spent()));
  });
  const atAlice = outcome(initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, session, address, options, spent()));
  t.equal(await atBob, 'timeout', 'the responder gives up');
  t.equal(await atAlice, 'timeout', 'the initiator gives up');
});

t.test('the per-IP cap refuses extra TCP connections before any parsing', async (t) => {
  const sockets: WebSocket[] = [];
  const { address, refused } = await serve(t, (socket) => sockets.push(socket), { ...DEFAULT_TRANSPORT_LIMITS, maxConnectionsPerIp: 2 });
  const first = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const second = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  await t.rejects(dial(address, DEFAULT_TRANSPORT_LIMITS), /cannot reach/);
  t.same(refused, ['ip_connection_cap']);
  first.terminate();
  second.terminate();
});

t.test('a wrong path is refused at the HTTP stage', async (t) => {
  const { address, refused } = await serve(t, () => t.fail('no WebSocket expected'));
  const { WebSocket } = await import('ws');
  const socket = new WebSocket(`ws://${address}/other`);
  const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
  t.equal(response.statusCode, 404);
  t.same(refused, ['bad_upgrade']);
  socket.on('error', () => undefined);
  socket.terminate();
});

t.test('a key at its message limit closes the channel for a rekey', async (t) => {
  const alice = identity();
  const bob = identity();
  const small = { ...options, maxMessagesPerKey: 3 };
  let accepted!: Promise<Awaited<ReturnType<typeof acceptChannel>>>;
  const { address } = await serve(t, (socket, ip) => {
    accepted = acceptChannel(socket, bob, { displayName: 'Bob' }, ip, () => ({ result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE }), small);
  });
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), alice, bob.publicKey, session, address, small);
  const bobSide = (await accepted).channel;
  const aliceSide = outcome.channel;
  if (bobSide === null || aliceSide === null) throw new Error('expected open channels');
  const closedAtAlice = once(aliceSide, 'close');
  aliceSide.setMessageHandler(() => undefined);
  t.equal(bobSide.send(0x20), true, 'message 2 under the key (the decision was 1)');
  t.equal(bobSide.send(0x20), true, 'message 3');
  t.equal(bobSide.send(0x20), false, 'message 4 would exceed the key: refused');
  t.equal(bobSide.isOpen, false);
  const [code] = await closedAtAlice;
  t.equal(code, 4001, 'the peer learns it is a rekey');
});

t.test('messages that arrive before anyone handles them wait, in order', async (t) => {
  const key = new Uint8Array(32).fill(5);
  const socket = Object.assign(new EventEmitter(), { send() {}, close() {}, terminate() {}, ping() {} });
  const channel = new SecureChannel(socket as unknown as WebSocket, { send: new Uint8Array(32), receive: key, transcriptHash: new Uint8Array(32) }, { publicKey: new Uint8Array(32), displayName: 'x' }, 'initiator', 'here', options);
  const peer = new SessionCipher(key);
  for (const n of [1, 2, 3]) socket.emit('message', Buffer.from(peer.seal(Uint8Array.of(0x30, n))), true);
  const seen: number[] = [];
  channel.setMessageHandler((_type, body) => seen.push(body[0] as number));
  t.same(seen, [1, 2, 3], 'queued messages delivered in order as soon as a handler is set');
  socket.emit('message', Buffer.from(peer.seal(Uint8Array.of(0x30, 4))), true);
  // Handed over in this turn or, if its slice is used up, the next one.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [1, 2, 3, 4], 'then live');
  channel.close();
});

/** A channel over a stand-in for a ws socket that only records whether it was paused; `key` opens what it receives. */
function channelOverFakeSocket(key: Uint8Array): { socket: EventEmitter & { isPaused: boolean }; channel: SecureChannel } {
  const socket = Object.assign(new EventEmitter(), {
    isPaused: false,
    send() {},
    close() {},
    terminate() {},
    ping() {},
    pause() {
      socket.isPaused = true;
    },
    resume() {
      socket.isPaused = false;
    },
  });
  const keys = { send: new Uint8Array(32), receive: key, transcriptHash: new Uint8Array(32) };
  const channel = new SecureChannel(socket as unknown as WebSocket, keys, { publicKey: new Uint8Array(32), displayName: 'x' }, 'initiator', 'here', options);
  return { socket, channel };
}

t.test('a burst is handed over in slices: the event loop runs between them, order holds, and the socket stops reading while too many wait', async (t) => {
  const key = new Uint8Array(32).fill(6);
  const { socket, channel } = channelOverFakeSocket(key);
  const seen: number[] = [];
  let all!: () => void;
  const allHandled = new Promise<void>((resolve) => (all = resolve));
  channel.setMessageHandler((_type, body) => {
    // Each message costs about as much as a signature check would.
    const until = performance.now() + 0.1;
    while (performance.now() < until);
    seen.push(Buffer.from(body).readUInt16BE(0));
    if (seen.length === 1000) all();
  });
  const peer = new SessionCipher(key);
  // One socket read's worth of messages, all emitted in one go as ws does.
  for (let n = 0; n < 1000; n += 1) {
    const body = Buffer.alloc(3);
    body[0] = 0x30;
    body.writeUInt16BE(n, 1);
    socket.emit('message', Buffer.from(peer.seal(body)), true);
  }
  t.ok(seen.length < 1000, `only a slice was handled in the read's own turn (${seen.length})`);
  t.ok(socket.isPaused, 'with hundreds waiting, the socket stopped reading');
  let handledWhenTheLoopRan = -1;
  setImmediate(() => (handledWhenTheLoopRan = seen.length));
  await allHandled;
  t.ok(handledWhenTheLoopRan >= 0 && handledWhenTheLoopRan < 1000, `other work ran in between (after ${handledWhenTheLoopRan} messages)`);
  t.same(seen, Array.from({ length: 1000 }, (_, n) => n), 'every message, in order');
  t.notOk(socket.isPaused, 'reading again once the queue drained');
  channel.close();
});

t.test('large messages stop the socket by their bytes, long before their count would', async (t) => {
  const key = new Uint8Array(32).fill(7);
  const { socket, channel } = channelOverFakeSocket(key);
  const peer = new SessionCipher(key);
  const mebibyte = Buffer.alloc(1024 * 1024, 0x61);
  mebibyte[0] = 0x30;
  for (let n = 0; n < 7; n += 1) socket.emit('message', Buffer.from(peer.seal(mebibyte)), true);
  t.notOk(socket.isPaused, 'seven MiB waiting: still reading');
  socket.emit('message', Buffer.from(peer.seal(mebibyte)), true);
  t.ok(socket.isPaused, 'eight MiB waiting: the socket stops reading');
  const handled: number[] = [];
  let all!: () => void;
  const allHandled = new Promise<void>((resolve) => (all = resolve));
  channel.setMessageHandler((_type, body) => {
    handled.push(body.length);
    if (handled.length === 8) all();
  });
  await allHandled;
  t.notOk(socket.isPaused, 'reading again once they were handled');
  channel.close();
});
