import type { NetworkConfig } from '../config';
import type { MdnsDiscovery } from '../discovery/mdns-discovery';
import type { Messenger } from '../messaging/messenger';
import type { InboxStore } from '../store/inbox';
import type { OutboxStore } from '../store/outbox';
import type { EventOutbox } from '../events/outbox';
import type { OperationOutcome } from '../host/protocol';
import type { NodeIdentity } from '../identity/node-identity';
import type { Profile } from '../identity/profile';
import type { RefusalCounters } from '../metrics/refusals';
import type { PeerNetwork } from '../network/peer-network';
import type { Consent } from '../pairing/consent';
import type { PendingRequests } from '../trust/pending-requests';
import type { TrustStore } from '../trust/trust-store';

/** What every operation may use: the node's domain objects, never the host session. */
export interface NodeContext {
  version: string;
  dataDir: string;
  startedAt: Date;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  hostEventsReceived: () => number;
  identity: NodeIdentity;
  profile: Profile;
  trust: TrustStore;
  pending: PendingRequests;
  consent: Consent;
  network: PeerNetwork;
  networkConfig: NetworkConfig;
  discovery: MdnsDiscovery;
  messenger: Messenger;
  outboxStore: OutboxStore;
  inbox: InboxStore;
}

export type OperationHandler = (input: Record<string, unknown>, node: NodeContext) => Promise<OperationOutcome>;
