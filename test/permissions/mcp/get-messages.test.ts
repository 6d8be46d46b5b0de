import t from 'tap';
import { getMessages, type LongPollLimits } from '../../../permissions/mcp/get-messages';
import { MessageCursors } from '../../../permissions/mcp/message-cursors';
import type { ToolContext } from '../../../permissions/mcp/tool-answers';
import { FakeInbox } from '../../helpers/fake-inbox';

const ALICE = 'a'.repeat(51) + 'q';
const BOB = 'b'.repeat(51) + 'q';
const LIMITS: LongPollLimits = { maxWaitMs: 45_000, receiveWaitMs: 1000, defaultMessages: 20 };

function contextFor(extension: FakeInbox, signal = new AbortController().signal, readable: string[] = [ALICE]): ToolContext {
  return { plugin: 'assistant', signal, call: extension.call, mayRead: (peer) => readable.includes(peer) };
}

function textOf(answer: Awaited<ReturnType<typeof getMessages>>): string {
  return answer.result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

t.test('returns at once what is unread, and acknowledges it only when the client calls again', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const cursors = new MessageCursors();
  extension.deliver(ALICE, 'first');
  const answer = await getMessages({ peer: ALICE }, contextFor(extension), cursors, LIMITS);
  t.match(textOf(answer), /first/);
  t.same(extension.calls.map((call) => call.operation), ['receive'], 'one receive (which returns at once when something is unread)');
  t.same(extension.unacked(ALICE), ['first'], 'not acknowledged yet');
  extension.deliver(ALICE, 'second');
  const next = await getMessages({ peer: ALICE }, contextFor(extension), cursors, LIMITS);
  t.notMatch(textOf(next), /first/);
  t.match(textOf(next), /second/);
  t.same(extension.unacked(ALICE), ['second'], 'the next call acknowledged what the first returned');
});

t.test('waits in short receives, each at most receiveWaitMs, until a message comes', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const waiting = getMessages({ peer: ALICE }, contextFor(extension), new MessageCursors(), LIMITS);
  await extension.receives(1);
  extension.deliver(ALICE, 'late');
  t.match(textOf(await waiting), /late/);
  for (const call of extension.calls) t.ok((call.input['wait_ms'] as number) <= LIMITS.receiveWaitMs, 'the extension is held one short wait at a time');
});

t.test('ends after wait_seconds with nothing, saying so', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const answer = await getMessages({ peer: ALICE, wait_seconds: 0 }, contextFor(extension), new MessageCursors(), LIMITS);
  t.match(textOf(answer), /No new message from .* within 0 s/);
  t.notOk(answer.result.isError);
});

t.test('a call cancelled while it waits hands nothing over: the message comes with the next call', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const cursors = new MessageCursors();
  const controller = new AbortController();
  const cancelled = getMessages({ peer: ALICE }, contextFor(extension, controller.signal), cursors, LIMITS);
  await extension.receives(1);
  // The message arrives just as the client gives up: the waiting receive returns it, but nobody reads the answer.
  controller.abort();
  extension.deliver(ALICE, 'unread');
  const answer = await cancelled;
  t.ok(answer.result.isError, 'answered as cancelled');
  t.equal(answer.withdraw, undefined, 'nothing handed over');
  const next = await getMessages({ peer: ALICE }, contextFor(extension), cursors, LIMITS);
  t.match(textOf(next), /unread/);
  t.same(extension.unacked(ALICE), ['unread'], 'never acknowledged unread');
});

t.test('an answer withdrawn after it went out (a late cancellation) comes again, and is not acknowledged', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const cursors = new MessageCursors();
  extension.deliver(ALICE, 'lost');
  const answer = await getMessages({ peer: ALICE }, contextFor(extension), cursors, LIMITS);
  answer.withdraw?.();
  const again = await getMessages({ peer: ALICE }, contextFor(extension), cursors, LIMITS);
  t.match(textOf(again), /lost/);
  t.notOk(extension.calls.some((call) => call.operation === 'ack'), 'nothing acknowledged');
});

t.test('without a peer: every peer the person allowed, none it did not', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  extension.deliver(BOB, 'from bob, not allowed');
  const waiting = getMessages({}, contextFor(extension, undefined, [ALICE]), new MessageCursors(), LIMITS);
  await extension.receives(1);
  extension.deliver(ALICE, 'from alice');
  const text = textOf(await waiting);
  t.match(text, /from alice/);
  t.notMatch(text, /from bob/);
  t.notOk(extension.calls.some((call) => call.operation === 'receive' && call.input['peer'] === BOB), 'Bob was never read');
  const none = await getMessages({}, contextFor(extension, undefined, []), new MessageCursors(), LIMITS);
  t.ok(none.result.isError);
  t.match(textOf(none), /not allowed you to read any peer/);
});

t.test("one peer's refusal is the answer; among several, the others are still read", async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  extension.refused.add(`receive ${BOB}`);
  const refused = await getMessages({ peer: BOB, wait_seconds: 0 }, contextFor(extension), new MessageCursors(), LIMITS);
  t.ok(refused.result.isError);
  t.match(textOf(refused), /Scope approval denied/);
  extension.deliver(ALICE, 'still here');
  const both = await getMessages({}, contextFor(extension, undefined, [BOB, ALICE]), new MessageCursors(), LIMITS);
  t.notOk(both.result.isError);
  t.match(textOf(both), /still here/);
  t.match(textOf(both), new RegExp(`Messages from ${BOB} could not be read: .*Scope approval denied`));
});

t.test('at most limit messages, the rest with the next call', async (t) => {
  const extension = new FakeInbox([ALICE, BOB]);
  const cursors = new MessageCursors();
  for (const content of ['m1', 'm2', 'm3']) extension.deliver(ALICE, content);
  const first = textOf(await getMessages({ peer: ALICE, limit: 2 }, contextFor(extension), cursors, LIMITS));
  t.match(first, /2 messages/);
  t.notMatch(first, /m3/);
  const rest = textOf(await getMessages({ peer: ALICE, limit: 2 }, contextFor(extension), cursors, LIMITS));
  t.match(rest, /m3/);
  t.notMatch(rest, /m1|m2/);
});
