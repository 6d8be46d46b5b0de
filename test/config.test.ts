import t from 'tap';
import { DEFAULT_DISCOVERY_CONFIG, DEFAULT_STDIO_LIMITS, discoveryConfigFromEnv, resolveDataDir, stdioLimitsFromEnv } from '../extension/config';

t.test('defaults apply without environment overrides', async (t) => {
  t.same(stdioLimitsFromEnv({}), DEFAULT_STDIO_LIMITS);
});

t.test('overrides are read and checked', async (t) => {
  t.equal(stdioLimitsFromEnv({ P2P_COMM_MAX_LINE_BYTES: '4096' }).maxLineBytes, 4096);
  t.throws(() => stdioLimitsFromEnv({ P2P_COMM_MAX_LINE_BYTES: '4k' }), /P2P_COMM_MAX_LINE_BYTES must be a whole number from 1 to \d+, got "4k"/);
  t.throws(() => stdioLimitsFromEnv({ P2P_COMM_SHUTDOWN_DEADLINE_MS: '0' }), /whole number from 1/);
});

t.test('data_dir must be absolute', async (t) => {
  t.equal(resolveDataDir('/var/lib/x'), '/var/lib/x');
  t.throws(() => resolveDataDir('x'), /absolute path/);
  t.match(resolveDataDir(undefined), /\.nexus\/p2p-comm$/);
});

t.test('discovery: on by default on every interface; mode, interface and limits read strictly', async (t) => {
  t.same(discoveryConfigFromEnv({}), DEFAULT_DISCOVERY_CONFIG);
  t.match(DEFAULT_DISCOVERY_CONFIG, { mode: 'on', interface: null, maxPeers: 256 });
  for (const mode of ['on', 'off', 'advertise', 'browse']) t.equal(discoveryConfigFromEnv({ P2P_COMM_MDNS: mode }).mode, mode);
  t.throws(() => discoveryConfigFromEnv({ P2P_COMM_MDNS: 'yes' }), /P2P_COMM_MDNS must be one of on, off, advertise, browse, got "yes"/);
  t.throws(() => discoveryConfigFromEnv({ P2P_COMM_MDNS: 'OFF' }), /must be one of/);
  t.equal(discoveryConfigFromEnv({ P2P_COMM_MDNS_INTERFACE: '192.168.1.20' }).interface, '192.168.1.20');
  for (const bad of ['eth0', '192.168.1', '192.168.001.20', '::1', '127.0.0.1 ']) {
    t.throws(() => discoveryConfigFromEnv({ P2P_COMM_MDNS_INTERFACE: bad }), /P2P_COMM_MDNS_INTERFACE must be the IPv4 address of a local interface/, bad);
  }
  t.equal(discoveryConfigFromEnv({ P2P_COMM_MDNS_MAX_PEERS: '16' }).maxPeers, 16);
  t.throws(() => discoveryConfigFromEnv({ P2P_COMM_MDNS_MAX_PEERS: '0' }), /P2P_COMM_MDNS_MAX_PEERS must be a whole number from 1/);
  t.same(discoveryConfigFromEnv({ P2P_COMM_MDNS_SOURCE_RATE_BURST: '5', P2P_COMM_MDNS_SOURCE_RATE_PER_SECOND: '1' }).sourceRate, { burst: 5, perSecond: 1 });
  t.throws(() => discoveryConfigFromEnv({ P2P_COMM_MDNS_REQUERY_MS: '10' }), /P2P_COMM_MDNS_REQUERY_MS must be a whole number from 1000/);
});
