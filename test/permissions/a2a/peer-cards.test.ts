import t from 'tap';
import { PeerCards } from '../../../permissions/a2a/peer-cards';

const PEER = 'a'.repeat(51) + 'q';
const CARD = { name: 'Meeting planner' };

/** A `peers` listing the test answers when it likes. */
function listings() {
  const pending: ((outcome: { result?: unknown; error?: { message: string } }) => void)[] = [];
  return {
    pending,
    list: () => new Promise<{ result?: unknown; error?: { message: string } }>((resolve) => pending.push(resolve)),
    answer(peers: unknown[]) {
      pending.shift()?.({ result: { data: { peers } } });
    },
  };
}

t.test('reads that find nothing kept share one listing', async (t) => {
  const made = listings();
  const cards = new PeerCards(made.list);
  const reads = [cards.lookup(PEER), cards.lookup(PEER), cards.lookup('b'.repeat(51) + 'q')];
  t.equal(made.pending.length, 1);
  made.answer([{ peer: PEER, state: 'trusted', agent_card: CARD }, { peer: 'b'.repeat(51) + 'q', state: 'pending', agent_card: CARD }]);
  t.same(await Promise.all(reads), [{ kind: 'card', card: CARD }, { kind: 'card', card: CARD }, { kind: 'not_paired' }], 'a peer not trusted is not paired');
});

t.test('a listing begun before an event is not kept: the next read lists again', async (t) => {
  const made = listings();
  const cards = new PeerCards(made.list);
  const early = cards.lookup(PEER);
  cards.event({ type: 'p2p.peer.card', data: { peer: PEER } });
  made.answer([{ peer: PEER, state: 'trusted', agent_card: null }]);
  t.same(await early, { kind: 'no_card' });
  const later = cards.lookup(PEER);
  t.equal(made.pending.length, 1, 'listed again');
  made.answer([{ peer: PEER, state: 'trusted', agent_card: CARD }]);
  t.same(await later, { kind: 'card', card: CARD });
});

t.test('an extension that does not answer: unavailable, and nothing kept', async (t) => {
  let calls = 0;
  const cards = new PeerCards(async () => {
    calls += 1;
    if (calls === 1) throw new Error('the extension is not running');
    return { error: { message: 'the extension is restarting' } };
  });
  t.same(await cards.lookup(PEER), { kind: 'unavailable', message: 'the extension is not running' });
  t.same(await cards.lookup(PEER), { kind: 'unavailable', message: 'the extension is restarting' });
  t.equal(calls, 2);
});

t.test('without events nothing is kept; a restart forgets what was', async (t) => {
  let calls = 0;
  const list = async () => {
    calls += 1;
    return { result: { data: { peers: [{ peer: PEER, state: 'trusted', agent_card: CARD }] } } };
  };
  const unfollowed = new PeerCards(list, false);
  await unfollowed.lookup(PEER);
  await unfollowed.lookup(PEER);
  t.equal(calls, 2, 'every read lists');
  const followed = new PeerCards(list);
  await followed.lookup(PEER);
  await followed.lookup(PEER);
  t.equal(calls, 3, 'kept');
  followed.forget();
  await followed.lookup(PEER);
  t.equal(calls, 4, 'listed again after forget');
});
