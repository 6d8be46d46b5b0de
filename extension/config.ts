import { isIPv4 } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_KEY_GRACE_MS } from './identity/node-identity';
import { DEFAULT_REFUSAL_BUDGET, type RefusalBudgetConfig } from './network/refusal-budgets';
import { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from './transport/limits';
import { TAG_BYTES } from './wire/primitives';
import { MAX_BATCH_POSITION } from './wire/receipt';
import { MAX_BATCH_BYTES, MAX_BATCH_LEAVES } from './wire/signed-batch';
import { quoteUntrusted } from './common/quote-text';
import type { EventOutboxLimits } from './events/outbox';
import { type A2aBindingConfig, DEFAULT_A2A_BINDING_CONFIG } from './a2a/a2a-service';
import { type AgentCardLimits, DEFAULT_AGENT_CARD_LIMITS, MAX_CARD_BYTES_LIMIT } from './a2a/agent-card';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './wire/file-payload';
import { MAX_GROUP_MEMBERS } from './wire/group-statement';
import { MAX_ENVELOPE_BYTES } from './wire/group-payload';

/**
 * Settings come from the environment: the host spawns us with no arguments,
 * and some limits apply before initialize names a data_dir. A malformed
 * value is a start-up error, never silently ignored.
 */

/** Limits of the stdio channel. */
export interface StdioLimits {
  /** Longest accepted JSON-RPC line in bytes, newline excluded. */
  maxLineBytes: number;
  /** Events kept for the host while it is not calling us; the oldest are dropped beyond this. */
  maxQueuedEvents: number;
  /** Security events kept (pairing requests, key mismatches, revocations), one per type and peer; never displaced by others. */
  maxQueuedSecurityEvents: number;
  /** Events published at the end of one execute; the rest wait for the next, so a flood of events cannot hold a call up. */
  maxEventsPerCall: number;
  /** Refusals of a peer's messages are published as one counted event per peer at most this often. */
  refusalEventIntervalMs: number;
  /** How long to wait for the host's reply to one event.publish before giving up on that event. */
  publishTimeoutMs: number;
  /** Grace between answering shutdown and exiting regardless of unfinished clean-up. */
  shutdownDeadlineMs: number;
}

export const DEFAULT_STDIO_LIMITS: StdioLimits = {
  maxLineBytes: 8 * 1024 * 1024,
  maxQueuedEvents: 1000,
  maxQueuedSecurityEvents: 256,
  maxEventsPerCall: 16,
  refusalEventIntervalMs: 10_000,
  publishTimeoutMs: 10_000,
  shutdownDeadlineMs: 3_000,
};

/** The event queue's share of the stdio limits. */
export function eventOutboxLimits(limits: StdioLimits): EventOutboxLimits {
  return {
    maxQueued: limits.maxQueuedEvents,
    maxQueuedSecurity: limits.maxQueuedSecurityEvents,
    tallyIntervalMs: limits.refusalEventIntervalMs,
  };
}

/** Where and how the node meets its peers. */
export interface NetworkConfig {
  /** Interface to listen on; all interfaces by default. */
  listenHost: string;
  /** Port to listen on; null = the port persisted in data_dir, chosen on first start. */
  listenPort: number | null;
  /** Host put in pairing links; null = this machine's non-loopback addresses. */
  advertiseHost: string | null;
  transport: TransportLimits;
  maxMessagesPerKey: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Consent requests accepted from strangers: burst size and sustained rate per minute. */
  consentBurst: number;
  consentPerMinute: number;
  maxIncomingRequests: number;
  /** Refused input a paired peer may send before its session is closed and it is kept away. */
  refusalBudget: RefusalBudgetConfig;
  dht: DhtConfig;
  /** How long a key replaced by rotate_identity keeps its seed and its DHT address, unless the call says otherwise. */
  keyGraceSeconds: number;
}

/** rotate_identity's grace period bounds, in seconds: a minute to a year. */
export const KEY_GRACE_SECONDS_MIN = 60;
export const KEY_GRACE_SECONDS_MAX = 31_536_000;

/** `on`: listen under the node's DHT key and dial; `connect`: dial only, never announce; `off`: no DHT at all. */
export type DhtMode = 'on' | 'off' | 'connect';

const DHT_MODES: readonly DhtMode[] = ['on', 'off', 'connect'];

/** Reaching peers beyond the LAN through the Hyperswarm DHT (see docs/reach.md). */
export interface DhtConfig {
  mode: DhtMode;
  /** `host:port` DHT nodes to join through; null = the public Hyperswarm bootstrap nodes. */
  bootstrap: string[] | null;
  /** Blind relays (their public keys) for peers no hole punch reaches. */
  relays: Uint8Array[];
  /** Interface the DHT's UDP socket binds to; all interfaces by default. */
  host: string;
  /** Longest one DHT connection attempt may take, lookup and hole punching included. */
  connectTimeoutMs: number;
  /** Longest a stopping node waits to withdraw its DHT announcement. */
  closeTimeoutMs: number;
}

export const DEFAULT_DHT_CONFIG: DhtConfig = {
  mode: 'on',
  bootstrap: null,
  relays: [],
  host: '0.0.0.0',
  // hyperdht gives a punch through a NAT that changes ports up to about 35 s.
  connectTimeoutMs: 45_000,
  closeTimeoutMs: 1500,
};

export const DEFAULT_NETWORK_CONFIG: NetworkConfig = {
  listenHost: '0.0.0.0',
  listenPort: null,
  advertiseHost: null,
  transport: DEFAULT_TRANSPORT_LIMITS,
  maxMessagesPerKey: 2 ** 32,
  reconnectBaseMs: 1000,
  reconnectMaxMs: 5 * 60_000,
  consentBurst: 5,
  consentPerMinute: 10,
  maxIncomingRequests: 32,
  refusalBudget: DEFAULT_REFUSAL_BUDGET,
  dht: DEFAULT_DHT_CONFIG,
  // 30 days: long enough for a peer on holiday to come back and still find the old DHT address.
  keyGraceSeconds: DEFAULT_KEY_GRACE_MS / 1000,
};

/** Limits and timings of messaging. */
export interface MessagingConfig {
  maxPayloadBytes: number;
  /** Largest accepted difference between a batch's time and our clock. */
  clockSkewMs: number;
  defaultTtlSeconds: number;
  /** A message sent without a signed receipt for this long is sent again. */
  ackTimeoutMs: number;
  maxInFlightPerPeer: number;
  /** Messages the sender puts under one signature, at most (the format allows MAX_BATCH_LEAVES). */
  maxBatchLeaves: number;
  /** A receipt covering only refusals, deferrals and duplicates waits at most this long for more to join it (one after stored messages goes out at once). */
  ackBatchDelayMs: number;
  peerRate: { burst: number; perSecond: number };
  globalRate: { burst: number; perSecond: number };
  inboxMaxMessagesPerPeer: number;
  inboxMaxBytesPerPeer: number;
  /** Messages remembered for the replay checks, per peer and of all peers (InboxLimits.maxSeenPerPeer, maxSeen). */
  inboxMaxSeenPerPeer: number;
  inboxMaxSeen: number;
  /** Content bytes one `receive` returns at most (InboxLimits.maxReadBytes). */
  receiveMaxBytes: number;
  /** Records of the newest unacked messages the inbox keeps in memory too (InboxLimits.maxRecentBytes). */
  inboxRecentBytes: number;
  outboxMaxMessagesPerPeer: number;
  outboxMaxBytesPerPeer: number;
  /** How often queued messages are checked for expiry. */
  expirySweepMs: number;
  /** File chunks per peer on the wire and not yet receipted, at most: the rest of the in-flight window stays free for messages. */
  bulkInFlightPerPeer: number;
}

export const DEFAULT_MESSAGING_CONFIG: MessagingConfig = {
  maxPayloadBytes: 1024 * 1024,
  clockSkewMs: 5 * 60_000,
  defaultTtlSeconds: 24 * 3600,
  ackTimeoutMs: 30_000,
  maxInFlightPerPeer: 1024,
  maxBatchLeaves: MAX_BATCH_LEAVES,
  ackBatchDelayMs: 50,
  // A bound on what one peer, and all of them, can make this node check and write per second, not a capacity: a
  // message in a batch costs the receiver a few µs of CPU and one share of a group commit (docs/performance.md), and
  // what waits unread is bounded by the inbox limits below. A flooding peer past it is deferred, then cut off.
  peerRate: { burst: 100_000, perSecond: 50_000 },
  globalRate: { burst: 200_000, perSecond: 100_000 },
  inboxMaxMessagesPerPeer: 1000,
  inboxMaxBytesPerPeer: 64 * 1024 * 1024,
  inboxMaxSeenPerPeer: 100_000,
  inboxMaxSeen: 200_000,
  receiveMaxBytes: 8 * 1024 * 1024,
  inboxRecentBytes: 1024 * 1024,
  outboxMaxMessagesPerPeer: 10_000,
  outboxMaxBytesPerPeer: 256 * 1024 * 1024,
  expirySweepMs: 1000,
  // 8 chunks of 256 KiB are 2 MiB on the wire per peer: enough to keep a transfer moving, while a message sent meanwhile waits at most for one batch.
  bulkInFlightPerPeer: 8,
};

/** `on`: announce this node and list others; `advertise` / `browse`: only one of the two; `off`: no multicast at all. */
export type DiscoveryMode = 'on' | 'off' | 'advertise' | 'browse';

const DISCOVERY_MODES: readonly DiscoveryMode[] = ['on', 'off', 'advertise', 'browse'];

/** LAN discovery over mDNS (see docs/discovery.md). */
export interface DiscoveryConfig {
  mode: DiscoveryMode;
  /** IPv4 address of the one interface to use; null = every interface. */
  interface: string | null;
  /** Nodes kept in the table; announcements of further ones are refused. Also bounds the per-address rate limiters. */
  maxPeers: number;
  /** Longest an entry stays without being heard again, whatever TTL its announcement claims. */
  maxTtlSeconds: number;
  /** How often the network is asked again who is there; each answer keeps an entry alive. */
  requeryMs: number;
  /** Announcements accepted from one source address. */
  sourceRate: { burst: number; perSecond: number };
  /** Announcements accepted from all sources together. */
  globalRate: { burst: number; perSecond: number };
}

export const DEFAULT_DISCOVERY_CONFIG: DiscoveryConfig = {
  mode: 'on',
  interface: null,
  maxPeers: 256,
  maxTtlSeconds: 180,
  requeryMs: 60_000,
  sourceRate: { burst: 32, perSecond: 4 },
  globalRate: { burst: 256, perSecond: 32 },
};

/** A2A agent cards (docs/a2a.md). */
export interface A2aConfig {
  /**
   * What a card may hold. Only its size is a setting (P2P_COMM_AGENT_CARD_MAX_BYTES):
   * the other limits are part of the card format, and a node that changed
   * them would refuse its peers' cards or send cards they refuse.
   */
  card: AgentCardLimits;
  /** How long a pairing connection stays open once the request is stored, for the requester's card (docs/protocol.md §15). */
  requestCardWaitMs: number;
  /**
   * Card messages accepted from one paired peer: each costs a signature
   * check, and a changed card a write and an event. An honest peer sends
   * one per session and one per change.
   */
  cardRate: { burst: number; perMinute: number };
  /**
   * A2A requests between nodes (docs/a2a.md "The binding"): how long a
   * request may wait for its peer (P2P_COMM_AGENT_REQUEST_TTL_SECONDS, and
   * P2P_COMM_AGENT_READ_TTL_SECONDS for the reads). The payload's own
   * limits (answers per request, id lengths) are part of the format
   * (wire/a2a-payload.ts), not settings.
   */
  binding: A2aBindingConfig;
  /**
   * Open exchanges per peer and direction (P2P_COMM_AGENT_MAX_OPEN_REQUESTS):
   * each holds its request and answers in memory and in a2a.log until it
   * ends. Ended ones are kept retentionSeconds
   * (P2P_COMM_AGENT_EXCHANGE_RETENTION_SECONDS) for a2a_task and re-attach.
   */
  exchanges: { maxOpenPerPeer: number; retentionSeconds: number };
}

export const DEFAULT_A2A_CONFIG: A2aConfig = {
  card: DEFAULT_AGENT_CARD_LIMITS,
  requestCardWaitMs: 2000,
  cardRate: { burst: 16, perMinute: 10 },
  binding: DEFAULT_A2A_BINDING_CONFIG,
  exchanges: { maxOpenPerPeer: 256, retentionSeconds: 7 * 24 * 60 * 60 },
};

/** File transfers (design §3.7): every bound on what a transfer may hold on disk, in the outbox and in memory. */
export interface FilesConfig {
  /** Largest file sent or accepted (P2P_COMM_FILE_MAX_BYTES). */
  maxFileBytes: number;
  /** Accepted incoming bytes not received yet, all peers (P2P_COMM_FILE_MAX_PENDING_BYTES). */
  maxPendingBytes: number;
  /** Incoming offers not answered yet, per peer; more are declined `limit` (P2P_COMM_FILE_MAX_OFFERS_PER_PEER). */
  maxOffersPerPeer: number;
  /** Outgoing transfers not ended, all peers (P2P_COMM_FILE_MAX_OUTGOING). */
  maxOutgoing: number;
  /** Chunk size this node sends; the wire allows 65536 to 1048000 (P2P_COMM_FILE_CHUNK_BYTES). */
  chunkBytes: number;
  /** Chunks pending in the outbox per peer (P2P_COMM_FILE_WINDOW_CHUNKS): bounds the peer's inbox share a transfer takes. */
  windowChunks: number;
  /** Lifetime of an offer and of the transfer it starts (P2P_COMM_FILE_TTL_SECONDS). */
  ttlSeconds: number;
  /** Least time between two progress events of a transfer, besides one at each tenth (P2P_COMM_FILE_PROGRESS_MS). */
  progressMs: number;
  /** How often transfers past their lifetime, and abandoned uploads, are looked for (P2P_COMM_FILE_EXPIRY_SWEEP_MS). */
  expirySweepMs: number;
}

export const DEFAULT_FILES_CONFIG: FilesConfig = {
  maxFileBytes: 1024 * 1024 * 1024,
  maxPendingBytes: 4 * 1024 * 1024 * 1024,
  maxOffersPerPeer: 16,
  maxOutgoing: 64,
  chunkBytes: 262_144,
  windowChunks: 16,
  ttlSeconds: 604_800,
  progressMs: 1_000,
  expirySweepMs: 60_000,
};

/** Groups (design §4.9): how many, how large, how many invites one creator may hold open here. */
export interface GroupsConfig {
  /** Members a group may have, at most the format's 32 (P2P_COMM_GROUP_MAX_MEMBERS). */
  maxMembers: number;
  /** Groups not ended, invites included (P2P_COMM_MAX_GROUPS). */
  maxGroups: number;
  /** Open invites from one creator (P2P_COMM_GROUP_MAX_INVITES_PER_PEER). */
  maxInvitesPerPeer: number;
  /** How often revoked creators, members' new keys and epochs not yet sent are looked for (P2P_COMM_GROUP_SWEEP_MS). */
  sweepMs: number;
  /** An envelope's bytes (JCS, content included) at most, below the format's 262,144 (P2P_COMM_GROUP_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /** Messages per group waiting for an earlier one (P2P_COMM_GROUP_MAX_HELD). */
  maxHeld: number;
  /** Readable messages not acked per group; past it the sender's group messages wait in the inbox (P2P_COMM_GROUP_MAX_UNREAD). */
  maxUnread: number;
  /** Envelope bytes kept per group, held or unread (P2P_COMM_GROUP_MAX_STORED_BYTES). */
  maxStoredBytes: number;
  /** How long held messages wait for a missing one before they are read with `gap` (P2P_COMM_GROUP_GAP_HOLD_SECONDS). */
  gapHoldSeconds: number;
}

export const DEFAULT_GROUPS_CONFIG: GroupsConfig = {
  maxMembers: MAX_GROUP_MEMBERS,
  maxGroups: 64,
  maxInvitesPerPeer: 4,
  sweepMs: 60_000,
  maxMessageBytes: MAX_ENVELOPE_BYTES,
  maxHeld: 1000,
  maxUnread: 10_000,
  maxStoredBytes: 64 * 1024 * 1024,
  // The outbox's default time to live: past it, a missing message can no longer come.
  gapHoldSeconds: 604_800,
};

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got ${quoteUntrusted(raw)}`);
  }
  return value;
}

function host(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(raw)) throw new Error(`${name} must be a host name or IP address, got ${quoteUntrusted(raw)}`);
  return raw;
}

export function stdioLimitsFromEnv(env: NodeJS.ProcessEnv): StdioLimits {
  const d = DEFAULT_STDIO_LIMITS;
  return {
    maxLineBytes: integer(env, 'P2P_COMM_MAX_LINE_BYTES', d.maxLineBytes),
    maxQueuedEvents: integer(env, 'P2P_COMM_MAX_QUEUED_EVENTS', d.maxQueuedEvents),
    maxQueuedSecurityEvents: integer(env, 'P2P_COMM_MAX_QUEUED_SECURITY_EVENTS', d.maxQueuedSecurityEvents),
    maxEventsPerCall: integer(env, 'P2P_COMM_MAX_EVENTS_PER_CALL', d.maxEventsPerCall),
    refusalEventIntervalMs: integer(env, 'P2P_COMM_REFUSAL_EVENT_INTERVAL_MS', d.refusalEventIntervalMs, 0),
    publishTimeoutMs: integer(env, 'P2P_COMM_PUBLISH_TIMEOUT_MS', d.publishTimeoutMs),
    shutdownDeadlineMs: integer(env, 'P2P_COMM_SHUTDOWN_DEADLINE_MS', d.shutdownDeadlineMs),
  };
}

/**
 * The largest session message a peer may send, sealed: its type, a batch
 * of MAX_BATCH_BYTES, the AEAD tag. A peer cannot know this node's frame
 * limit, so a lower one would close the session on a batch of small
 * messages, the same batch at every reconnect.
 */
export const MIN_FRAME_BYTES = 1 + MAX_BATCH_BYTES + TAG_BYTES;

export function networkConfigFromEnv(env: NodeJS.ProcessEnv): NetworkConfig {
  const d = DEFAULT_NETWORK_CONFIG;
  const t = d.transport;
  const port = env['P2P_COMM_LISTEN_PORT'];
  return {
    listenHost: host(env, 'P2P_COMM_LISTEN_HOST') ?? d.listenHost,
    listenPort: port === undefined || port === '' ? null : integer(env, 'P2P_COMM_LISTEN_PORT', 0, 0, 65535),
    advertiseHost: host(env, 'P2P_COMM_ADVERTISE_HOST'),
    transport: {
      maxFrameBytes: integer(env, 'P2P_COMM_MAX_FRAME_BYTES', t.maxFrameBytes, MIN_FRAME_BYTES),
      maxConnectionsPerIp: integer(env, 'P2P_COMM_MAX_CONNECTIONS_PER_IP', t.maxConnectionsPerIp),
      maxConnections: integer(env, 'P2P_COMM_MAX_CONNECTIONS', t.maxConnections),
      handshakeTimeoutMs: integer(env, 'P2P_COMM_HANDSHAKE_TIMEOUT_MS', t.handshakeTimeoutMs, 10),
      handshakeRate: {
        burst: integer(env, 'P2P_COMM_HANDSHAKE_RATE_BURST', t.handshakeRate.burst),
        perSecond: integer(env, 'P2P_COMM_HANDSHAKE_RATE_PER_SECOND', t.handshakeRate.perSecond),
      },
      handshakeRateAddresses: integer(env, 'P2P_COMM_HANDSHAKE_RATE_ADDRESSES', t.handshakeRateAddresses),
      keepaliveIntervalMs: integer(env, 'P2P_COMM_KEEPALIVE_MS', t.keepaliveIntervalMs, 10),
    },
    // At most 2^32: a receipt names a session's batches by u32 positions, which more messages under one key would run past.
    maxMessagesPerKey: integer(env, 'P2P_COMM_MAX_MESSAGES_PER_KEY', d.maxMessagesPerKey, 2, MAX_BATCH_POSITION + 1),
    reconnectBaseMs: integer(env, 'P2P_COMM_RECONNECT_BASE_MS', d.reconnectBaseMs),
    reconnectMaxMs: integer(env, 'P2P_COMM_RECONNECT_MAX_MS', d.reconnectMaxMs),
    consentBurst: integer(env, 'P2P_COMM_CONSENT_BURST', d.consentBurst),
    consentPerMinute: integer(env, 'P2P_COMM_CONSENT_PER_MINUTE', d.consentPerMinute),
    maxIncomingRequests: integer(env, 'P2P_COMM_MAX_INCOMING_REQUESTS', d.maxIncomingRequests),
    refusalBudget: {
      burst: integer(env, 'P2P_COMM_REFUSAL_BURST', d.refusalBudget.burst),
      perSecond: integer(env, 'P2P_COMM_REFUSALS_PER_SECOND', d.refusalBudget.perSecond),
      backoffBaseMs: integer(env, 'P2P_COMM_MISBEHAVING_BACKOFF_MS', d.refusalBudget.backoffBaseMs),
      backoffMaxMs: integer(env, 'P2P_COMM_MISBEHAVING_BACKOFF_MAX_MS', d.refusalBudget.backoffMaxMs),
    },
    dht: dhtConfigFromEnv(env),
    keyGraceSeconds: integer(env, 'P2P_COMM_KEY_GRACE_SECONDS', d.keyGraceSeconds, KEY_GRACE_SECONDS_MIN, KEY_GRACE_SECONDS_MAX),
  };
}

const MAX_BOOTSTRAP_NODES = 32;
const MAX_RELAYS = 16;
const BOOTSTRAP_NODE = /^(?:[0-9.]{7,15}@)?[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$/;

function dhtConfigFromEnv(env: NodeJS.ProcessEnv): DhtConfig {
  const d = DEFAULT_DHT_CONFIG;
  const mode = env['P2P_COMM_DHT'];
  if (mode !== undefined && mode !== '' && !DHT_MODES.includes(mode as DhtMode)) {
    throw new Error(`P2P_COMM_DHT must be one of ${DHT_MODES.join(', ')}, got ${quoteUntrusted(mode)}`);
  }
  return {
    mode: mode === undefined || mode === '' ? d.mode : (mode as DhtMode),
    bootstrap: bootstrapNodes(env),
    relays: relayKeys(env),
    // The DHT's UDP socket binds an IPv4 address only: a host name would pass here and fail at start.
    host: ipv4(env, 'P2P_COMM_DHT_HOST') ?? d.host,
    connectTimeoutMs: integer(env, 'P2P_COMM_DHT_CONNECT_TIMEOUT_MS', d.connectTimeoutMs, 100),
    closeTimeoutMs: d.closeTimeoutMs,
  };
}

function listOf(env: NodeJS.ProcessEnv, name: string, max: number): string[] | null {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return null;
  const items = raw.split(',').map((item) => item.trim());
  if (items.length > max) throw new Error(`${name} lists ${items.length} entries; at most ${max}`);
  return items;
}

/** `host:port` (hyperdht also takes `ip@host:port`, the IP saving a name lookup). */
function bootstrapNodes(env: NodeJS.ProcessEnv): string[] | null {
  const nodes = listOf(env, 'P2P_COMM_DHT_BOOTSTRAP', MAX_BOOTSTRAP_NODES);
  for (const node of nodes ?? []) {
    const port = Number(node.slice(node.lastIndexOf(':') + 1));
    if (!BOOTSTRAP_NODE.test(node) || port < 1 || port > 65535) {
      throw new Error(`P2P_COMM_DHT_BOOTSTRAP must be a comma-separated list of host:port, got ${quoteUntrusted(node)}`);
    }
  }
  return nodes;
}

function relayKeys(env: NodeJS.ProcessEnv): Uint8Array[] {
  return (listOf(env, 'P2P_COMM_RELAYS', MAX_RELAYS) ?? []).map((key) => {
    if (!/^[0-9a-f]{64}$/i.test(key)) {
      throw new Error(`P2P_COMM_RELAYS must be a comma-separated list of relay public keys (64 hex digits each), got ${quoteUntrusted(key)}`);
    }
    return new Uint8Array(Buffer.from(key, 'hex'));
  });
}

export function messagingConfigFromEnv(env: NodeJS.ProcessEnv): MessagingConfig {
  const d = DEFAULT_MESSAGING_CONFIG;
  return {
    maxPayloadBytes: integer(env, 'P2P_COMM_MAX_PAYLOAD_BYTES', d.maxPayloadBytes, 1, 1024 * 1024),
    clockSkewMs: integer(env, 'P2P_COMM_CLOCK_SKEW_MS', d.clockSkewMs, 1000),
    defaultTtlSeconds: integer(env, 'P2P_COMM_DEFAULT_TTL_SECONDS', d.defaultTtlSeconds, 1, 604_800),
    ackTimeoutMs: integer(env, 'P2P_COMM_ACK_TIMEOUT_MS', d.ackTimeoutMs, 10),
    maxInFlightPerPeer: integer(env, 'P2P_COMM_MAX_IN_FLIGHT', d.maxInFlightPerPeer),
    maxBatchLeaves: integer(env, 'P2P_COMM_BATCH_MAX', d.maxBatchLeaves, 1, MAX_BATCH_LEAVES),
    ackBatchDelayMs: integer(env, 'P2P_COMM_ACK_BATCH_DELAY_MS', d.ackBatchDelayMs, 0, 10_000),
    peerRate: {
      burst: integer(env, 'P2P_COMM_PEER_RATE_BURST', d.peerRate.burst),
      perSecond: integer(env, 'P2P_COMM_PEER_RATE_PER_SECOND', d.peerRate.perSecond),
    },
    globalRate: {
      burst: integer(env, 'P2P_COMM_GLOBAL_RATE_BURST', d.globalRate.burst),
      perSecond: integer(env, 'P2P_COMM_GLOBAL_RATE_PER_SECOND', d.globalRate.perSecond),
    },
    inboxMaxMessagesPerPeer: integer(env, 'P2P_COMM_INBOX_MAX_MESSAGES', d.inboxMaxMessagesPerPeer),
    inboxMaxBytesPerPeer: integer(env, 'P2P_COMM_INBOX_MAX_BYTES', d.inboxMaxBytesPerPeer),
    inboxMaxSeenPerPeer: integer(env, 'P2P_COMM_INBOX_MAX_SEEN_PER_PEER', d.inboxMaxSeenPerPeer),
    inboxMaxSeen: integer(env, 'P2P_COMM_INBOX_MAX_SEEN', d.inboxMaxSeen),
    receiveMaxBytes: integer(env, 'P2P_COMM_RECEIVE_MAX_BYTES', d.receiveMaxBytes),
    inboxRecentBytes: integer(env, 'P2P_COMM_INBOX_RECENT_BYTES', d.inboxRecentBytes, 0),
    outboxMaxMessagesPerPeer: integer(env, 'P2P_COMM_OUTBOX_MAX_MESSAGES', d.outboxMaxMessagesPerPeer),
    outboxMaxBytesPerPeer: integer(env, 'P2P_COMM_OUTBOX_MAX_BYTES', d.outboxMaxBytesPerPeer),
    expirySweepMs: integer(env, 'P2P_COMM_EXPIRY_SWEEP_MS', d.expirySweepMs, 10),
    bulkInFlightPerPeer: integer(env, 'P2P_COMM_BULK_IN_FLIGHT', d.bulkInFlightPerPeer),
  };
}

export function a2aConfigFromEnv(env: NodeJS.ProcessEnv): A2aConfig {
  const d = DEFAULT_A2A_CONFIG;
  return {
    card: { ...d.card, maxCardBytes: integer(env, 'P2P_COMM_AGENT_CARD_MAX_BYTES', d.card.maxCardBytes, 1024, MAX_CARD_BYTES_LIMIT) },
    requestCardWaitMs: integer(env, 'P2P_COMM_REQUEST_CARD_WAIT_MS', d.requestCardWaitMs, 0, 60_000),
    cardRate: {
      burst: integer(env, 'P2P_COMM_AGENT_CARD_BURST', d.cardRate.burst),
      perMinute: integer(env, 'P2P_COMM_AGENT_CARDS_PER_MINUTE', d.cardRate.perMinute),
    },
    binding: {
      ...d.binding,
      requestTtlSeconds: integer(env, 'P2P_COMM_AGENT_REQUEST_TTL_SECONDS', d.binding.requestTtlSeconds, 1, 604_800),
      readTtlSeconds: integer(env, 'P2P_COMM_AGENT_READ_TTL_SECONDS', d.binding.readTtlSeconds, 1, 604_800),
    },
    exchanges: {
      maxOpenPerPeer: integer(env, 'P2P_COMM_AGENT_MAX_OPEN_REQUESTS', d.exchanges.maxOpenPerPeer, 1, 100_000),
      retentionSeconds: integer(env, 'P2P_COMM_AGENT_EXCHANGE_RETENTION_SECONDS', d.exchanges.retentionSeconds, 60, 365 * 24 * 60 * 60),
    },
  };
}

/**
 * Most bytes of chunks one transfer may have in flight: half of what a
 * peer keeps unacknowledged from this node by default
 * (P2P_COMM_INBOX_MAX_BYTES, 64 MiB), so that a transfer never fills the
 * peer's inbox and its ordinary messages keep room there.
 */
export const MAX_FILE_WINDOW_BYTES = DEFAULT_MESSAGING_CONFIG.inboxMaxBytesPerPeer / 2;

export function filesConfigFromEnv(env: NodeJS.ProcessEnv): FilesConfig {
  const d = DEFAULT_FILES_CONFIG;
  const config = {
    maxFileBytes: integer(env, 'P2P_COMM_FILE_MAX_BYTES', d.maxFileBytes),
    maxPendingBytes: integer(env, 'P2P_COMM_FILE_MAX_PENDING_BYTES', d.maxPendingBytes),
    maxOffersPerPeer: integer(env, 'P2P_COMM_FILE_MAX_OFFERS_PER_PEER', d.maxOffersPerPeer, 1, 100_000),
    maxOutgoing: integer(env, 'P2P_COMM_FILE_MAX_OUTGOING', d.maxOutgoing, 1, 100_000),
    chunkBytes: integer(env, 'P2P_COMM_FILE_CHUNK_BYTES', d.chunkBytes, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
    windowChunks: integer(env, 'P2P_COMM_FILE_WINDOW_CHUNKS', d.windowChunks, 1, 1024),
    ttlSeconds: integer(env, 'P2P_COMM_FILE_TTL_SECONDS', d.ttlSeconds, 60, 365 * 24 * 60 * 60),
    progressMs: integer(env, 'P2P_COMM_FILE_PROGRESS_MS', d.progressMs, 0, 3_600_000),
    expirySweepMs: integer(env, 'P2P_COMM_FILE_EXPIRY_SWEEP_MS', d.expirySweepMs, 10, 3_600_000),
  };
  const window = config.windowChunks * config.chunkBytes;
  if (window > MAX_FILE_WINDOW_BYTES) {
    throw new Error(
      `P2P_COMM_FILE_WINDOW_CHUNKS × P2P_COMM_FILE_CHUNK_BYTES is ${window} bytes, above ${MAX_FILE_WINDOW_BYTES}: ` +
        "half of a peer's default inbox (P2P_COMM_INBOX_MAX_BYTES), so that a transfer leaves room for ordinary messages; lower one of the two",
    );
  }
  return config;
}

export function groupsConfigFromEnv(env: NodeJS.ProcessEnv): GroupsConfig {
  const d = DEFAULT_GROUPS_CONFIG;
  return {
    maxMembers: integer(env, 'P2P_COMM_GROUP_MAX_MEMBERS', d.maxMembers, 2, MAX_GROUP_MEMBERS),
    maxGroups: integer(env, 'P2P_COMM_MAX_GROUPS', d.maxGroups, 1, 10_000),
    maxInvitesPerPeer: integer(env, 'P2P_COMM_GROUP_MAX_INVITES_PER_PEER', d.maxInvitesPerPeer, 1, 10_000),
    sweepMs: integer(env, 'P2P_COMM_GROUP_SWEEP_MS', d.sweepMs, 10, 3_600_000),
    maxMessageBytes: integer(env, 'P2P_COMM_GROUP_MAX_MESSAGE_BYTES', d.maxMessageBytes, 1024, MAX_ENVELOPE_BYTES),
    maxHeld: integer(env, 'P2P_COMM_GROUP_MAX_HELD', d.maxHeld, 1, 100_000),
    maxUnread: integer(env, 'P2P_COMM_GROUP_MAX_UNREAD', d.maxUnread, 1, 1_000_000),
    maxStoredBytes: integer(env, 'P2P_COMM_GROUP_MAX_STORED_BYTES', d.maxStoredBytes, MAX_ENVELOPE_BYTES, 16 * 1024 * 1024 * 1024),
    gapHoldSeconds: integer(env, 'P2P_COMM_GROUP_GAP_HOLD_SECONDS', d.gapHoldSeconds, 1, 31_536_000),
  };
}

export function discoveryConfigFromEnv(env: NodeJS.ProcessEnv): DiscoveryConfig {
  const d = DEFAULT_DISCOVERY_CONFIG;
  return {
    mode: discoveryMode(env, 'P2P_COMM_MDNS', d.mode),
    interface: ipv4(env, 'P2P_COMM_MDNS_INTERFACE'),
    maxPeers: integer(env, 'P2P_COMM_MDNS_MAX_PEERS', d.maxPeers, 1, 65_536),
    maxTtlSeconds: integer(env, 'P2P_COMM_MDNS_MAX_TTL_SECONDS', d.maxTtlSeconds, 1, 86_400),
    requeryMs: integer(env, 'P2P_COMM_MDNS_REQUERY_MS', d.requeryMs, 1000),
    sourceRate: {
      burst: integer(env, 'P2P_COMM_MDNS_SOURCE_RATE_BURST', d.sourceRate.burst),
      perSecond: integer(env, 'P2P_COMM_MDNS_SOURCE_RATE_PER_SECOND', d.sourceRate.perSecond),
    },
    globalRate: {
      burst: integer(env, 'P2P_COMM_MDNS_GLOBAL_RATE_BURST', d.globalRate.burst),
      perSecond: integer(env, 'P2P_COMM_MDNS_GLOBAL_RATE_PER_SECOND', d.globalRate.perSecond),
    },
  };
}

function discoveryMode(env: NodeJS.ProcessEnv, name: string, fallback: DiscoveryMode): DiscoveryMode {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const mode = DISCOVERY_MODES.find((candidate) => candidate === raw);
  if (mode === undefined) throw new Error(`${name} must be one of ${DISCOVERY_MODES.join(', ')}, got ${quoteUntrusted(raw)}`);
  return mode;
}

function ipv4(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (!isIPv4(raw)) throw new Error(`${name} must be the IPv4 address of a local interface (e.g. 192.168.1.20), got ${quoteUntrusted(raw)}`);
  return raw;
}

/** Where state lives when the host gives no data_dir (standalone runs). */
export function defaultDataDir(): string {
  return join(homedir(), '.nexus', 'p2p-comm');
}

export function resolveDataDir(requested: string | undefined): string {
  if (requested === undefined) return defaultDataDir();
  if (!isAbsolute(requested)) {
    throw new Error(`data_dir must be an absolute path, got ${quoteUntrusted(requested)}`);
  }
  return requested;
}
