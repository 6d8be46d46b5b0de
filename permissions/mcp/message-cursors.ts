/**
 * Where each MCP client stands in each peer's messages (per plugin id, per
 * peer), kept by the host across the client's sessions.
 *
 * p2p_get_messages hands messages to the client but acknowledges them (the
 * extension's `ack`, which removes them from the inbox) only when the same
 * client calls again: a model that was handed messages and called again
 * has read the answer. An answer the client never read (it cancelled the
 * call, or its connection dropped) is withdrawn, and the next call starts
 * from the last position the client did take, so those messages come again.
 * Delivery stays at least once; nothing is lost to a cancelled call.
 */
interface Position {
  /** The cursor the client has taken messages through: the next read starts after it. */
  taken: number;
  /** The cursor the extension has acknowledged through. */
  acked: number;
  /** Answers handed over since the client last called, each withdrawn if the client turned out not to read it. */
  handedOver: { through: number; withdrawn: boolean }[];
}

export class MessageCursors {
  /** `plugin \0 peer` -> position. */
  private readonly positions = new Map<string, Position>();

  /** The cursor after which the client's next read of `peer` starts. */
  readAfter(plugin: string, peer: string): number {
    return this.positions.get(keyOf(plugin, peer))?.taken ?? 0;
  }

  /** Messages from `peer` through `through` went out in an answer; the returned function withdraws them. */
  handOver(plugin: string, peer: string, through: number): () => void {
    const handed = { through, withdrawn: false };
    this.position(plugin, peer).handedOver.push(handed);
    return () => {
      handed.withdrawn = true;
    };
  }

  /**
   * The client calls again, so it read every answer it did not withdraw:
   * those are taken. Returns, per peer, the cursor the extension should now
   * acknowledge through (taken, not yet acknowledged).
   */
  takeHandedOver(plugin: string): { peer: string; through: number }[] {
    const toAck: { peer: string; through: number }[] = [];
    for (const [key, position] of this.positions) {
      const [owner, peer] = key.split('\0') as [string, string];
      if (owner !== plugin) continue;
      for (const handed of position.handedOver) {
        if (!handed.withdrawn) position.taken = Math.max(position.taken, handed.through);
      }
      position.handedOver = [];
      if (position.taken > position.acked) toAck.push({ peer, through: position.taken });
    }
    return toAck;
  }

  acknowledged(plugin: string, peer: string, through: number): void {
    const position = this.position(plugin, peer);
    position.acked = Math.max(position.acked, through);
  }

  private position(plugin: string, peer: string): Position {
    const key = keyOf(plugin, peer);
    let position = this.positions.get(key);
    if (position === undefined) {
      position = { taken: 0, acked: 0, handedOver: [] };
      this.positions.set(key, position);
    }
    return position;
  }
}

/** Plugin ids and peer ids never hold a NUL. */
function keyOf(plugin: string, peer: string): string {
  return `${plugin}\0${peer}`;
}
