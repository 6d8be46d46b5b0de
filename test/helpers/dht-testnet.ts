import type { Test } from 'tap';
import createTestnet from 'hyperdht/testnet';
import type HyperDHT from 'hyperdht';
import { eventually, type TestNode } from './node';

export interface LocalTestnet {
  /** `host:port,...` for P2P_COMM_DHT_BOOTSTRAP. */
  bootstrap: string;
  /** A DHT node of the testnet's for the test itself (a stranger, say); destroyed with the testnet. */
  createNode(): HyperDHT;
}

/**
 * A DHT of its own on 127.0.0.1, torn down when the test ends: no DHT test
 * ever reaches the public bootstrap nodes. Four nodes, as hyperdht judges
 * its own NAT from several of them.
 */
export async function localTestnet(t: Test, size = 4): Promise<LocalTestnet> {
  const testnet = await createTestnet(size, { host: '127.0.0.1' });
  const extra: HyperDHT[] = [];
  t.teardown(async () => {
    await Promise.all(extra.map((node) => node.destroy({ force: true })));
    await testnet.destroy();
  });
  return {
    bootstrap: testnet.bootstrap.map(({ host, port }) => `${host}:${port}`).join(','),
    createNode() {
      const node = testnet.createNode();
      extra.push(node);
      return node;
    },
  };
}

/** Env for a node on the local testnet, listening and dialing on 127.0.0.1 only. */
export function dhtEnv(testnet: LocalTestnet): Record<string, string> {
  return { P2P_COMM_DHT: 'on', P2P_COMM_DHT_BOOTSTRAP: testnet.bootstrap, P2P_COMM_DHT_HOST: '127.0.0.1' };
}

/** The node's pairing link without its direct addresses: only the DHT can take a pairing there. */
export async function dhtOnlyLink(node: TestNode): Promise<string> {
  const link = await eventually(async () => {
    const identity = await node.call('identity');
    const text = identity['link'] as string | null;
    return text !== null && text.includes('dht=') ? text : undefined;
  }, 'a link with a DHT key');
  const url = new URL(link.replace('p2p-comm://', 'http://x/'));
  url.searchParams.delete('addr');
  return `p2p-comm://${url.pathname.slice(1)}?${url.searchParams.toString().replaceAll('+', '%20')}`;
}
