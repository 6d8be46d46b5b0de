import type { OperationHandler } from './context';

/**
 * Health of the node. Sections for the network, the queues and discovery are
 * present from the start so that monitoring can be written against a stable
 * shape; they report zeros until those parts exist.
 */
export const status: OperationHandler = async (_input, node) => ({
  data: {
    peer_id: null,
    version: node.version,
    uptime_seconds: Math.floor((Date.now() - node.startedAt.getTime()) / 1000),
    listening: { active: false, addresses: [] },
    connections: { active: 0 },
    queues: { outbox: 0, inbox: 0, events: node.outbox.stats() },
    discovery: { enabled: false, advertising: false, browsing: false, peers_seen: 0 },
    refusals: node.refusals.snapshot(),
    host_events_received: node.hostEventsReceived(),
  },
  message: null,
});
