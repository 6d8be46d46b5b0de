import t from 'tap';
import {
  a2aConfigFromEnv,
  DEFAULT_FILES_CONFIG,
  DEFAULT_GROUPS_CONFIG,
  filesConfigFromEnv,
  groupsConfigFromEnv,
  DEFAULT_A2A_CONFIG,
  DEFAULT_DHT_CONFIG,
  DEFAULT_DISCOVERY_CONFIG,
  DEFAULT_STDIO_LIMITS,
  discoveryConfigFromEnv,
  KEY_GRACE_SECONDS_MAX,
  KEY_GRACE_SECONDS_MIN,
  messagingConfigFromEnv,
  MIN_FRAME_BYTES,
  networkConfigFromEnv,
  resolveDataDir,
  stdioLimitsFromEnv,
} from '../extension/config';
import { manifest } from '../extension/common/manifest';
import { quoteUntrusted } from '../extension/common/quote-text';
import { DEFAULT_TRANSPORT_LIMITS } from '../extension/transport/limits';
import { MAX_BATCH_POSITION } from '../extension/wire/receipt';
import { MAX_BATCH_BYTES } from '../extension/wire/signed-batch';

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

t.test('DHT: on by default, with the public bootstrap nodes, no relays, on every interface', async (t) => {
  t.same(networkConfigFromEnv({}).dht, DEFAULT_DHT_CONFIG);
  t.same(DEFAULT_DHT_CONFIG, { mode: 'on', bootstrap: null, relays: [], host: '0.0.0.0', connectTimeoutMs: 45_000, closeTimeoutMs: 1500 });
  const blank = networkConfigFromEnv({ P2P_COMM_DHT: '', P2P_COMM_DHT_BOOTSTRAP: ' ', P2P_COMM_RELAYS: '', P2P_COMM_DHT_HOST: '', P2P_COMM_DHT_CONNECT_TIMEOUT_MS: '' });
  t.same(blank.dht, DEFAULT_DHT_CONFIG, 'empty values mean the defaults');
});

t.test('P2P_COMM_DHT: on, connect or off, nothing else', async (t) => {
  for (const mode of ['on', 'connect', 'off']) t.equal(networkConfigFromEnv({ P2P_COMM_DHT: mode }).dht.mode, mode);
  for (const bad of ['ON', 'Off', 'yes', 'true', '0', 'announce', ' on', 'on ']) {
    t.throws(() => networkConfigFromEnv({ P2P_COMM_DHT: bad }), { message: `P2P_COMM_DHT must be one of on, off, connect, got ${JSON.stringify(bad)}` }, bad);
  }
  t.throws(() => networkConfigFromEnv({ P2P_COMM_DHT: 'o\u001bn' }), { message: 'P2P_COMM_DHT must be one of on, off, connect, got "o\\u001bn"' }, 'a hostile value is quoted escaped');
});

t.test('P2P_COMM_DHT_BOOTSTRAP: a comma-separated list of host:port, optionally with a suggested IP', async (t) => {
  const read = (value: string) => networkConfigFromEnv({ P2P_COMM_DHT_BOOTSTRAP: value }).dht.bootstrap;
  t.same(read('127.0.0.1:49737'), ['127.0.0.1:49737']);
  t.same(read('127.0.0.1:1, 10.0.0.2:65535 ,node.example.org:49737'), ['127.0.0.1:1', '10.0.0.2:65535', 'node.example.org:49737'], 'entries trimmed');
  t.same(read('88.99.3.86@node1.hyperdht.org:49737'), ['88.99.3.86@node1.hyperdht.org:49737'], 'hyperdht’s ip@host:port');
  t.equal(read(Array.from({ length: 32 }, (_, i) => `10.0.0.${i + 1}:1`).join(','))?.length, 32, '32 entries');
  const message = (entry: string) => `P2P_COMM_DHT_BOOTSTRAP must be a comma-separated list of host:port, got ${JSON.stringify(entry)}`;
  for (const bad of ['node.example.org', 'node.example.org:', ':49737', 'h:0', 'h:65536', 'h:123456', 'h:-1', 'a b:1', '[::1]:49737', 'user@h:1', 'h:1/x', 'h_1:1']) {
    t.throws(() => read(bad), { message: message(bad) }, bad);
  }
  t.throws(() => read('127.0.0.1:1,'), { message: message('') }, 'a trailing comma is an empty entry');
  t.throws(() => read('127.0.0.1:1,,127.0.0.1:2'), { message: message('') }, 'an empty entry in the middle');
  t.throws(() => read(Array.from({ length: 33 }, (_, i) => `10.0.0.${i + 1}:1`).join(',')), {
    message: 'P2P_COMM_DHT_BOOTSTRAP lists 33 entries; at most 32',
  });
});

t.test('P2P_COMM_RELAYS: a comma-separated list of relay public keys, 64 hex digits each', async (t) => {
  const key = 'ab'.repeat(32);
  const read = (value: string) => networkConfigFromEnv({ P2P_COMM_RELAYS: value }).dht.relays;
  t.same(read(key), [new Uint8Array(32).fill(0xab)]);
  t.same(read(`${key.toUpperCase()} , ${'01'.repeat(32)}`), [new Uint8Array(32).fill(0xab), new Uint8Array(32).fill(1)], 'upper case, spaces around');
  t.equal(read(Array.from({ length: 16 }, () => key).join(',')).length, 16, '16 relays');
  // Values are quoted as untrusted text: escaped, cut after 64 characters.
  const message = (entry: string) => `P2P_COMM_RELAYS must be a comma-separated list of relay public keys (64 hex digits each), got ${quoteUntrusted(entry)}`;
  for (const bad of [key.slice(2), `${key}ab`, `${key.slice(2)}zz`, Buffer.alloc(32, 0xab).toString('base64'), `0x${key.slice(2)}`]) {
    t.throws(() => read(bad), { message: message(bad) }, bad);
  }
  t.throws(() => read(`${key},`), { message: message('') }, 'an empty entry');
  t.throws(() => read(Array.from({ length: 17 }, () => key).join(',')), { message: 'P2P_COMM_RELAYS lists 17 entries; at most 16' });
});

t.test('P2P_COMM_DHT_HOST and P2P_COMM_DHT_CONNECT_TIMEOUT_MS', async (t) => {
  t.equal(networkConfigFromEnv({ P2P_COMM_DHT_HOST: '127.0.0.1' }).dht.host, '127.0.0.1');
  t.equal(networkConfigFromEnv({ P2P_COMM_DHT_HOST: '192.168.1.20' }).dht.host, '192.168.1.20');
  t.equal(networkConfigFromEnv({ P2P_COMM_DHT_HOST: '0.0.0.0' }).dht.host, '0.0.0.0');
  // The DHT's UDP socket binds an IPv4 address: a name would only fail later, when the DHT starts.
  for (const bad of ['localhost', 'my-laptop.local', '::1', '127.0.0.1:49737', '127.0.0.1,10.0.0.1', '192.168.1', 'a b']) {
    t.throws(
      () => networkConfigFromEnv({ P2P_COMM_DHT_HOST: bad }),
      { message: `P2P_COMM_DHT_HOST must be the IPv4 address of a local interface (e.g. 192.168.1.20), got ${JSON.stringify(bad)}` },
      bad,
    );
  }
  t.equal(networkConfigFromEnv({ P2P_COMM_DHT_CONNECT_TIMEOUT_MS: '100' }).dht.connectTimeoutMs, 100, 'the shortest');
  t.equal(networkConfigFromEnv({ P2P_COMM_DHT_CONNECT_TIMEOUT_MS: '60000' }).dht.connectTimeoutMs, 60_000);
  for (const bad of ['99', '0', '-1', '1.5', '20s', '1e5']) {
    t.throws(
      () => networkConfigFromEnv({ P2P_COMM_DHT_CONNECT_TIMEOUT_MS: bad }),
      { message: `P2P_COMM_DHT_CONNECT_TIMEOUT_MS must be a whole number from 100 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(bad)}` },
      bad,
    );
  }
});

t.test('P2P_COMM_MAX_FRAME_BYTES holds at least the largest batch a peer may send, sealed', async (t) => {
  t.equal(MIN_FRAME_BYTES, 1 + MAX_BATCH_BYTES + 16, 'type byte, batch, AEAD tag');
  t.ok(DEFAULT_TRANSPORT_LIMITS.maxFrameBytes >= MIN_FRAME_BYTES, 'the default does');
  t.equal(networkConfigFromEnv({ P2P_COMM_MAX_FRAME_BYTES: String(MIN_FRAME_BYTES) }).transport.maxFrameBytes, MIN_FRAME_BYTES);
  t.throws(() => networkConfigFromEnv({ P2P_COMM_MAX_FRAME_BYTES: '65536' }), /P2P_COMM_MAX_FRAME_BYTES must be a whole number from 1052689/);
});

t.test('P2P_COMM_MAX_MESSAGES_PER_KEY is at most 2^32: receipts name the batches of a session by u32 positions', async (t) => {
  t.equal(networkConfigFromEnv({ P2P_COMM_MAX_MESSAGES_PER_KEY: String(2 ** 32) }).maxMessagesPerKey, 2 ** 32);
  t.equal(MAX_BATCH_POSITION, 2 ** 32 - 1);
  t.throws(() => networkConfigFromEnv({ P2P_COMM_MAX_MESSAGES_PER_KEY: String(2 ** 32 + 1) }), /P2P_COMM_MAX_MESSAGES_PER_KEY must be a whole number from 2 to 4294967296/);
});

t.test('agent cards: the size of a card and the wait for a requester’s card, read strictly', async (t) => {
  t.same(a2aConfigFromEnv({}), DEFAULT_A2A_CONFIG);
  t.same(DEFAULT_A2A_CONFIG.card.maxCardBytes, 16_384);
  const read = a2aConfigFromEnv({ P2P_COMM_AGENT_CARD_MAX_BYTES: '65536', P2P_COMM_REQUEST_CARD_WAIT_MS: '0' });
  t.same([read.card.maxCardBytes, read.card.maxSkills, read.requestCardWaitMs], [65_536, DEFAULT_A2A_CONFIG.card.maxSkills, 0], 'only the size changes; the format’s other limits stay');
  t.same(a2aConfigFromEnv({ P2P_COMM_AGENT_CARD_BURST: '2', P2P_COMM_AGENT_CARDS_PER_MINUTE: '1' }).cardRate, { burst: 2, perMinute: 1 });
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_AGENT_CARDS_PER_MINUTE: '0' }), /P2P_COMM_AGENT_CARDS_PER_MINUTE must be a whole number from 1/);
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_AGENT_CARD_MAX_BYTES: '65537' }), /P2P_COMM_AGENT_CARD_MAX_BYTES must be a whole number from 1024 to 65536/);
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_REQUEST_CARD_WAIT_MS: '60001' }), /P2P_COMM_REQUEST_CARD_WAIT_MS must be a whole number from 0 to 60000/);
});

t.test('A2A requests: time to live, open requests and retention, read strictly', async (t) => {
  t.same(DEFAULT_A2A_CONFIG.binding, { requestTtlSeconds: 86_400, readTtlSeconds: 300, inboxBatch: 64 });
  t.same(DEFAULT_A2A_CONFIG.exchanges, { maxOpenPerPeer: 256, retentionSeconds: 604_800 });
  const read = a2aConfigFromEnv({
    P2P_COMM_AGENT_REQUEST_TTL_SECONDS: '60',
    P2P_COMM_AGENT_READ_TTL_SECONDS: '5',
    P2P_COMM_AGENT_MAX_OPEN_REQUESTS: '3',
    P2P_COMM_AGENT_EXCHANGE_RETENTION_SECONDS: '60',
  });
  t.same([read.binding.requestTtlSeconds, read.binding.readTtlSeconds, read.exchanges.maxOpenPerPeer, read.exchanges.retentionSeconds], [60, 5, 3, 60]);
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_AGENT_REQUEST_TTL_SECONDS: '604801' }), /P2P_COMM_AGENT_REQUEST_TTL_SECONDS must be a whole number from 1 to 604800/);
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_AGENT_MAX_OPEN_REQUESTS: '0' }), /P2P_COMM_AGENT_MAX_OPEN_REQUESTS must be a whole number from 1/);
  t.throws(() => a2aConfigFromEnv({ P2P_COMM_AGENT_EXCHANGE_RETENTION_SECONDS: '59' }), /from 60 to 31536000/);
});

t.test('P2P_COMM_BULK_IN_FLIGHT: file chunks in flight per peer, 8 unless set, at least 1', async (t) => {
  t.equal(messagingConfigFromEnv({}).bulkInFlightPerPeer, 8);
  t.equal(messagingConfigFromEnv({ P2P_COMM_BULK_IN_FLIGHT: '2' }).bulkInFlightPerPeer, 2);
  t.throws(() => messagingConfigFromEnv({ P2P_COMM_BULK_IN_FLIGHT: '0' }), /P2P_COMM_BULK_IN_FLIGHT must be a whole number from 1/);
  t.throws(() => messagingConfigFromEnv({ P2P_COMM_BULK_IN_FLIGHT: 'eight' }), /P2P_COMM_BULK_IN_FLIGHT must be a whole number/);
});

t.test('file transfers: the design’s defaults, every limit read strictly', async (t) => {
  t.same(filesConfigFromEnv({}), DEFAULT_FILES_CONFIG);
  t.same(
    [DEFAULT_FILES_CONFIG.maxFileBytes, DEFAULT_FILES_CONFIG.maxPendingBytes, DEFAULT_FILES_CONFIG.chunkBytes, DEFAULT_FILES_CONFIG.windowChunks, DEFAULT_FILES_CONFIG.ttlSeconds],
    [2 ** 30, 2 ** 32, 262_144, 16, 604_800],
  );
  const read = filesConfigFromEnv({
    P2P_COMM_FILE_MAX_BYTES: '1000',
    P2P_COMM_FILE_MAX_PENDING_BYTES: '2000',
    P2P_COMM_FILE_MAX_OFFERS_PER_PEER: '2',
    P2P_COMM_FILE_MAX_OUTGOING: '3',
    P2P_COMM_FILE_CHUNK_BYTES: '65536',
    P2P_COMM_FILE_WINDOW_CHUNKS: '4',
    P2P_COMM_FILE_TTL_SECONDS: '60',
    P2P_COMM_FILE_PROGRESS_MS: '0',
    P2P_COMM_FILE_EXPIRY_SWEEP_MS: '10',
  });
  t.same(read, { maxFileBytes: 1000, maxPendingBytes: 2000, maxOffersPerPeer: 2, maxOutgoing: 3, chunkBytes: 65_536, windowChunks: 4, ttlSeconds: 60, progressMs: 0, expirySweepMs: 10 });
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_CHUNK_BYTES: '65535' }), /P2P_COMM_FILE_CHUNK_BYTES must be a whole number from 65536 to 1048000/);
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_CHUNK_BYTES: '1048001' }), /from 65536 to 1048000/);
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_WINDOW_CHUNKS: '0' }), /P2P_COMM_FILE_WINDOW_CHUNKS must be a whole number from 1 to 1024/);
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_MAX_BYTES: '1e9' }), /P2P_COMM_FILE_MAX_BYTES must be a whole number/);
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_TTL_SECONDS: '59' }), /P2P_COMM_FILE_TTL_SECONDS must be a whole number from 60/);
  t.same(filesConfigFromEnv({ P2P_COMM_FILE_WINDOW_CHUNKS: '128' }).windowChunks, 128, '128 chunks of 256 KiB: 32 MiB, the most in flight');
  t.throws(
    () => filesConfigFromEnv({ P2P_COMM_FILE_WINDOW_CHUNKS: '129' }),
    /P2P_COMM_FILE_WINDOW_CHUNKS × P2P_COMM_FILE_CHUNK_BYTES is 33816576 bytes, above 33554432: half of a peer's default inbox \(P2P_COMM_INBOX_MAX_BYTES\)/,
  );
  t.throws(() => filesConfigFromEnv({ P2P_COMM_FILE_WINDOW_CHUNKS: '64', P2P_COMM_FILE_CHUNK_BYTES: '1048000' }), /lower one of the two/);
});

t.test('groups: the design’s defaults, every limit read strictly', async (t) => {
  t.same(groupsConfigFromEnv({}), DEFAULT_GROUPS_CONFIG);
  const messages = { maxMessageBytes: 262_144, maxHeld: 1000, maxUnread: 10_000, maxStoredBytes: 64 * 1024 * 1024, gapHoldSeconds: 604_800 };
  t.same(DEFAULT_GROUPS_CONFIG, { maxMembers: 32, maxGroups: 64, maxInvitesPerPeer: 4, sweepMs: 60_000, ...messages });
  const read = groupsConfigFromEnv({
    P2P_COMM_GROUP_MAX_MEMBERS: '2',
    P2P_COMM_MAX_GROUPS: '3',
    P2P_COMM_GROUP_MAX_INVITES_PER_PEER: '1',
    P2P_COMM_GROUP_SWEEP_MS: '10',
    P2P_COMM_GROUP_MAX_MESSAGE_BYTES: '1024',
    P2P_COMM_GROUP_MAX_HELD: '5',
    P2P_COMM_GROUP_MAX_UNREAD: '6',
    P2P_COMM_GROUP_MAX_STORED_BYTES: '262144',
    P2P_COMM_GROUP_GAP_HOLD_SECONDS: '60',
  });
  t.same(read, { maxMembers: 2, maxGroups: 3, maxInvitesPerPeer: 1, sweepMs: 10, maxMessageBytes: 1024, maxHeld: 5, maxUnread: 6, maxStoredBytes: 262_144, gapHoldSeconds: 60 });
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_GROUP_MAX_MESSAGE_BYTES: '262145' }), /P2P_COMM_GROUP_MAX_MESSAGE_BYTES must be a whole number from 1024 to 262144/);
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_GROUP_GAP_HOLD_SECONDS: '0' }), /P2P_COMM_GROUP_GAP_HOLD_SECONDS must be a whole number from 1/);
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_GROUP_MAX_MEMBERS: '33' }), /P2P_COMM_GROUP_MAX_MEMBERS must be a whole number from 2 to 32/);
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_GROUP_MAX_MEMBERS: '1' }), /from 2 to 32/);
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_MAX_GROUPS: '0' }), /P2P_COMM_MAX_GROUPS must be a whole number from 1/);
  t.throws(() => groupsConfigFromEnv({ P2P_COMM_GROUP_MAX_INVITES_PER_PEER: 'four' }), /P2P_COMM_GROUP_MAX_INVITES_PER_PEER must be a whole number/);
});

t.test('P2P_COMM_KEY_GRACE_SECONDS: 30 days unless set, from a minute to a year, as rotate_identity’s grace_seconds', async (t) => {
  t.equal(networkConfigFromEnv({}).keyGraceSeconds, 2_592_000);
  t.equal(networkConfigFromEnv({ P2P_COMM_KEY_GRACE_SECONDS: '60' }).keyGraceSeconds, 60);
  t.equal(networkConfigFromEnv({ P2P_COMM_KEY_GRACE_SECONDS: '31536000' }).keyGraceSeconds, 31_536_000);
  t.throws(() => networkConfigFromEnv({ P2P_COMM_KEY_GRACE_SECONDS: '59' }), /P2P_COMM_KEY_GRACE_SECONDS must be a whole number from 60 to 31536000, got "59"/);
  t.throws(() => networkConfigFromEnv({ P2P_COMM_KEY_GRACE_SECONDS: '31536001' }), /from 60 to 31536000/);
  const rotate = manifest.operations.find((operation) => operation.name === 'rotate_identity');
  t.match(rotate?.input_schema, { properties: { grace_seconds: { minimum: KEY_GRACE_SECONDS_MIN, maximum: KEY_GRACE_SECONDS_MAX } } }, 'the call’s bounds are the setting’s');
});
