import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type HyperDHT from 'hyperdht';
import t, { type Test } from 'tap';
import { dhtAddress } from '../../../extension/common/dht-address';
import { DhtSocket } from '../../../extension/transport/dht/dht-socket';
import { localTestnet } from '../../helpers/dht-testnet';
import { FakeDhtStream, socketOver } from '../../helpers/fake-dht-stream';

/** Resolves once the event loop has run what is already due: stream callbacks, not time. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

t.test('the socket is known by the remote DHT key, as per-address limits see it', async (t) => {
  const socket = socketOver(new FakeDhtStream(Buffer.alloc(32, 0xab)));
  t.equal(socket.remoteAddress, `dht:${'ab'.repeat(32)}`);
  t.equal(socket.remoteAddress, dhtAddress(new Uint8Array(32).fill(0xab)));
  t.equal(socket.remotePort, 0);
  t.equal(socket.setNoDelay(), socket, 'socket tuning calls are accepted and do nothing');
  t.equal(socket.setKeepAlive(), socket);
  t.equal(socket.setTimeout(), socket);
});

t.test('incoming: the DHT stream is paused while the reader lags, and resumed when it reads', async (t) => {
  const stream = new FakeDhtStream();
  const socket = socketOver(stream);
  const chunk = Buffer.alloc(4096, 1);
  // Nobody reads: the socket's buffer fills to its high-water mark, then it asks the stream to pause.
  let pushed = 0;
  while (stream.pauses === 0) {
    stream.emit('data', chunk);
    pushed += chunk.length;
    if (pushed > 1024 * 1024) break;
  }
  t.equal(stream.pauses, 1, 'paused once the socket buffered its high-water mark');
  t.equal(pushed, socket.readableHighWaterMark, 'and not before');
  t.equal(socket.readableLength, pushed, 'nothing was lost or read');
  const resumesBefore = stream.resumes;
  let read = 0;
  for (let data = socket.read() as Buffer | null; data !== null; data = socket.read() as Buffer | null) read += data.length;
  await settled();
  t.equal(read, pushed, 'the reader gets every byte');
  t.ok(stream.resumes > resumesBefore, 'reading resumed the stream');
});

t.test('outgoing: a full DHT stream holds back the next write until it drains', async (t) => {
  const stream = new FakeDhtStream();
  const socket = socketOver(stream);
  stream.accepts = false;
  let firstDone = false;
  socket.write(Buffer.from('first'), () => {
    firstDone = true;
  });
  const second = socket.write(Buffer.alloc(socket.writableHighWaterMark, 2));
  await settled();
  t.same(stream.written, [Buffer.from('first')], 'only the first chunk reached the stream');
  t.equal(firstDone, false, 'the first write is not done while the stream is full');
  t.equal(second, false, 'the socket tells its writer to wait');
  t.ok(socket.writableLength > 0, 'the rest waits in the socket');
  stream.accepts = true;
  const drained = once(socket, 'drain');
  stream.emit('drain');
  await drained;
  t.equal(firstDone, true, 'done once the stream drained');
  t.equal(stream.written.length, 2, 'the second chunk followed');
  t.equal(socket.writableLength, 0);
});

t.test('end travels both ways: the remote’s end ends the socket, the socket’s end ends the stream', async (t) => {
  const remoteEnds = new FakeDhtStream();
  const socket = socketOver(remoteEnds);
  const ended = once(socket, 'end');
  socket.resume();
  remoteEnds.emit('data', Buffer.from('last words'));
  remoteEnds.emit('end');
  await ended;
  await settled();
  t.equal(remoteEnds.ended, true, 'no half-open socket: the socket ends its side too');

  const localEnds = new FakeDhtStream();
  const other = socketOver(localEnds);
  const finished = once(other, 'finish');
  other.end(Buffer.from('bye'));
  await finished;
  t.same(localEnds.written, [Buffer.from('bye')], 'what was written before end goes first');
  t.equal(localEnds.ended, true, 'then the stream is ended');
});

t.test('destroy travels both ways, and the stream’s error reaches the socket’s owner', async (t) => {
  const stream = new FakeDhtStream();
  const socket = socketOver(stream);
  const closed = once(socket, 'close');
  socket.destroy();
  await closed;
  t.equal(stream.destroyed, true, 'destroying the socket destroys the stream');

  const closing = new FakeDhtStream();
  const closedBySocket = socketOver(closing);
  const socketClosed = once(closedBySocket, 'close');
  closing.destroy();
  await socketClosed;
  t.equal(closedBySocket.destroyed, true, 'the stream’s close destroys the socket');

  const failing = new FakeDhtStream();
  const failed = socketOver(failing);
  const error = new Error('connection reset by the DHT');
  const heard = once(failed, 'error');
  failing.emit('error', error);
  t.equal((await heard)[0], error, 'the very error');
  t.equal(failed.destroyed, true);
  t.equal(failing.destroyed, true, 'and the stream is destroyed with it');
});

/** Two nodes of a local testnet and one open connection between them, each end wrapped. */
async function connectedPair(t: Test): Promise<{ client: DhtSocket; server: DhtSocket; clientKey: Buffer; serverKey: Buffer }> {
  const testnet = await localTestnet(t);
  const a = testnet.createNode();
  const b = testnet.createNode();
  const HyperDht = a.constructor as typeof HyperDHT;
  const serverKeys = HyperDht.keyPair();
  const clientKeys = HyperDht.keyPair();
  let onAccepted: (socket: DhtSocket) => void = () => undefined;
  const accepted = new Promise<DhtSocket>((resolve) => {
    onAccepted = resolve;
  });
  const listener = b.createServer({}, (stream) => onAccepted(new DhtSocket(stream)));
  t.teardown(() => listener.close());
  await listener.listen(serverKeys);
  const stream = a.connect(serverKeys.publicKey, { keyPair: clientKeys });
  await once(stream, 'open');
  const client = new DhtSocket(stream);
  const server = await accepted;
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server, clientKey: clientKeys.publicKey, serverKey: serverKeys.publicKey };
}

t.test('over a real DHT connection (local testnet): addresses, 4 MiB with backpressure, end and destroy', async (t) => {
  const { client, server, clientKey, serverKey } = await connectedPair(t);
  t.equal(server.remoteAddress, dhtAddress(clientKey), 'the server knows the client by its DHT key');
  t.equal(client.remoteAddress, dhtAddress(serverKey), 'and the client the server');

  const payload = randomBytes(4 * 1024 * 1024);
  const received: Buffer[] = [];
  server.on('data', (chunk: Buffer) => received.push(chunk));
  const serverEnded = once(server, 'end');
  let refusals = 0;
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    if (!client.write(payload.subarray(offset, offset + 64 * 1024))) {
      refusals += 1;
      await once(client, 'drain');
    }
  }
  client.end();
  await serverEnded;
  t.ok(refusals > 0, `the writer was held back ${refusals} times`);
  const got = Buffer.concat(received);
  t.equal(got.length, payload.length, 'every byte arrived');
  t.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'), 'in order');

  // Not once(): a reset would be reported as an error first, and the close is what the owner acts on.
  const clientClosed = new Promise((resolve) => client.once('close', resolve));
  const clientErrors: string[] = [];
  client.on('error', (error: Error & { code?: string }) => clientErrors.push(error.code ?? error.message));
  server.destroy();
  await clientClosed;
  t.equal(client.destroyed, true, 'the server destroying its end closes the client');
  t.same(clientErrors, [], 'the client had ended cleanly (its end waited for the stream to flush): the close is no error');
});
