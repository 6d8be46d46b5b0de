import type { GatedCallOutcome } from '../http/gated-call';
import type { MessageCursors } from './message-cursors';
import { describeMessages, type ReceivedMessage } from './peer-message-text';
import { HostStopping } from './request-cancellations';
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
 *
 * Every read goes through the gate as the client's plugin. Without `peer`
 * the call reads every paired peer the person has not refused this client
 * for good; a peer not yet decided raises its dialog, one at a time. Only
 * peers the client may read without a dialog are read again while the call
 * waits: a peer allowed once is read once.
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
  /**
   * The longest answer, in characters. Claude Code cuts a tool's answer
   * beyond about 25,000 tokens (MAX_MCP_OUTPUT_TOKENS), and a model reading
   * a cut answer has not read the messages cut off, which the next call
   * would acknowledge: messages beyond this are left for the next call. The
   * first message always comes; one longer than this alone is shortened and
   * says so. Peer ids and hex tokenize at 2-3 characters a token.
   */
  maxAnswerChars: number;
}

export const DEFAULT_LIMITS: LongPollLimits = { maxWaitMs: 45_000, recheckMs: 5000, defaultMessages: 20, maxAnswerChars: 40_000 };

/** Room kept in an answer for its first line and the line about messages left for the next call. */
const ANSWER_FRAME_CHARS = 400;

type PeerMessage = ReceivedMessage & { cursor: number };

/** A message and the peer it was read from. */
interface Read {
  peer: string;
  message: PeerMessage;
}

export async function getMessages(
  args: Record<string, unknown>,
  context: ToolContext,
  cursors: MessageCursors,
  limits: LongPollLimits,
  /** Milliseconds; injectable so tests can let a dialog take its time. */
  now: () => number = Date.now,
): Promise<ToolAnswer> {
  // Dialogs raised by the acknowledgement or the first reads count against the wait, so the call still ends in time.
  const started = now();
  const named = typeof args['peer'] === 'string' ? args['peer'] : undefined;
  const waitMs = typeof args['wait_seconds'] === 'number' ? Math.min(args['wait_seconds'] * 1000, limits.maxWaitMs) : limits.maxWaitMs;
  const limit = typeof args['limit'] === 'number' ? args['limit'] : limits.defaultMessages;
  const peers = named === undefined ? await readablePeers(context) : [named];
  if (!Array.isArray(peers)) return { result: peers };
  const notes = await acknowledgeTaken(context, cursors);
  const deadline = started + waitMs;
  const received: Read[] = [];
  const readOnce: string[] = [];
  let active = peers;
  while (active.length > 0 && !context.signal.aborted) {
    // Armed before reading: a message stored while the extension answers a read below still ends the wait.
    const arrival = context.arrivals.arm(active);
    try {
      const refused: string[] = [];
      for (const peer of active) {
        if (context.signal.aborted || received.length >= limit) break;
        const outcome = await context.call('receive', { peer, after: cursors.readAfter(context.plugin, peer), limit: limit - received.length, wait_ms: 0 });
        if (outcome.kind !== 'answered') {
          // One peer named, or a refusal of the permission itself: it is the answer. Several peers: the others are still read.
          if (named !== undefined || refusesEveryPeer(outcome)) return { result: refusalResult(outcome) };
          notes.push(`Messages from ${peer} could not be read: ${textOf(refusalResult(outcome))}`);
          refused.push(peer);
          continue;
        }
        received.push(...(outcome.result as { data: { messages: PeerMessage[] } }).data.messages.map((message) => ({ peer, message })));
      }
      // Reading again would raise the same dialog again: a peer allowed only for this call is read once.
      const again = active.filter((peer) => !refused.includes(peer) && context.readAccess(peer) === 'allowed');
      readOnce.push(...active.filter((peer) => !refused.includes(peer) && !again.includes(peer)));
      active = again;
      const left = deadline - now();
      if (received.length > 0 || left <= 0 || active.length === 0) break;
      await arrival.wait(Math.min(limits.recheckMs, left), context.signal);
    } finally {
      arrival.cancel();
    }
  }
  // A cancelled call is never read: nothing is handed over, so the next call returns the same messages.
  if (context.signal.aborted) return { result: cancelledResult(context.signal) };
  if (readOnce.length > 0 && received.length === 0 && now() < deadline) {
    notes.push(`Your user allowed reading ${readOnce.join(', ')} for this call only: read once, not again while this call waited; the next call asks your user again.`);
  }
  const budget = limits.maxAnswerChars - ANSWER_FRAME_CHARS - notes.join('\n\n').length;
  const { text, shown } = describeMessages(received.map(({ message }) => message), budget);
  const handed = received.slice(0, shown);
  const withdrawals = [...lastCursorByPeer(handed)].map(([peer, through]) => cursors.handOver(context.plugin, peer, through));
  const answer = handed.length === 0 ? [noMessage(named, now() - started)] : [countOf(handed.length), text];
  if (shown < received.length) answer.push(`${received.length - shown} more message${received.length - shown === 1 ? '' : 's'} did not fit in this answer: call p2p_get_messages again to read them.`);
  return {
    result: textResult([...answer, ...notes].join('\n\n')),
    withdraw: () => withdrawals.forEach((withdraw) => withdraw()),
  };
}

/**
 * Without `peer`: every paired peer the person has not refused this
 * client for good. The host lists its peers itself, so the client needs
 * no `peers` permission; it learns only the ids of the peers it reads.
 */
async function readablePeers(context: ToolContext): Promise<string[] | ToolAnswer['result']> {
  let paired: string[];
  try {
    paired = await context.pairedPeers();
  } catch (error) {
    return textResult(`p2p-comm could not list your user's peers: ${error instanceof Error ? error.message : String(error)}`, true);
  }
  const readable = paired.filter((peer) => context.readAccess(peer) !== 'denied');
  if (readable.length > 0) return readable;
  return textResult(
    paired.length === 0
      ? 'Your user has no paired peer yet, so there is nothing to read. Pairing takes both people: see p2p_identity and p2p_request_pairing.'
      : "Your user has refused to let you read every paired peer's messages. Do not retry: only your user can change that (p2p-comm-host forget-scope).",
    true,
  );
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

/** A refusal of `receive` itself (revoked, or denied in its permission dialog), not of one peer: every other peer would be refused alike. */
function refusesEveryPeer(outcome: Exclude<GatedCallOutcome, { kind: 'answered' }>): boolean {
  return outcome.kind === 'refused' && outcome.verdict.error === 'Permission denied';
}

function cancelledResult(signal: AbortSignal): ToolAnswer['result'] {
  if (signal.reason instanceof HostStopping) {
    return textResult('The p2p-comm host stopped while this call waited (your user stopped or restarted it). Nothing was handed over and no message is lost: call p2p_get_messages again.', true);
  }
  return textResult('Cancelled: nothing was handed over; the next call returns the same messages.', true);
}

function lastCursorByPeer(reads: readonly Read[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const { peer, message } of reads) last.set(peer, message.cursor);
  return last;
}

function noMessage(named: string | undefined, waitedMs: number): string {
  return `No new message${named === undefined ? '' : ` from ${named}`} within ${Math.round(waitedMs / 1000)} s. Call p2p_get_messages again to keep waiting.`;
}

function countOf(count: number): string {
  return `${count} message${count === 1 ? '' : 's'} (acknowledged when you call p2p_get_messages again).`;
}

function textOf(result: ToolAnswer['result']): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
}
