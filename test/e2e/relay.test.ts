import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import createTestnet from 'hyperdht/testnet';
import { tempDir } from '../helpers/extension';
import { spawnLineProcess, type LineProcess } from '../helpers/line-process';

/**
 * `p2p-comm-host relay`, built, on 127.0.0.1 with a DHT of our own: two
 * hyperdht peers that are not allowed to hole-punch reach each other only
 * through it.
 */
const HOST_CLI = resolve(__dirname, '..', '..', 'dist', 'p2p-comm-host');
const PAYLOAD_BYTES = 64 * 1024;

interface Relay {
  process: LineProcess;
  ready: { public_key: string; host: string; port: number };
}

/** A UDP port free on 127.0.0.1 right now (the relay refuses to fall back to another one). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  return port;
}

async function startRelay(t: Test, args: readonly string[]): Promise<Relay> {
  const relay = spawnLineProcess(process.execPath, [HOST_CLI, 'relay', ...args]);
  t.teardown(() => relay.stop('SIGKILL'));
  const line = await relay.waitForLine(() => true, 'the ready line');
  return { process: relay, ready: JSON.parse(line) as Relay['ready'] };
}

t.test('relays a connection between two peers that may not hole-punch; the key survives a restart', async (t) => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' });
  t.teardown(() => testnet.destroy());
  const bootstrap = testnet.bootstrap.map(({ host, port }) => `${host}:${port}`).join(',');
  const hostDir = join(tempDir(t), 'host');
  const port = await freeUdpPort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--bootstrap', bootstrap, '--host-dir', hostDir, '--json'];
  const relay = await startRelay(t, args);
  t.match(relay.ready, { public_key: /^[0-9a-f]{64}$/, host: '127.0.0.1', port });
  t.equal(relay.process.stdout.length, 1, 'one line on stdout');
  t.equal(statSync(join(hostDir, 'relay-seed')).mode & 0o777, 0o600, 'the seed is private');

  // The server never punches and the client refuses to; both stay "firewalled" (on loopback every node
  // is reachable unasked, and a reachable client would be dialled directly): the relay is their only path.
  const serverNode = testnet.createNode({ quickFirewall: false });
  const server = serverNode.createServer({ holepunch: false, shareLocalAddress: false }, (socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => socket.write(data));
  });
  await server.listen();
  const client = testnet.createNode({ quickFirewall: false }).connect(server.publicKey, {
    relayThrough: Buffer.from(relay.ready.public_key, 'hex'),
    holepunch: () => false,
    localConnection: false,
  });
  t.teardown(() => client.destroy());
  await once(client, 'open');
  const payload = randomBytes(PAYLOAD_BYTES);
  client.write(payload);
  const echoed = await new Promise<Buffer>((resolveEcho) => {
    const chunks: Buffer[] = [];
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= PAYLOAD_BYTES) resolveEcho(Buffer.concat(chunks));
    });
  });
  t.ok(echoed.equals(payload), 'the bytes came back intact');
  t.same({ host: client.rawStream?.remoteHost, port: client.rawStream?.remotePort }, { host: '127.0.0.1', port }, "the client's packets go to the relay's port");
  t.match(relay.process.stderr.join('\n'), /relaying for [0-9a-f]{16}… \(initiator, pairing [0-9a-f]{8}\)/, 'the relay logs the pairing');

  const second = spawnLineProcess(process.execPath, [HOST_CLI, 'relay', ...args]);
  t.same(await second.exited, { code: 2, signal: null }, 'a second relay on the same port is refused');
  t.match(second.stderr.join('\n'), `UDP port ${port} on 127.0.0.1 is already in use (another relay or DHT node?); stop it or choose another --port`);

  t.same(await relay.process.stop('SIGTERM'), { code: 0, signal: null }, 'SIGTERM stops it cleanly');
  t.match(relay.process.stderr.at(-1), /stopped$/);

  const again = await startRelay(t, args);
  t.equal(again.ready.public_key, relay.ready.public_key, 'the same key after a restart');
});

t.test('the human ready line; refused options exit 2 before anything starts', async (t) => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' });
  t.teardown(() => testnet.destroy());
  const bootstrap = testnet.bootstrap.map(({ host, port }) => `${host}:${port}`).join(',');
  const port = await freeUdpPort();
  const relay = spawnLineProcess(process.execPath, [HOST_CLI, 'relay', '--host', '127.0.0.1', '--port', String(port), '--bootstrap', bootstrap, '--host-dir', tempDir(t)]);
  t.teardown(() => relay.stop('SIGKILL'));
  t.match(await relay.waitForLine(() => true, 'the ready line'), new RegExp(`^relay listening: public key [0-9a-f]{64}, UDP 127\\.0\\.0\\.1:${port}$`));

  const hostDir = join(tempDir(t), 'never-created');
  const empty = spawnLineProcess(process.execPath, [HOST_CLI, 'relay', '--bootstrap', '', '--host-dir', hostDir]);
  t.same(await empty.exited, { code: 2, signal: null });
  t.match(empty.stderr.join('\n'), 'p2p-comm-host: --bootstrap needs at least one HOST:PORT');
  t.throws(() => readFileSync(join(hostDir, 'relay-seed')), { code: 'ENOENT' }, 'no seed made for a refused command');
});
