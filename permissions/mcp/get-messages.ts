import type { GatedCallOutcome } from '../http/gated-call';
import type { MessageCursors } from './message-cursors';
import { describeMessages, type ReceivedMessage } from './peer-message-text';
import { refusalResult, textResult, type ToolAnswer, type ToolContext } from './tool-answers';

/**
 * p2p_get_messages: a long poll held in the host. The extension answers one
 * call at a time, so a `receive` that waited there would hold every other
 * caller: each receive here returns at once (wait_ms 0), and between rounds
 * of them the host waits for the arrival of a message from one of the peers
 * read (MessageArrivals), reading again at least every `recheckMs`. MCP
 * clients do not pass server notifications to the model and Claude Desktop
 * cancels a tool call after about 60 s, so waiting for a reply is the model
 * calling this again, each call ending within `maxWaitMs`.
 */
export interface LongPollLimits {
  /** The longest one call waits when nothing is unread: under the ~60 s after which Claude Desktop cancels a tool call. */
  maxWaitMs: number;
  /**
   * The longest the host waits for an arrival before it reads again anyway.
   * The extension drops its oldest queued events beyond its queue limit, so
   * an arrival's event can be lost: its message is then returned within this.
   * Not shorter: every read is a gated call, which writes its audit lines.
   */
  recheckMs: number;
  /** Messages returned by a call that names no `limit`: a model reads every one of them. */
  defaultMessages: number;
}

export const DEFAULT_LIMITS: LongPollLimits = { maxWaitMs: 45_000, recheckMs: 5000, defaultMessages: 20 };

interface Received {
  peer: string;
  messages: (ReceivedMessage & { cursor: number })[];
}

export async function getMessages(args: Record<string, unknown>, context: ToolContext, cursors: MessageCursors, limits: LongPollLimits): Promise<ToolAnswer> {
  const named = typeof args['peer'] === 'string' ? args['peer'] : undefined;
  const waitMs = typeof args['wait_seconds'] === 'number' ? Math.min(args['wait_seconds'] * 1000, limits.maxWaitMs) : limits.maxWaitMs;
  const limit = typeof args['limit'] === 'number' ? args['limit'] : limits.defaultMessages;
  const peers = named === undefined ? await allowedPeers(context) : [named];
  if (!Array.isArray(peers)) return { result: peers };
  if (peers.length === 0) {
    return {
      result: textResult(
        "Your user has not allowed you to read any peer's messages yet. Call again with `peer` (a peer id from p2p_list_peers): your user is asked once whether you may exchange messages with that peer.",
        true,
      ),
    };
  }
  const notes = await acknowledgeTaken(context, cursors);
  const deadline = Date.now() + waitMs;
  const received: Received[] = [];
  let active = peers;
  let remaining = limit;
  while (active.length > 0 && !context.signal.aborted) {
    // Armed before reading: a message stored while the extension answers a read below still ends the wait.
    const arrival = context.arrivals.arm(active);
    try {
      const refused: string[] = [];
      for (const peer of active) {
        if (context.signal.aborted || remaining === 0) break;
        const outcome = await context.call('receive', { peer, after: cursors.readAfter(context.plugin, peer), limit: remaining, wait_ms: 0 });
        if (outcome.kind !== 'answered') {
          // One peer named: its refusal is the answer. Several: the others are still read.
          if (named !== undefined) return { result: refusalResult(outcome) };
          notes.push(`Messages from ${peer} could not be read: ${textOf(refusalResult(outcome))}`);
          refused.push(peer);
          continue;
        }
        const messages = (outcome.result as { data: { messages: Received['messages'] } }).data.messages;
        if (messages.length > 0) received.push({ peer, messages });
        remaining -= messages.length;
      }
      active = active.filter((peer) => !refused.includes(peer));
      const left = deadline - Date.now();
      if (received.length > 0 || left <= 0 || active.length === 0) break;
      await arrival.wait(Math.min(limits.recheckMs, left), context.signal);
    } finally {
      arrival.cancel();
    }
  }
  // A cancelled call is never read: nothing is handed over, so the next call returns the same messages.
  if (context.signal.aborted) return { result: textResult('cancelled', true) };
  const withdrawals = received.map(({ peer, messages }) => cursors.handOver(context.plugin, peer, (messages[messages.length - 1] as { cursor: number }).cursor));
  return {
    result: textResult([summaryOf(received, named, waitMs), ...notes].join('\n\n')),
    withdraw: () => withdrawals.forEach((withdraw) => withdraw()),
  };
}

/** Every paired peer whose messages the person allowed this client to read for good: reading them raises no dialog. */
async function allowedPeers(context: ToolContext): Promise<string[] | ToolAnswer['result']> {
  const outcome = await context.call('peers', {});
  if (outcome.kind !== 'answered') return refusalResult(outcome);
  const listed = (outcome.result as { data: { peers: { peer: string; state: string }[] } }).data.peers;
  return listed.filter(({ peer, state }) => state === 'trusted' && context.mayRead(peer)).map(({ peer }) => peer);
}

/** The previous answers the client did not withdraw were read: the extension may now drop those messages. */
async function acknowledgeTaken(context: ToolContext, cursors: MessageCursors): Promise<string[]> {
  const notes: string[] = [];
  for (const { peer, through } of cursors.takeHandedOver(context.plugin)) {
    const outcome: GatedCallOutcome = await context.call('ack', { peer, through });
    if (outcome.kind === 'answered') cursors.acknowledged(context.plugin, peer, through);
    else notes.push(`Messages from ${peer} you already read could not be acknowledged, so they stay in your user's inbox (you will not get them again): ${textOf(refusalResult(outcome))}`);
  }
  return notes;
}

function summaryOf(received: readonly Received[], named: string | undefined, waitMs: number): string {
  if (received.length === 0) {
    return `No new message${named === undefined ? '' : ` from ${named}`} within ${Math.round(waitMs / 1000)} s. Call p2p_get_messages again to keep waiting.`;
  }
  const messages = received.flatMap((entry) => entry.messages);
  const header = `${messages.length} message${messages.length === 1 ? '' : 's'} (acknowledged when you call p2p_get_messages again).`;
  return `${header}\n\n${describeMessages(messages)}`;
}

function textOf(result: ToolAnswer['result']): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
}
