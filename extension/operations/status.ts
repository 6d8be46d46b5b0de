import type { OperationHandler } from './context';
import { fileStatus } from './files';

/** Health of the node. */
export const status: OperationHandler = async (_input, node) => {
  const network = node.network.status();
  return {
    data: {
      peer_id: node.identity.peerId,
      version: node.version,
      uptime_seconds: Math.floor((Date.now() - node.startedAt.getTime()) / 1000),
      listening: network.listening,
      connections: network.connections,
      dht: network.dht,
      queues: {
        outbox: node.outboxStore.counts(),
        in_flight: node.messenger.inFlightCount(),
        inbox: { ...node.inbox.depth(), read_failures: node.inbox.unreadableCount },
        events: node.outbox.stats(),
        incoming_requests: node.pending.incoming().length,
        outgoing_requests: node.pending.outgoing().length,
      },
      discovery: node.discovery.status(),
      refusals: node.refusals.snapshot(),
      host_events_received: node.hostEventsReceived(),
      files: fileStatus(node),
    },
    message: null,
  };
};
