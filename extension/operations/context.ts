import type { EventOutbox } from '../events/outbox';
import type { OperationOutcome } from '../host/protocol';
import type { RefusalCounters } from '../metrics/refusals';

/** What every operation may read: the node's runtime state, never the host session. */
export interface NodeContext {
  version: string;
  dataDir: string;
  startedAt: Date;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  hostEventsReceived: () => number;
}

export type OperationHandler = (input: Record<string, unknown>, node: NodeContext) => Promise<OperationOutcome>;
