import type { GatedCallOutcome } from '../../permissions/http/gated-call';
import type { PublishedEvent } from '../../permissions/mcp/message-arrivals';

/**
 * An inbox as the extension keeps it, behind the operations the tool
 * calls. A receive answers at once, whatever its wait_ms (recorded in
 * `calls`); `deliver` stores a message and returns the event the extension
 * publishes for it, for the test to pass on, or to lose.
 */
export class FakeInbox {
  readonly calls: { operation: string; input: Record<string, unknown> }[] = [];
  /** `<operation> <peer>` the gate refuses. */
  readonly refused = new Set<string>();
  private readonly inbox = new Map<string, { cursor: number; content: string }[]>();
  private nextCursor = 1;
  /** Runs once, inside the next receive, after it read the inbox and before it answers. */
  private duringReceive: (() => void) | undefined;

  constructor(private readonly paired: readonly string[]) {}

  deliver(peer: string, content: string): PublishedEvent {
    const cursor = this.nextCursor++;
    const messages = this.inbox.get(peer) ?? [];
    messages.push({ cursor, content });
    this.inbox.set(peer, messages);
    return { type: 'p2p.message.received', data: { peer, message_id: messageId(cursor), cursor } };
  }

  /** `action` runs while the next receive is being answered, after it read the inbox. */
  whileNextReceiveAnswers(action: () => void): void {
    this.duringReceive = action;
  }

  unacked(peer: string): string[] {
    return (this.inbox.get(peer) ?? []).map((message) => message.content);
  }

  /** Resolves once `count` receive calls were made. */
  async receives(count: number): Promise<void> {
    while (this.calls.filter((call) => call.operation === 'receive').length < count) await new Promise((resolve) => setImmediate(resolve));
  }

  readonly call = async (operation: string, input: Record<string, unknown>): Promise<GatedCallOutcome> => {
    this.calls.push({ operation, input });
    const peer = input['peer'] as string;
    if (this.refused.has(`${operation} ${peer}`)) {
      return { kind: 'refused', verdict: { allowed: false, status: 403, error: 'Scope approval denied', details: `User denied access to scope 'peer' = '${peer}'` } };
    }
    switch (operation) {
      case 'peers':
        return answered({ peers: this.paired.map((paired) => ({ peer: paired, state: 'trusted' })) });
      case 'ack': {
        const left = (this.inbox.get(peer) ?? []).filter((message) => message.cursor > (input['through'] as number));
        this.inbox.set(peer, left);
        return answered({ acked: 1 });
      }
      case 'receive': {
        const after = input['after'] as number;
        const messages = (this.inbox.get(peer) ?? [])
          .filter((message) => message.cursor > after)
          .slice(0, input['limit'] as number)
          .map((message) => ({
            message_id: messageId(message.cursor),
            cursor: message.cursor,
            from: { peer, fingerprint: '00:11', self_chosen_name: 'Alice', signature: 'verified' },
            type: 'text',
            content: message.content,
            correlation_id: null,
            sent_at: '2026-01-01T00:00:00.000Z',
            received_at: '2026-01-01T00:00:01.000Z',
          }));
        const during = this.duringReceive;
        this.duringReceive = undefined;
        during?.();
        return answered({ messages, next_cursor: messages.at(-1)?.cursor ?? after });
      }
      default:
        throw new Error(`unexpected ${operation}`);
    }
  };
}

function messageId(cursor: number): string {
  return cursor.toString(16).padStart(32, '0');
}

function answered(data: unknown): GatedCallOutcome {
  return { kind: 'answered', result: { success: true, data, message: null } };
}
