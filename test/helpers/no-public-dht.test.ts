import t from 'tap';
import { assertNoPublicDht, LOOPBACK_ONLY } from './extension';

const NO_BOOTSTRAP = /^a test node would join the public DHT: set P2P_COMM_DHT=off, or P2P_COMM_DHT_BOOTSTRAP to a local testnet$/;

t.test('a node with the DHT on and no bootstrap of its own is refused: it would join the public DHT', async (t) => {
  for (const env of [{}, { P2P_COMM_DHT: 'on' }, { P2P_COMM_DHT: 'connect' }, { P2P_COMM_DHT: '' }, { P2P_COMM_DHT_BOOTSTRAP: '' }, { P2P_COMM_DHT_BOOTSTRAP: ' , ' }]) {
    t.throws(() => assertNoPublicDht(env), { message: NO_BOOTSTRAP }, JSON.stringify(env));
  }
});

t.test('a bootstrap node that is not a local IPv4 address is refused, named', async (t) => {
  const remote = [
    '88.99.3.86:49737',
    'node1.hyperdht.org:49737',
    '88.99.3.86@node1.hyperdht.org:49737',
    // The suggested IP is contacted first, whatever the host after it.
    '88.99.3.86@127.0.0.1:49737',
    '127.0.0.1@node1.hyperdht.org:49737',
    // Names that merely start like a local address resolve wherever their owner likes.
    '127.example.org:49737',
    '10.0.0.1.example.org:49737',
    'localhost:49737',
    '172.32.0.1:49737',
    '192.169.0.1:49737',
    '11.0.0.1:49737',
  ];
  for (const node of remote) {
    t.throws(() => assertNoPublicDht({ P2P_COMM_DHT_BOOTSTRAP: node }), { message: `a test node may only bootstrap from a local testnet, not ${node}` }, node);
    t.throws(() => assertNoPublicDht({ P2P_COMM_DHT: 'on', P2P_COMM_DHT_BOOTSTRAP: `127.0.0.1:1,${node}` }), /not /, `${node} after a local one`);
  }
});

t.test('loopback and private IPv4 bootstrap nodes, or the DHT off, are accepted', async (t) => {
  for (const bootstrap of ['127.0.0.1:49737', '127.1.2.3:1', '10.200.0.1:49737', '192.168.1.20:49737', '172.16.0.1:1', '172.31.255.255:1', '127.0.0.1@127.0.0.1:2', ' 127.0.0.1:1 , 127.0.0.1:2 ']) {
    t.doesNotThrow(() => assertNoPublicDht({ P2P_COMM_DHT: 'on', P2P_COMM_DHT_BOOTSTRAP: bootstrap }), bootstrap);
  }
  t.doesNotThrow(() => assertNoPublicDht({ P2P_COMM_DHT: 'off' }), 'the DHT off');
  t.doesNotThrow(() => assertNoPublicDht({ P2P_COMM_DHT: 'off', P2P_COMM_DHT_BOOTSTRAP: 'node1.hyperdht.org:49737' }), 'the DHT off, whatever the bootstrap');
  t.doesNotThrow(() => assertNoPublicDht({ ...LOOPBACK_ONLY }), 'the default test environment');
  t.doesNotThrow(() => assertNoPublicDht({}, true), 'a node in an isolated namespace, with the default configuration');
});
