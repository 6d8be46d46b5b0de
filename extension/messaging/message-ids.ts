import { randomFillSync } from 'node:crypto';
import { MESSAGE_ID_BYTES } from '../wire/message-leaf';

/** Ids drawn from the CSPRNG per refill: one system call for this many messages. */
const IDS_PER_REFILL = 256;

/**
 * Message ids: 16 bytes from the CSPRNG, drawn from a pooled buffer. Never
 * derived from anything durable (a counter, the outbox length): a crash
 * rolls that back, and a message that left before its record was durable
 * would then share its id with a later one, which its receiver would take
 * for a duplicate (docs/protocol.md, "Message ids").
 */
export class MessageIds {
  private readonly pool = Buffer.allocUnsafe(IDS_PER_REFILL * MESSAGE_ID_BYTES);
  private next = IDS_PER_REFILL;

  /** 32 lower-case hex characters. */
  take(): string {
    if (this.next === IDS_PER_REFILL) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    const at = this.next * MESSAGE_ID_BYTES;
    this.next += 1;
    return this.pool.toString('hex', at, at + MESSAGE_ID_BYTES);
  }
}
