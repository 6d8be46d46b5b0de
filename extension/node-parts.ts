import { A2aService } from './a2a/a2a-service';
import { AgentCards } from './a2a/agent-cards';
import { ExchangeStore } from './a2a/exchange-store';
import { A2A_BINDING_CAPABILITY } from './common/a2a-binding';
import { CardStore } from './a2a/card-store';
import { type A2aConfig, DEFAULT_FILES_CONFIG, DEFAULT_GROUPS_CONFIG, type FilesConfig, type GroupsConfig, type MessagingConfig, type NetworkConfig } from './config';
import type { EventOutbox } from './events/outbox';
import { loadOrCreateIdentity } from './identity/node-identity';
import { LiveIdentity } from './identity/live-identity';
import { isValidDisplayName } from './common/display-name';
import { Profile } from './identity/profile';
import type { Logger } from './log';
import type { RefusalCounters } from './metrics/refusals';
import { Messenger } from './messaging/messenger';
import { PeerNetwork } from './network/peer-network';
import { Consent } from './pairing/consent';
import { InboxStore } from './store/inbox';
import { OutboxStore } from './store/outbox';
import { PendingRequests } from './trust/pending-requests';
import { PeerNotes } from './trust/peer-notes';
import { TrustStore } from './trust/trust-store';
import { loadHyperDht } from './transport/dht/load-hyperdht';
import { PROTOCOL_VERSION } from './wire/handshake';
import { FILES_CAPABILITY, FileService } from './files/file-service';
import { MSG_AGENT_CARD } from './wire/session-messages';
import { GroupStore } from './groups/group-store';
import { GroupMessageLog } from './groups/group-messages';
import { GROUPS_CAPABILITY, GroupService } from './groups/group-service';
import { KEY_ROTATION_CAPABILITY } from './network/rotation-follow';

/**
 * What this version can exchange; told to peers in the hello (`a2a`: A2A
 * agent cards, docs/protocol.md §15; A2A_BINDING_CAPABILITY: the A2A
 * binding's message types, §16; FILES_CAPABILITY: file transfers, §9;
 * GROUPS_CAPABILITY: group membership controls, §18; KEY_ROTATION_CAPABILITY:
 * key chains in handshakes, §19).
 */
export const CAPABILITIES = ['text', 'json', 'a2a', A2A_BINDING_CAPABILITY, FILES_CAPABILITY, GROUPS_CAPABILITY, KEY_ROTATION_CAPABILITY];

export interface NodePartsOptions {
  dataDir: string;
  events: EventOutbox;
  refusals: RefusalCounters;
  logger: Logger;
  networkConfig: NetworkConfig;
  messagingConfig: MessagingConfig;
  a2aConfig: A2aConfig;
  /** File transfers; the defaults when not given. */
  filesConfig?: FilesConfig | undefined;
  /** Groups; the defaults when not given. */
  groupsConfig?: GroupsConfig | undefined;
  /** Told to peers in the hello, e.g. `p2p-comm/0.1.0`. */
  software: string;
  /** Where LAN discovery last saw a peer; null without discovery. */
  discoveredAddress: (peerId: string) => string | null;
  /** Feeds the default display name only. */
  hostName?: string;
}

export interface NodeParts {
  identity: LiveIdentity;
  profile: Profile;
  trust: TrustStore;
  pending: PendingRequests;
  /** The person's own notes about peers, for the peers resource. */
  notes: PeerNotes;
  consent: Consent;
  network: PeerNetwork;
  outboxStore: OutboxStore;
  inbox: InboxStore;
  messenger: Messenger;
  /** This node's agent card and the ones peers sent. */
  cards: AgentCards;
  /** A2A requests and answers, both ways. */
  a2a: A2aService;
  /** File transfers, both ways. */
  files: FileService;
  /** Groups: membership (groups.json), messages (group_messages.log) and the groups channel. */
  groups: GroupService;
}

/**
 * Opens a node's state under `dataDir` and wires its parts together: the
 * one place that knows how, for the extension and for the benchmarks.
 * Every state file is opened here, so a corrupt one fails this call.
 */
export function assembleNode(options: NodePartsOptions): NodeParts {
  const { dataDir, events, refusals, logger, networkConfig, messagingConfig, a2aConfig } = options;
  const identity = new LiveIdentity(loadOrCreateIdentity(dataDir));
  const profile = Profile.open(dataDir, options.hostName === undefined ? {} : { hostName: options.hostName });
  const trust = TrustStore.open(dataDir, {
    onSeenWriteError: (error) => logger.warn(`could not write when peers were last seen to the trust store: ${error.message}; the next connection tries again`),
  });
  const pending = PendingRequests.open(dataDir, { maxIncoming: networkConfig.maxIncomingRequests });
  const notes = PeerNotes.open(dataDir);
  const cardStore = CardStore.open(dataDir, a2aConfig.card);
  // Held until initialize is answered, like every log line before it.
  for (const note of [...profile.upgradeNotes, ...trust.upgradeNotes, ...pending.upgradeNotes, ...cardStore.upgradeNotes]) logger.warn(note);
  const consent = new Consent(trust, pending, events, refusals, networkConfig);
  const network = new PeerNetwork({
    dataDir,
    identity,
    profile,
    trust,
    pending,
    consent,
    outbox: events,
    refusals,
    logger,
    config: networkConfig,
    discoveredAddress: options.discoveredAddress,
    clockSkewMs: messagingConfig.clockSkewMs,
    loadHyperDht,
    requestCardWaitMs: a2aConfig.requestCardWaitMs,
  });
  const outboxStore = OutboxStore.open(dataDir, {
    maxMessagesPerPeer: messagingConfig.outboxMaxMessagesPerPeer,
    maxBytesPerPeer: messagingConfig.outboxMaxBytesPerPeer,
  });
  const inbox = InboxStore.open(dataDir, {
    maxMessagesPerPeer: messagingConfig.inboxMaxMessagesPerPeer,
    maxBytesPerPeer: messagingConfig.inboxMaxBytesPerPeer,
    // A replayed message is recognized by id and leaf hash while its batch's time could still pass: 2 x the skew, with margin.
    seenRetentionMs: 3 * messagingConfig.clockSkewMs,
    maxSeenPerPeer: messagingConfig.inboxMaxSeenPerPeer,
    maxSeen: messagingConfig.inboxMaxSeen,
    maxReadBytes: messagingConfig.receiveMaxBytes,
    maxRecentBytes: messagingConfig.inboxRecentBytes,
  });
  const messenger = new Messenger({
    identity,
    trust,
    network,
    outbox: outboxStore,
    inbox,
    events,
    logger,
    config: messagingConfig,
    hello: () => ({
      protocolVersion: PROTOCOL_VERSION,
      agent: profile.displayName,
      capabilities: CAPABILITIES,
      software: options.software,
      dhtBinding: network.dht.advertisedBinding(),
    }),
    validAgentName: isValidDisplayName,
  });
  const cards = new AgentCards({ identity, store: cardStore, network, trust, pending, events, logger, limits: a2aConfig.card, rate: a2aConfig.cardRate });
  messenger.handle(MSG_AGENT_CARD, cards);
  network.setRequestCardListener(cards);
  const a2a = new A2aService({
    peerId: identity.peerId,
    messenger,
    inbox,
    exchanges: ExchangeStore.open(dataDir, {
      maxOpenPerPeer: a2aConfig.exchanges.maxOpenPerPeer,
      retentionMs: a2aConfig.exchanges.retentionSeconds * 1000,
      // An answer or a request is one message, plus the fields around it.
      maxRecordBytes: messagingConfig.maxPayloadBytes + 4096,
    }),
    trust,
    events,
    refuse: (peerId, reason, charged) => network.refuse(peerId, reason, charged),
    logger,
    servesAgent: () => cards.ownCard() !== null,
    config: a2aConfig.binding,
  });
  const files = new FileService({
    dataDir,
    inbox,
    outbox: outboxStore,
    messenger,
    events,
    trust,
    refuse: (peerId, reason, charged) => network.refuse(peerId, reason, charged),
    logger,
    config: options.filesConfig ?? DEFAULT_FILES_CONFIG,
  });
  const groupsConfig = options.groupsConfig ?? DEFAULT_GROUPS_CONFIG;
  const groupStore = GroupStore.open(
    dataDir,
    identity.peerId,
    { maxGroups: groupsConfig.maxGroups, maxMembers: groupsConfig.maxMembers, maxInvitesPerCreator: groupsConfig.maxInvitesPerPeer },
    () => new Date(),
    // Every key this node may still be listed with: a creator that has not yet learned of a rotation lists an older one.
    () => [identity.publicKey, identity.rootKey, ...identity.retiring.map((retiring) => retiring.publicKey)],
  );
  const groups = new GroupService({
    self: identity,
    displayName: () => profile.displayName,
    store: groupStore,
    inbox,
    messenger,
    outbox: outboxStore,
    trust,
    events,
    refuse: (peerId, reason, charged) => network.refuse(peerId, reason, charged),
    logger,
    config: groupsConfig,
    messages: {
      log: GroupMessageLog.open(dataDir, {
        maxHeldPerGroup: groupsConfig.maxHeld,
        maxUnreadPerGroup: groupsConfig.maxUnread,
        maxBytesPerGroup: groupsConfig.maxStoredBytes,
      }),
      config: groupsConfig,
    },
  });
  return { identity, profile, trust, pending, notes, consent, network, outboxStore, inbox, messenger, cards, a2a, files, groups };
}
