import t from 'tap';
import { InFlight } from '../../extension/messaging/in-flight';

t.test('counts per peer, clears per peer, times out the old', async (t) => {
  const window = new InFlight();
  t.equal(window.addBatch('p1', ['a'], 10), 0);
  t.equal(window.addBatch('p1', ['b'], 20), 1);
  t.equal(window.addBatch('p1', ['b'], 30), 2, 'a message offered again in a later batch');
  t.equal(window.addBatch('p2', ['c'], 30), 0, 'positions count per peer');
  t.equal(window.size, 3);
  t.equal(window.countFor('p1'), 2, 'a repeated message counts once');
  window.delete('a');
  window.delete('a');
  t.equal(window.countFor('p1'), 1);
  t.same([...window.takeOlderThan(25)], ['p1'], 'b (sent at 20) timed out');
  t.equal(window.countFor('p1'), 0);
  t.ok(window.has('c'));
  window.clearPeer('p2');
  t.equal(window.size, 0);
  t.equal(window.countFor('p2'), 0);
  t.equal(window.addBatch('p2', ['d'], 40), 0, 'a new session numbers from 0 again');
});

t.test('a receipt must continue the last one and cover only batches sent', async (t) => {
  const window = new InFlight();
  window.addBatch('p', ['a', 'b'], 1);
  window.addBatch('p', ['c'], 1);
  window.addBatch('p', ['d'], 1);
  t.equal(window.covered('p', 1, 1), null, 'a gap before it');
  t.equal(window.covered('p', 0, 3), null, 'a batch not sent');
  t.equal(window.covered('q', 0, 0), null, 'another peer');
  t.same([...(window.covered('p', 0, 1) ?? [])], ['a', 'b', 'c']);
  t.equal(window.awaitingReceipt('p'), 4, 'ids in batches not receipted');
  window.settle('p', 1);
  t.equal(window.covered('p', 0, 1), null, 'covered once only');
  t.same([...(window.covered('p', 2, 2) ?? [])], ['d']);
  t.equal(window.awaitingReceipt('p'), 1, 'batch 2 only');
  window.addBatch('p', ['d'], 2);
  t.same([...(window.covered('p', 2, 3) ?? [])], ['d'], 'a message in two covered batches is named once');
});
