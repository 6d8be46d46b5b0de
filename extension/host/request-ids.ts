/**
 * vscode-jsonrpc keys queued requests by id, so two requests with the same
 * id waiting at once would leave only one of them: the other would never be
 * answered. Hosts normally use unique ids, but a reused id, or the fallback
 * id given to an unreadable line, must not cost a request. The reader swaps
 * each incoming request id for a fresh internal one and the writer restores
 * the host's id on the way out.
 */
export class RequestIdMap {
  private next = 1;
  private readonly original = new Map<number, number | string>();

  admit(hostId: number | string): number {
    const internal = this.next++;
    this.original.set(internal, hostId);
    return internal;
  }

  /** The host's id for an answer about to be written; each is restored once. */
  restore(internal: number | string | null): number | string | null {
    if (typeof internal !== 'number' || !this.original.has(internal)) return internal;
    const hostId = this.original.get(internal) as number | string;
    this.original.delete(internal);
    return hostId;
  }
}
