import { once } from 'node:events';
import { startConnectedPair } from '../p2p-node';
import { nowMs, percentile } from '../stats';

/**
 * Low-load latency, one message at a time, from the `send` call: to the
 * receiver's inbox 'stored' event (signed, sealed, on the wire, checked,
 * fsync'd on both sides), and to the return of a long poll the way a plugin
 * polls (`receive` with wait_ms through the Messenger), which is waiting
 * before the message is sent.
 */
export interface LatencyRun {
  storedP50Ms: number;
  storedP99Ms: number;
  polledP50Ms: number;
  polledP99Ms: number;
}

const POLL_WAIT_MS = 2000;

export async function p2pLatency(count: number, payloadBytes: number): Promise<LatencyRun> {
  const pair = await startConnectedPair();
  const { a, b } = pair;
  const sender = a.identity.peerId;
  const content = 'x'.repeat(payloadBytes);
  const toStored: number[] = [];
  const toPolled: number[] = [];
  let cursor = 0;
  for (let i = 0; i < count; i += 1) {
    const poll = b.messenger.receive(sender, cursor, 100, POLL_WAIT_MS);
    const stored = once(b.inbox, 'stored');
    const start = nowMs();
    await a.messenger.send({ peer: b.identity.peerId, type: 'text', content, correlationId: null, ttlSeconds: null });
    await stored;
    toStored.push(nowMs() - start);
    const messages = await poll;
    toPolled.push(nowMs() - start);
    const last = messages[messages.length - 1];
    if (messages.length !== 1 || last === undefined) throw new Error(`the poll returned ${messages.length} messages instead of 1`);
    cursor = last.cursor;
    // The signed ack completes the exchange; the next message starts on a quiet system.
    await a.events.deliveredReaches(i + 1);
  }
  await pair.close();
  return {
    storedP50Ms: percentile(toStored, 50),
    storedP99Ms: percentile(toStored, 99),
    polledP50Ms: percentile(toPolled, 50),
    polledP99Ms: percentile(toPolled, 99),
  };
}
