import t from 'tap';
import { getMessages, type LongPollLimits } from '../../../permissions/mcp/get-messages';
import { MessageArrivals, type Arrival, type ArrivalSource, type PublishedEvent, type WaitEnd } from '../../../permissions/mcp/message-arrivals';
import { MessageCursors } from '../../../permissions/mcp/message-cursors';
import type { ToolContext } from '../../../permissions/mcp/tool-answers';
import { FakeInbox } from '../../helpers/fake-inbox';

const ALICE = 'a'.repeat(51) + 'q';
const BOB = 'b'.repeat(51) + 'q';
/** No test runs this long: a poll that returns did so without running out of time. */
const LIMITS: LongPollLimits = { maxWaitMs: 45_000, recheckMs: 45_000, defaultMessages: 20 };

/** The host's arrivals, telling the test when the long poll waits and how each of its waits ended. */
class WatchedArrivals implements ArrivalSource {
  readonly host = new MessageArrivals();
  readonly ends: WaitEnd[] = [];
  private started = 0;

  arm(peers: readonly string[]): Arrival {
    const arrival = this.host.arm(peers);
    return {
      wait: async (ms, signal) => {
        this.started += 1;
        const end = await arrival.wait(ms, signal);
        this.ends.push(end);
        return end;
      },
      cancel: () => arrival.cancel(),
    };
  }

  publish(event: PublishedEvent): void {
    this.host.event(event);
  }

  /** Resolves once the long poll began its `count`th wait. */
  async waits(count: number): Promise<void> {
    while (this.started < count) await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Setup {
  extension: FakeInbox;
  arrivals: WatchedArrivals;
  context(signal?: AbortSignal, readable?: string[]): ToolContext;
}

function setup(): Setup {
  const extension = new FakeInbox([ALICE, BOB]);
  const arrivals = new WatchedArrivals();
  return {
    extension,
    arrivals,
    context: (signal = new AbortController().signal, readable = [ALICE]) => ({ plugin: 'assistant', signal, call: extension.call, mayRead: (peer) => readable.includes(peer), arrivals }),
  };
}

function receiveCalls(extension: FakeInbox): Record<string, unknown>[] {
  return extension.calls.filter((call) => call.operation === 'receive').map((call) => call.input);
}

function textOf(answer: Awaited<ReturnType<typeof getMessages>>): string {
  return answer.result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

t.test('returns at once what is unread, and acknowledges it only when the client calls again', async (t) => {
  const { extension, arrivals, context } = setup();
  const cursors = new MessageCursors();
  extension.deliver(ALICE, 'first');
  const answer = await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  t.match(textOf(answer), /first/);
  t.same(extension.calls.map((call) => call.operation), ['receive'], 'one receive, and no wait');
  t.same(arrivals.ends, []);
  t.same(extension.unacked(ALICE), ['first'], 'not acknowledged yet');
  extension.deliver(ALICE, 'second');
  const next = await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  t.notMatch(textOf(next), /first/);
  t.match(textOf(next), /second/);
  t.same(extension.unacked(ALICE), ['second'], 'the next call acknowledged what the first returned');
});

t.test('waits in the host, not in the extension: a message is read once its arrival is seen', async (t) => {
  const { extension, arrivals, context } = setup();
  const waiting = getMessages({ peer: ALICE }, context(), new MessageCursors(), LIMITS);
  await arrivals.waits(1);
  arrivals.publish(extension.deliver(ALICE, 'late'));
  t.match(textOf(await waiting), /late/);
  t.same(arrivals.ends, ['arrived']);
  t.same(receiveCalls(extension).map((input) => input['wait_ms']), [0, 0], 'one read before the wait, one after; neither waits in the extension');
  t.equal(arrivals.host.armedCount, 0, 'nothing left armed');
});

t.test("another peer's arrival does not wake it", async (t) => {
  const { extension, arrivals, context } = setup();
  const controller = new AbortController();
  const waiting = getMessages({ peer: ALICE }, context(controller.signal), new MessageCursors(), LIMITS);
  await arrivals.waits(1);
  arrivals.publish(extension.deliver(BOB, 'not for this poll'));
  t.equal(arrivals.host.armedCount, 1, 'still waiting');
  controller.abort();
  await waiting;
  t.same(arrivals.ends, ['cancelled']);
  t.equal(receiveCalls(extension).length, 1, 'Bob was not read, nor Alice again');
});

t.test('a message whose event was lost is read at the next recheck', async (t) => {
  const { extension, arrivals, context } = setup();
  const waiting = getMessages({ peer: ALICE }, context(), new MessageCursors(), { ...LIMITS, recheckMs: 20 });
  await arrivals.waits(1);
  extension.deliver(ALICE, 'its event never came');
  t.match(textOf(await waiting), /its event never came/);
  t.equal(arrivals.ends.at(-1), 'elapsed', 'found by reading again anyway');
  t.ok(receiveCalls(extension).every((input) => input['wait_ms'] === 0));
});

t.test('a message stored while the extension answers a read is not missed: the poll is armed before it reads', async (t) => {
  const { extension, arrivals, context } = setup();
  extension.whileNextReceiveAnswers(() => arrivals.publish(extension.deliver(ALICE, 'raced')));
  // Were the arrival missed, the poll would read again only as its second ends.
  const answer = await getMessages({ peer: ALICE, wait_seconds: 1 }, context(), new MessageCursors(), LIMITS);
  t.match(textOf(answer), /raced/);
  t.same(arrivals.ends, ['arrived'], 'the wait ended at once, on the arrival seen during the read');
  t.equal(receiveCalls(extension).length, 2);
});

t.test('ends after wait_seconds with nothing, saying so', async (t) => {
  const { extension, arrivals, context } = setup();
  const answer = await getMessages({ peer: ALICE, wait_seconds: 0 }, context(), new MessageCursors(), LIMITS);
  t.match(textOf(answer), /No new message from .* within 0 s/);
  t.notOk(answer.result.isError);
  t.same(arrivals.ends, [], 'no wait');
  t.equal(receiveCalls(extension).length, 1);
});

t.test('a call cancelled while it waits returns at once and hands nothing over: the message comes with the next call', async (t) => {
  const { extension, arrivals, context } = setup();
  const cursors = new MessageCursors();
  const controller = new AbortController();
  const cancelled = getMessages({ peer: ALICE }, context(controller.signal), cursors, LIMITS);
  await arrivals.waits(1);
  controller.abort();
  const answer = await cancelled;
  t.same(arrivals.ends, ['cancelled'], 'the wait ended on the cancellation');
  t.ok(answer.result.isError, 'answered as cancelled');
  t.equal(answer.withdraw, undefined, 'nothing handed over');
  t.equal(arrivals.host.armedCount, 0, 'nothing left armed');
  extension.deliver(ALICE, 'unread');
  const next = await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  t.match(textOf(next), /unread/);
  t.same(extension.unacked(ALICE), ['unread'], 'never acknowledged unread');
});

t.test('a call cancelled while it reads what arrived hands nothing over', async (t) => {
  const { extension, arrivals, context } = setup();
  const cursors = new MessageCursors();
  const controller = new AbortController();
  const cancelled = getMessages({ peer: ALICE }, context(controller.signal), cursors, LIMITS);
  await arrivals.waits(1);
  // The message arrives just as the client gives up: the read returns it, but nobody reads the answer.
  extension.whileNextReceiveAnswers(() => controller.abort());
  arrivals.publish(extension.deliver(ALICE, 'unread'));
  const answer = await cancelled;
  t.ok(answer.result.isError, 'answered as cancelled');
  t.equal(answer.withdraw, undefined, 'nothing handed over');
  t.match(textOf(await getMessages({ peer: ALICE }, context(), cursors, LIMITS)), /unread/);
});

t.test('an answer withdrawn after it went out (a late cancellation) comes again, and is not acknowledged', async (t) => {
  const { extension, context } = setup();
  const cursors = new MessageCursors();
  extension.deliver(ALICE, 'lost');
  const answer = await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  answer.withdraw?.();
  const again = await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  t.match(textOf(again), /lost/);
  t.notOk(extension.calls.some((call) => call.operation === 'ack'), 'nothing acknowledged');
});

t.test('without a peer: every peer the person allowed, none it did not', async (t) => {
  const { extension, arrivals, context } = setup();
  extension.deliver(BOB, 'from bob, not allowed');
  const waiting = getMessages({}, context(undefined, [ALICE]), new MessageCursors(), LIMITS);
  await arrivals.waits(1);
  arrivals.publish(extension.deliver(ALICE, 'from alice'));
  const text = textOf(await waiting);
  t.match(text, /from alice/);
  t.notMatch(text, /from bob/);
  t.notOk(extension.calls.some((call) => call.operation === 'receive' && call.input['peer'] === BOB), 'Bob was never read');
  const none = await getMessages({}, context(undefined, []), new MessageCursors(), LIMITS);
  t.ok(none.result.isError);
  t.match(textOf(none), /not allowed you to read any peer/);
});

t.test("one peer's refusal is the answer; among several, the others are still read", async (t) => {
  const { extension, context } = setup();
  extension.refused.add(`receive ${BOB}`);
  const refused = await getMessages({ peer: BOB, wait_seconds: 0 }, context(), new MessageCursors(), LIMITS);
  t.ok(refused.result.isError);
  t.match(textOf(refused), /Scope approval denied/);
  extension.deliver(ALICE, 'still here');
  const both = await getMessages({}, context(undefined, [BOB, ALICE]), new MessageCursors(), LIMITS);
  t.notOk(both.result.isError);
  t.match(textOf(both), /still here/);
  t.match(textOf(both), new RegExp(`Messages from ${BOB} could not be read: .*Scope approval denied`));
});

t.test('at most limit messages, the rest with the next call', async (t) => {
  const { extension, context } = setup();
  const cursors = new MessageCursors();
  for (const content of ['m1', 'm2', 'm3']) extension.deliver(ALICE, content);
  const first = textOf(await getMessages({ peer: ALICE, limit: 2 }, context(), cursors, LIMITS));
  t.match(first, /2 messages/);
  t.notMatch(first, /m3/);
  const rest = textOf(await getMessages({ peer: ALICE, limit: 2 }, context(), cursors, LIMITS));
  t.match(rest, /m3/);
  t.notMatch(rest, /m1|m2/);
});
