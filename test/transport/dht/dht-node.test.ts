import t from 'tap';
import { DhtNode, failureOf } from '../../../extension/transport/dht/dht-node';

t.test('a failed DHT connection is read for what to do next', async (t) => {
  t.equal(failureOf('HOLEPUNCH_DOUBLE_RANDOMIZED_NATS', false), 'holepunch_failed', 'both NATs change ports: a relay is needed, whatever ours does');
  for (const code of ['HOLEPUNCH_ABORTED', 'HOLEPUNCH_PROBE_TIMEOUT', 'CANNOT_HOLEPUNCH', 'REMOTE_NOT_HOLEPUNCHABLE', 'REMOTE_NOT_HOLEPUNCHING']) {
    t.equal(failureOf(code, true), 'holepunch_failed', `${code} from behind a NAT that changes ports: a relay is needed`);
    // hyperdht also aborts a punch it only postponed (one random-port punch per 20 s): from a NAT that keeps its ports, retry.
    t.equal(failureOf(code, false), 'holepunch_aborted', `${code} from behind a NAT that keeps its ports: worth retrying`);
  }
  t.equal(failureOf('PEER_NOT_FOUND', true), 'peer_not_found', 'nobody announces under that key: no relay can help');
  t.equal(failureOf('RELAY_ABORTED', false), 'relay_failed');
  for (const code of ['PEER_CONNECTION_FAILED', 'SERVER_ERROR', undefined]) t.equal(failureOf(code, false), 'unreachable', String(code));
});

/**
 * hyperdht as far as listening goes: one server per key pair in a DHT, a
 * second listen under a key already listened under is refused, as
 * hyperdht's server does. Listens wait for the DHT to be ready.
 */
function fakeHyperDht() {
  const listens: string[] = [];
  let markReady = (): void => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  class FakeDht {
    private readonly used = new Set<string>();
    static keyPair(seed: Uint8Array) {
      return { publicKey: Buffer.from(seed), secretKey: Buffer.alloc(64) };
    }
    ready(): Promise<void> {
      return ready;
    }
    createServer() {
      const used = this.used;
      let key: string | null = null;
      return {
        async listen(keyPair: { publicKey: Buffer }) {
          await ready;
          const hex = keyPair.publicKey.toString('hex');
          if (used.has(hex)) throw Object.assign(new Error('KEYPAIR_ALREADY_USED: this keypair is already used by a server'), { code: 'KEYPAIR_ALREADY_USED' });
          used.add(hex);
          key = hex;
          listens.push(hex);
        },
        async close() {
          if (key !== null) used.delete(key);
        },
      };
    }
    connect(): never {
      throw new Error('not dialed in this test');
    }
    async destroy(): Promise<void> {}
  }
  return { HyperDht: FakeDht, listens, markReady };
}

t.test('a rotation while the DHT starts: each key is listened under once, and neither the start nor the rotation fails', async (t) => {
  const { HyperDht, listens, markReady } = fakeHyperDht();
  const seed = (fill: number) => new Uint8Array(32).fill(fill);
  const node = new DhtNode({
    seeds: [seed(1)],
    bootstrap: [],
    host: '127.0.0.1',
    announce: true,
    connectTimeoutMs: 1000,
    closeTimeoutMs: 1000,
    admit: () => true,
    onConnection: () => undefined,
    loadHyperDht: () => HyperDht as never,
  });
  const started = node.start();
  // The rotation: a new current key, the old one listened under for its grace period.
  const followed = node.listenUnder([seed(2), seed(1)]);
  const rotatedAgain = node.listenUnder([seed(3), seed(2), seed(1)]);
  markReady();
  await t.resolves(started, 'the DHT starts');
  await t.resolves(followed, 'the rotation follows');
  await t.resolves(rotatedAgain, 'and so does the next one');
  t.same(listens.sort(), ['01', '02', '03'].map((byte) => byte.repeat(32)), 'one listen per key');
  t.same(node.listeningKeys.map((key) => Buffer.from(key).toString('hex')), ['03', '02', '01'].map((byte) => byte.repeat(32)), 'current key first');
  t.same(node.publicKey, seed(3), 'dialing under the current key');
});
