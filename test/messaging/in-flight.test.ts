import t from 'tap';
import { InFlight } from '../../extension/messaging/in-flight';

t.test('counts per peer, clears per peer, times out the old', async (t) => {
  const window = new InFlight();
  window.add('a', 'p1', 10);
  window.add('b', 'p1', 20);
  window.add('b', 'p1', 30);
  window.add('c', 'p2', 30);
  t.equal(window.size, 3);
  t.equal(window.countFor('p1'), 2, 'a repeated add counts once');
  window.delete('a');
  window.delete('a');
  t.equal(window.countFor('p1'), 1);
  t.same([...window.takeOlderThan(25)], ['p1'], 'b (sent at 20) timed out');
  t.equal(window.countFor('p1'), 0);
  t.ok(window.has('c'));
  window.clearPeer('p2');
  t.equal(window.size, 0);
  t.equal(window.countFor('p2'), 0);
});
