import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { contiguousAnswers, EXCHANGES_FILE_NAME, type ExchangeLimits, ExchangeStore, isEnded, taskSnapshotOf } from '../../extension/a2a/exchange-store';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { A2aRequestPayload } from '../../extension/wire/a2a-payload';
import { RecordLog } from '../../extension/store/record-log';
import { tempDir } from '../helpers/extension';

const START = Date.parse('2026-11-30T10:00:00.000Z');

function openStore(t: Test, limits: Partial<ExchangeLimits> = {}) {
  const dir = tempDir(t);
  const clock = { ms: START };
  const handle = {
    dir,
    clock,
    store: ExchangeStore.open(dir, limits, () => clock.ms),
    async reopen(): Promise<ExchangeStore> {
      await handle.store.close();
      handle.store = ExchangeStore.open(dir, limits, () => clock.ms);
      return handle.store;
    },
  };
  t.teardown(() => handle.store.close().catch(() => undefined));
  return handle;
}

const peer = (): string => peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
const requestId = (): string => randomBytes(16).toString('hex');

function sendMessage(messageId: string, text: string): A2aRequestPayload {
  return { method: 'SendMessage', params: { message: { messageId, parts: [{ text }] } }, service: {}, expiresAt: START + 60_000 };
}

const task = (state: string) => ({ task: { id: 't-1', contextId: 'c-1', status: { state } } });

t.test('an exchange and its answers survive reopening; answers show in seq order up to the first gap', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const id = requestId();
  await handle.store.open('calling', alice, id, sendMessage('m-1', 'hi'), 'd1');
  t.equal(await handle.store.addAnswer('calling', alice, id, 1, { kind: 'event', event: { statusUpdate: { taskId: 't-1', status: { state: 'TASK_STATE_WORKING' } } } }), 'added');
  let exchange = handle.store.get('calling', alice, id);
  t.same(exchange === undefined ? null : contiguousAnswers(exchange), [], 'seq 1 waits for seq 0');
  await handle.store.addAnswer('calling', alice, id, 0, { kind: 'event', event: task('TASK_STATE_SUBMITTED') });
  await handle.store.addAnswer('calling', alice, id, 2, { kind: 'end' });
  let store = await handle.reopen();
  exchange = store.get('calling', alice, id);
  if (exchange === undefined) throw new Error('lost at reopening');
  t.same(contiguousAnswers(exchange).map((answer) => [answer.seq, answer.answer.kind]), [[0, 'event'], [1, 'event'], [2, 'end']]);
  t.ok(isEnded(exchange));
  t.match(taskSnapshotOf(exchange), { id: 't-1', context_id: 'c-1', state: 'TASK_STATE_WORKING' }, 'the newest state the answers carry');
  t.equal(store.findByTask('calling', alice, 't-1')?.requestId, id);
  store = await handle.reopen();
  t.equal(store.list('calling', alice).length, 1);
});

t.test('a repeated answer changes nothing; another body under its seq, or after the end, does not get in', async (t) => {
  const { store } = openStore(t);
  const alice = peer();
  const id = requestId();
  await store.open('calling', alice, id, sendMessage('m', 'x'), 'd');
  t.equal(await store.addAnswer('calling', alice, id, 0, { kind: 'event', event: task('TASK_STATE_SUBMITTED') }), 'added');
  t.equal(await store.addAnswer('calling', alice, id, 0, { kind: 'event', event: task('TASK_STATE_SUBMITTED') }), 'repeat');
  t.equal(await store.addAnswer('calling', alice, id, 0, { kind: 'event', event: task('TASK_STATE_FAILED') }), 'conflict');
  t.equal(await store.addAnswer('calling', alice, id, 3, { kind: 'event', event: task('TASK_STATE_WORKING') }), 'added');
  t.equal(await store.addAnswer('calling', alice, id, 2, { kind: 'end' }), 'conflict', 'an end below an answer already there');
  t.equal(await store.addAnswer('calling', alice, id, 4, { kind: 'end' }), 'added');
  t.equal(await store.addAnswer('calling', alice, id, 5, { kind: 'event', event: task('TASK_STATE_WORKING') }), 'after_end');
  t.equal(await store.addAnswer('calling', alice, requestId(), 0, { kind: 'end' }), 'unknown_request');
  t.equal(await store.addAnswer('serving', alice, id, 0, { kind: 'end' }), 'unknown_request', 'the directions are apart');
});

t.test('colliding client messageIds stay two exchanges; a resend is found only with the same params', async (t) => {
  const { store } = openStore(t);
  const alice = peer();
  const bob = peer();
  const [first, second, third] = [requestId(), requestId(), requestId()];
  await store.open('calling', alice, first, sendMessage('same', 'one'), 'digest-one');
  await store.open('calling', alice, second, sendMessage('same', 'two'), 'digest-two');
  await store.open('calling', bob, third, sendMessage('same', 'one'), 'digest-one');
  t.equal(store.list('calling', alice).length, 2);
  t.equal(store.findResend(alice, 'SendMessage', 'same', 'digest-one')?.requestId, first);
  t.equal(store.findResend(alice, 'SendMessage', 'same', 'digest-two')?.requestId, second);
  t.equal(store.findResend(bob, 'SendMessage', 'same', 'digest-one')?.requestId, third, 'per peer');
  t.equal(store.findResend(alice, 'SendStreamingMessage', 'same', 'digest-one'), undefined, 'per method');
  t.equal(store.findResend(alice, 'SendMessage', 'other', 'digest-one'), undefined);
});

t.test('open exchanges are bounded per peer and direction; ended ones are forgotten after the retention', async (t) => {
  const handle = openStore(t, { maxOpenPerPeer: 2, retentionMs: 1000 });
  const alice = peer();
  const [a, b] = [requestId(), requestId()];
  await handle.store.open('serving', alice, a, sendMessage('1', 'x'), 'd');
  await handle.store.open('serving', alice, b, sendMessage('2', 'x'), 'd');
  await t.rejects(handle.store.open('serving', alice, requestId(), sendMessage('3', 'x'), 'd'), { name: 'P2pError', message: /2 A2A requests from .* are still open/ });
  await handle.store.open('calling', alice, requestId(), sendMessage('4', 'x'), 'd');
  await handle.store.open('serving', peer(), requestId(), sendMessage('5', 'x'), 'd');
  t.equal(await handle.store.addAnswer('serving', alice, a, 0, { kind: 'result', result: task('TASK_STATE_COMPLETED') }), 'added');
  await handle.store.claim(alice, b);
  t.equal(handle.store.get('serving', alice, b)?.claimed, true);
  await handle.store.open('serving', alice, requestId(), sendMessage('6', 'x'), 'd');
  t.equal(handle.store.openCount('serving', alice), 2, 'an ended exchange frees its place');
  handle.clock.ms += 1001;
  await handle.store.open('calling', peer(), requestId(), sendMessage('7', 'x'), 'd');
  t.equal(handle.store.get('serving', alice, a), undefined, 'forgotten past the retention');
  let store = await handle.reopen();
  t.equal(store.get('serving', alice, a), undefined, 'also after reopening');
  t.equal(store.get('serving', alice, b)?.claimed, true, 'the claim survives');
  handle.clock.ms = START + 60_000 + 1001;
  await store.open('calling', peer(), requestId(), sendMessage('8', 'x'), 'd');
  t.equal(store.get('serving', alice, b), undefined, 'never answered, but expired longer than the retention: forgotten too');
  store = await handle.reopen();
  t.equal(store.openCount('serving', alice), 0);
});

t.test('forgotten exchanges leave the file at its next compaction: a2a.log does not grow for ever', async (t) => {
  const handle = openStore(t, { retentionMs: 1000, compactionMinBytes: 16 * 1024 });
  const alice = peer();
  const file = join(handle.dir, EXCHANGES_FILE_NAME);
  const bulk = 'x'.repeat(2000);
  let largest = 0;
  for (let round = 0; round < 200; round += 1) {
    const id = requestId();
    await handle.store.open('serving', alice, id, sendMessage(`m-${round}`, bulk), '');
    await handle.store.addAnswer('serving', alice, id, 0, { kind: 'result', result: task('TASK_STATE_COMPLETED') });
    handle.clock.ms += 2000;
    largest = Math.max(largest, statSync(file).size);
  }
  t.ok(largest < 64 * 1024, `the file stays near the compaction threshold (largest ${largest} bytes for 200 exchanges of about 2.2 KB)`);
  const store = await handle.reopen();
  t.equal(store.list('serving', alice).length, 1, 'only the exchange within the retention is kept');
});

t.test('a failure ends a calling exchange and survives reopening', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const id = requestId();
  await handle.store.open('calling', alice, id, sendMessage('m', 'x'), 'd');
  await handle.store.fail(alice, id, 'revoked');
  const store = await handle.reopen();
  const exchange = store.get('calling', alice, id);
  t.equal(exchange?.failure, 'revoked');
  t.ok(exchange !== undefined && isEnded(exchange));
});

t.test('a record that is not an exchange record fails the open, naming the file', async (t) => {
  const alice = peer();
  const id = requestId();
  const open = { k: 'open', dir: 'calling', peer: alice, id, at: START, cursor: 1, request: sendMessage('m', 'x'), digest: 'd' };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a method the binding does not carry', { ...open, request: { ...sendMessage('m', 'x'), method: 'message/send' } }, /method/],
    ['a request without its messageId', { ...open, request: { ...sendMessage('m', 'x'), params: { message: {} } } }, /messageId/],
    ['an answer that would not travel', { k: 'answer', dir: 'calling', peer: alice, id, seq: 0, answer: { kind: 'event', event: { bogus: {} } }, at: START }, /an event holds/],
    ['an answer of no kind', { k: 'answer', dir: 'calling', peer: alice, id, seq: 0, answer: { kind: 'later' }, at: START }, /no known kind/],
    ['no peer id', { ...open, peer: 'someone' }, /names no exchange/],
    ['an unknown record', { k: 'move', peer: alice, id }, /not an exchange record/],
  ];
  for (const [what, record, reason] of cases) {
    const dir = tempDir(t);
    const { log } = RecordLog.open(join(dir, EXCHANGES_FILE_NAME), { maxRecordBytes: 4096 });
    await log.append(Buffer.from(JSON.stringify(record)));
    await log.close();
    t.throws(() => ExchangeStore.open(dir), { name: 'P2pError', message: new RegExp(`a2a\\.log is corrupt: record 1 is not an A2A exchange log record \\(.*${reason.source}`) }, what);
  }
  const dir = tempDir(t);
  const { log } = RecordLog.open(join(dir, EXCHANGES_FILE_NAME), { maxRecordBytes: 4096 });
  await log.append(Buffer.from(JSON.stringify(open)));
  await log.close();
  const store = ExchangeStore.open(dir);
  t.equal(store.get('calling', alice, id)?.request.method, 'SendMessage', 'a valid record opens');
  await store.close();
});
