import t from 'tap';
import { getMessages, type LongPollLimits } from '../../../permissions/mcp/get-messages';
import { MessageArrivals, type Arrival, type ArrivalSource, type PublishedEvent, type WaitEnd } from '../../../permissions/mcp/message-arrivals';
import { MessageCursors } from '../../../permissions/mcp/message-cursors';
import { HostStopping } from '../../../permissions/mcp/request-cancellations';
import type { ReadAccess, ToolContext } from '../../../permissions/mcp/tool-answers';
import { FakeInbox } from '../../helpers/fake-inbox';

const ALICE = 'a'.repeat(51) + 'q';
const BOB = 'b'.repeat(51) + 'q';
const CAROL = 'c'.repeat(51) + 'q';
/** No test runs this long: a poll that returns did so without running out of time. */
const LIMITS: LongPollLimits = { maxWaitMs: 45_000, recheckMs: 45_000, defaultMessages: 20, maxAnswerChars: 1_000_000 };

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
  /** How reading each peer stands for the client (the grants); a peer not listed is the gate's to ask about. */
  context(signal?: AbortSignal, access?: Record<string, ReadAccess>): ToolContext;
}

function setup(paired = [ALICE, BOB]): Setup {
  const extension = new FakeInbox(paired);
  const arrivals = new WatchedArrivals();
  return {
    extension,
    arrivals,
    context: (signal = new AbortController().signal, access = { [ALICE]: 'allowed' }) => ({
      plugin: 'assistant',
      signal,
      call: extension.call,
      readAccess: (peer) => access[peer] ?? 'ask',
      pairedPeers: async () => [...paired],
      arrivals,
    }),
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

t.test('without a peer: every paired peer not denied to the client, the undecided ones through the gate, no peers permission needed', async (t) => {
  const { extension, arrivals, context } = setup([ALICE, BOB, CAROL]);
  extension.deliver(BOB, 'from bob, whose dialog is asked');
  extension.deliver(CAROL, 'from carol, denied');
  const waiting = getMessages({}, context(undefined, { [ALICE]: 'allowed', [BOB]: 'ask', [CAROL]: 'denied' }), new MessageCursors(), LIMITS);
  const text = textOf(await waiting);
  t.match(text, /from bob, whose dialog is asked/);
  t.notMatch(text, /from carol/);
  t.same(receiveCalls(extension).map((input) => input['peer']), [ALICE, BOB], 'Alice read silently, Bob through the gate, Carol never');
  t.notOk(extension.calls.some((call) => call.operation === 'peers'), 'the peers were listed by the host, not by a call of the client');
  t.same(arrivals.ends, []);
});

t.test('without a peer: one dialog at a time', async (t) => {
  const { extension, context } = setup([ALICE, BOB, CAROL]);
  let open = 0;
  let most = 0;
  const asking: ToolContext = {
    ...context(undefined, {}),
    // Every read asks (nothing decided): each is a dialog that takes a turn of the event loop to answer.
    call: async (operation, input) => {
      most = Math.max(most, ++open);
      await new Promise((resolve) => setImmediate(resolve));
      open -= 1;
      return extension.call(operation, input);
    },
  };
  await getMessages({ wait_seconds: 0 }, asking, new MessageCursors(), LIMITS);
  t.equal(receiveCalls(extension).length, 3);
  t.equal(most, 1, 'never two at once');
});

t.test('a peer allowed for this call only is read once, not again while the call waits', async (t) => {
  const { extension, arrivals, context } = setup();
  const waiting = getMessages({}, context(undefined, { [ALICE]: 'allowed', [BOB]: 'ask' }), new MessageCursors(), LIMITS);
  await arrivals.waits(1);
  arrivals.publish(extension.deliver(ALICE, 'from alice'));
  t.match(textOf(await waiting), /from alice/);
  t.same(receiveCalls(extension).map((input) => input['peer']), [ALICE, BOB, ALICE], 'Bob once: reading him again would ask again');

  const once = await getMessages({ peer: BOB }, context(undefined, { [BOB]: 'ask' }), new MessageCursors(), LIMITS);
  t.same(arrivals.ends, ['arrived'], 'a named peer allowed once: no wait');
  t.match(textOf(once), /allowed reading .* for this call only: read once, not again while this call waited/);
});

t.test('without a peer, nothing to read: said why, at once', async (t) => {
  const nobody = await getMessages({}, setup([]).context(), new MessageCursors(), LIMITS);
  t.ok(nobody.result.isError);
  t.match(textOf(nobody), /no paired peer yet/);
  const denied = await getMessages({}, setup([BOB]).context(undefined, { [BOB]: 'denied' }), new MessageCursors(), LIMITS);
  t.ok(denied.result.isError);
  t.match(textOf(denied), /refused to let you read every paired peer's messages/);
});

t.test('a refusal of receive itself is the answer, not a note per peer', async (t) => {
  const { extension, context } = setup();
  const refusing: ToolContext = {
    ...context(undefined, {}),
    call: async (operation, input) =>
      operation === 'receive'
        ? { kind: 'refused', verdict: { allowed: false, status: 403, error: 'Permission denied', details: "User denied deferred permission 'ext:p2p-comm:receive'" } }
        : extension.call(operation, input),
  };
  const answer = await getMessages({}, refusing, new MessageCursors(), LIMITS);
  t.ok(answer.result.isError);
  t.match(textOf(answer), /^Refused by the p2p-comm host \(Permission denied/);
  t.notMatch(textOf(answer), /Messages from/);
});

t.test("one peer's refusal is the answer; among several, the others are still read", async (t) => {
  const { extension, context } = setup();
  extension.refused.add(`receive ${BOB}`);
  const refused = await getMessages({ peer: BOB, wait_seconds: 0 }, context(), new MessageCursors(), LIMITS);
  t.ok(refused.result.isError);
  t.match(textOf(refused), /Scope approval denied/);
  extension.deliver(ALICE, 'still here');
  const both = await getMessages({}, context(undefined, { [ALICE]: 'allowed', [BOB]: 'allowed' }), new MessageCursors(), LIMITS);
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

t.test('messages beyond the answer size are left for the next call, never acknowledged unread', async (t) => {
  const { extension, context } = setup();
  const cursors = new MessageCursors();
  for (const letter of ['A', 'B', 'C']) extension.deliver(ALICE, letter.repeat(3000));
  const limits = { ...LIMITS, maxAnswerChars: 9000 };
  const first = textOf(await getMessages({ peer: ALICE }, context(), cursors, limits));
  t.ok(first.length <= limits.maxAnswerChars, `${first.length} characters`);
  t.match(first, /AAA/);
  t.notMatch(first, /CCC/);
  t.match(first, /more messages? did not fit in this answer: call p2p_get_messages again/);
  const shown = (first.match(/--- message \d+ of \d+ ---/g) ?? []).length;
  const second = textOf(await getMessages({ peer: ALICE }, context(), cursors, limits));
  t.notMatch(second, /AAA/);
  t.match(second, /CCC/);
  t.equal(extension.unacked(ALICE).length, 3 - shown, 'only what the first answer showed was acknowledged');
});

t.test('a host stopping while a call waits says so: nothing is lost, call again', async (t) => {
  const { arrivals, context } = setup();
  const controller = new AbortController();
  const waiting = getMessages({ peer: ALICE }, context(controller.signal), new MessageCursors(), LIMITS);
  await arrivals.waits(1);
  controller.abort(new HostStopping());
  const answer = await waiting;
  t.ok(answer.result.isError);
  t.match(textOf(answer), /host stopped while this call waited .* no message is lost: call p2p_get_messages again/);
});

t.test('dialogs the acknowledgement raises count against the wait: the call still ends in time', async (t) => {
  const { extension, arrivals, context } = setup();
  const cursors = new MessageCursors();
  extension.deliver(ALICE, 'read');
  await getMessages({ peer: ALICE }, context(), cursors, LIMITS);
  let now = 0;
  const slowAck: ToolContext = {
    ...context(),
    call: async (operation, input) => {
      // The ack's dialog stays open longer than the call may wait.
      if (operation === 'ack') now += 5000;
      return extension.call(operation, input);
    },
  };
  const answer = await getMessages({ peer: ALICE, wait_seconds: 2 }, slowAck, cursors, LIMITS, () => now);
  t.match(textOf(answer), /No new message from .* within 5 s/);
  t.same(arrivals.ends, [], 'it did not wait any more after the dialog');
  t.same(extension.unacked(ALICE), [], 'acknowledged');
});
