/**
 * Which of two open connections to the same peer to keep. When both nodes
 * dial at once, each keeps the connection opened by the lower peer id, so
 * both keep the same one; when one node opened both (a reconnect that
 * overtook the old connection's close), the newer one wins on both sides.
 */
export interface ConnectionSide {
  /** Peer id of the node that opened the connection. */
  openedBy: string;
}

export function keepExisting(existing: ConnectionSide, incoming: ConnectionSide): boolean {
  return existing.openedBy !== incoming.openedBy && existing.openedBy < incoming.openedBy;
}
