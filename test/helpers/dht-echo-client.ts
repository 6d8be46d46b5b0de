#!/usr/bin/env node
import { useNativeAddonDirectory } from '../../extension/common/native-addons';

/*
 * A program the packaging tests bundle the way the shipped artefacts are
 * bundled (a script, and a single-file executable), to show that hyperdht
 * runs from them with its native addons: a DHT node on the test's local
 * network (never the public bootstrap nodes), an encrypted connection to
 * the test's echo server, one message there and back.
 *
 * usage: dht-echo-client <addon dir> <bootstrap host:port> <server public key, hex> <message>
 * Prints the echo on stdout; exits 1 with the reason on stderr.
 */

interface EchoSocket {
  write(data: Buffer): void;
  end(): void;
  once(event: 'data', listener: (data: Buffer) => void): void;
  once(event: 'close', listener: () => void): void;
  once(event: 'error', listener: (error: Error) => void): void;
}

interface HyperDhtNode {
  connect(publicKey: Buffer): EchoSocket;
  destroy(): Promise<void>;
}

type HyperDhtConstructor = new (options: { bootstrap: string[]; host: string }) => HyperDhtNode;

async function main(): Promise<void> {
  // Under a single-file executable argv[1] repeats argv[0], as a script's path would follow node's.
  const [addonDir, bootstrap, serverKey, message] = process.argv.slice(2);
  if (addonDir === undefined || bootstrap === undefined || serverKey === undefined || message === undefined) {
    throw new Error('usage: dht-echo-client <addon dir> <bootstrap host:port> <server public key, hex> <message>');
  }
  useNativeAddonDirectory(addonDir);
  // Required only now: evaluating hyperdht loads the addons, from the directory just named.
  const HyperDht = require('hyperdht') as HyperDhtConstructor;
  const node = new HyperDht({ bootstrap: [bootstrap], host: '127.0.0.1' });
  try {
    const socket = node.connect(Buffer.from(serverKey, 'hex'));
    const echo = await new Promise<Buffer>((resolve, reject) => {
      socket.once('data', resolve);
      socket.once('error', reject);
      socket.write(Buffer.from(message, 'utf8'));
    });
    // Ended, not dropped: the server then forgets this client at once, and the next one from the same port is a stranger to it.
    await new Promise<void>((resolve) => {
      socket.once('close', resolve);
      socket.end();
    });
    process.stdout.write(`${echo.toString('utf8')}\n`);
  } finally {
    await node.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`dht-echo-client: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
