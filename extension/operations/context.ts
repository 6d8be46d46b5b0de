import type { NetworkConfig } from '../config';
import type { MdnsDiscovery } from '../discovery/mdns-discovery';
import type { EventOutbox } from '../events/outbox';
import type { OperationOutcome } from '../host/protocol';
import type { RefusalCounters } from '../metrics/refusals';
import type { NodeParts } from '../node-parts';
import type { KeyRotation } from './rotation';

/** What every operation may use: the node's domain objects, never the host session. */
export interface NodeContext extends NodeParts {
  version: string;
  dataDir: string;
  startedAt: Date;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  hostEventsReceived: () => number;
  networkConfig: NetworkConfig;
  discovery: MdnsDiscovery;
  /** Swaps this node's key in the network (rotate_identity); absent, the operation refuses. */
  keyRotation?: KeyRotation;
}

export type OperationHandler = (input: Record<string, unknown>, node: NodeContext) => Promise<OperationOutcome>;
