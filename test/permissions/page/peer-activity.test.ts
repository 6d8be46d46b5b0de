import t from 'tap';
import type { ExtensionEvent } from '../../../permissions/host/process-manager';
import { PeerActivity, type PeerActivityOptions } from '../../../permissions/page/peer-activity';

const PEER = 'a'.repeat(51) + 'q';
const OTHER = 'b'.repeat(51) + 'q';

let nextEvent = 0;
function event(type: string, data: unknown): ExtensionEvent {
  return { id: String(++nextEvent), type, data };
}

function activity(options: PeerActivityOptions = {}): { activity: PeerActivity; advance(ms: number): void } {
  let now = 1_700_000_000_000;
  return { activity: new PeerActivity({ now: () => now, ...options }), advance: (ms) => (now += ms) };
}

/** `send`'s answer: the extension reports the content's size once encoded. */
const sent = (messageId: string, size = 1) => ({ success: true, data: { message_id: messageId, state: 'queued', size } });

t.test('a received message is recorded with its cursor, newest first', async (t) => {
  const { activity: log, advance } = activity();
  log.event(event('p2p.message.received', { peer: PEER, message_id: 'm1', type: 'text', size: 5, cursor: 7 }));
  advance(1000);
  log.event(event('p2p.message.received', { peer: PEER, message_id: 'm2', type: 'json', size: 12 }));
  t.same(log.recent(PEER), [
    { direction: 'in', messageId: 'm2', type: 'json', size: 12, state: 'received', at: 1_700_000_001_000 },
    { direction: 'in', messageId: 'm1', type: 'text', size: 5, state: 'received', at: 1_700_000_000_000, cursor: 7 },
  ]);
  t.same(log.recent(OTHER), [], 'another peer has none');
  t.notOk(JSON.stringify(log.recent(PEER)).includes('content'), 'no content is kept');
});

t.test('a send call the extension took is recorded from call(), with the size it reports; content is never kept', async (t) => {
  const { activity: log } = activity();
  log.call('send', { peer: PEER, type: 'text', content: 'héllo' }, sent('out1', 6));
  log.call('send', { peer: PEER, type: 'json', content: { a: 'secret words' } }, sent('out2', 20));
  log.call('send', { peer: PEER, type: 'text', content: 'x' }, { success: true, data: { message_id: 'nosize' } });
  t.same(log.recent(PEER), [
    { direction: 'out', messageId: 'out2', type: 'json', size: 20, state: 'sent', at: 1_700_000_000_000 },
    { direction: 'out', messageId: 'out1', type: 'text', size: 6, state: 'sent', at: 1_700_000_000_000 },
  ], 'an answer without a size is not recorded');
  t.notMatch(JSON.stringify(log.recent(PEER)), /secret|héllo/);
});

t.test('calls that sent nothing are not recorded', async (t) => {
  const { activity: log } = activity();
  log.call('receive', { peer: PEER, type: 'text', content: 'x' }, sent('r1'));
  log.call('send', { peer: PEER, type: 'text', content: 'x' }, { success: false, data: null, message: 'offline' });
  log.call('send', { peer: PEER, type: 'text', content: 'x' }, undefined);
  log.call('send', null, sent('n1'));
  log.call('send', 'text', sent('s1'));
  log.call('send', { type: 'text', content: 'x' }, sent('np'));
  log.call('send', { peer: 42, type: 'text', content: 'x' }, sent('nn'));
  log.call('send', { peer: PEER, type: 'text', content: 'x' }, { data: { message_id: 7 } });
  t.same(log.recent(PEER), []);
});

t.test('delivered, failed and expired update the matching sent message only', async (t) => {
  const { activity: log } = activity();
  log.call('send', { peer: PEER, type: 'text', content: 'a' }, sent('one'));
  log.call('send', { peer: PEER, type: 'text', content: 'b' }, sent('two'));
  log.call('send', { peer: PEER, type: 'text', content: 'c' }, sent('three'));
  log.call('send', { peer: OTHER, type: 'text', content: 'd' }, sent('one'));
  log.event(event('p2p.message.delivered', { peer: PEER, message_id: 'one' }));
  log.event(event('p2p.message.failed', { peer: PEER, message_id: 'two', reason: 'peer_revoked' }));
  log.event(event('p2p.message.expired', { peer: PEER, message_id: 'three' }));
  t.same(
    log.recent(PEER).map(({ messageId, state, reason }) => ({ messageId, state, reason })),
    [
      { messageId: 'three', state: 'expired', reason: undefined },
      { messageId: 'two', state: 'failed', reason: 'peer_revoked' },
      { messageId: 'one', state: 'delivered', reason: undefined },
    ],
  );
  t.equal(log.recent(OTHER)[0]?.state, 'sent', 'the same message id to another peer is another message');
});

t.test('an outcome for a message it never saw, or for a received one, changes nothing', async (t) => {
  const { activity: log } = activity();
  log.event(event('p2p.message.received', { peer: PEER, message_id: 'in1', type: 'text', size: 1 }));
  log.event(event('p2p.message.delivered', { peer: PEER, message_id: 'in1' }));
  log.event(event('p2p.message.failed', { peer: PEER, message_id: 'unknown', reason: 'x' }));
  log.event(event('p2p.message.failed', { peer: OTHER, message_id: 'unknown', reason: 'x' }));
  t.same(log.recent(PEER).map(({ messageId, state }) => ({ messageId, state })), [{ messageId: 'in1', state: 'received' }]);
  t.same(log.recent(OTHER), [], 'an outcome makes no entry');
});

t.test('other event types are ignored, the outcome names being looked up as own keys only', async (t) => {
  const { activity: log } = activity();
  log.call('send', { peer: PEER, type: 'text', content: 'a' }, sent('one'));
  for (const type of ['p2p.peer.connected', 'p2p.message.read', 'constructor', 'toString', '__proto__']) {
    log.event(event(type, { peer: PEER, message_id: 'one' }));
  }
  t.equal(log.recent(PEER)[0]?.state, 'sent');
  t.equal(log.recent(PEER).length, 1);
});

t.test('events without a peer, a message id, a type or a size are ignored', async (t) => {
  const { activity: log } = activity();
  for (const data of [
    null,
    undefined,
    'text',
    42,
    [],
    {},
    { message_id: 'm', type: 'text', size: 1 },
    { peer: PEER, type: 'text', size: 1 },
    { peer: 7, message_id: 'm', type: 'text', size: 1 },
    { peer: PEER, message_id: 7, type: 'text', size: 1 },
    { peer: PEER, message_id: 'm', size: 1 },
    { peer: PEER, message_id: 'm', type: 'text' },
    { peer: PEER, message_id: 'm', type: 'text', size: '1' },
    { peer: PEER, message_id: 'm', type: 3, size: 1 },
  ]) {
    t.doesNotThrow(() => log.event(event('p2p.message.received', data)), JSON.stringify(data) ?? 'undefined');
  }
  t.same(log.recent(PEER), []);
  t.same(log.recent('undefined'), []);
  t.same(log.recent('7'), []);
});

t.test('a cursor that is not a number is left out', async (t) => {
  const { activity: log } = activity();
  log.event(event('p2p.message.received', { peer: PEER, message_id: 'm', type: 'text', size: 1, cursor: '3' }));
  t.notOk('cursor' in (log.recent(PEER)[0] ?? {}));
});

t.test('each peer keeps its latest perPeer messages', async (t) => {
  const { activity: log } = activity({ perPeer: 3 });
  for (let i = 1; i <= 5; i++) log.event(event('p2p.message.received', { peer: PEER, message_id: `m${i}`, type: 'text', size: i }));
  t.same(
    log.recent(PEER).map((entry) => entry.messageId),
    ['m5', 'm4', 'm3'],
  );
  log.event(event('p2p.message.received', { peer: OTHER, message_id: 'o1', type: 'text', size: 1 }));
  t.equal(log.recent(PEER).length, 3, 'another peer\'s messages do not push these out');
});

t.test('beyond the peer bound the least recently active peer is forgotten', async (t) => {
  const { activity: log } = activity({ peers: 2 });
  const peer = (n: number): string => `${String.fromCharCode(96 + n).repeat(51)}a`;
  log.event(event('p2p.message.received', { peer: peer(1), message_id: 'x', type: 'text', size: 1 }));
  log.event(event('p2p.message.received', { peer: peer(2), message_id: 'x', type: 'text', size: 1 }));
  // Peer 1 is active again: peer 2 is now the quietest.
  log.call('send', { peer: peer(1), type: 'text', content: 'x' }, sent('y'));
  log.event(event('p2p.message.received', { peer: peer(3), message_id: 'x', type: 'text', size: 1 }));
  t.equal(log.recent(peer(1)).length, 2, 'the active peer is kept');
  t.same(log.recent(peer(2)), [], 'the quietest is dropped');
  t.equal(log.recent(peer(3)).length, 1);
});

t.test('recent() hands out a copy: changing it changes nothing kept', async (t) => {
  const { activity: log } = activity();
  log.event(event('p2p.message.received', { peer: PEER, message_id: 'm', type: 'text', size: 1 }));
  (log.recent(PEER) as unknown[]).length = 0;
  t.equal(log.recent(PEER).length, 1);
});
