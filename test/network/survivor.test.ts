import t from 'tap';
import { keepExisting } from '../../extension/network/survivor';

const low = 'a'.repeat(51) + 'q';
const high = 'z'.repeat(51) + 'q';

t.test('both sides of a simultaneous dial keep the connection the lower id opened', async (t) => {
  // On the low node: existing = the one it opened, incoming = the high node's.
  t.equal(keepExisting({ openedBy: low }, { openedBy: high }), true, 'low node keeps its own');
  // On the high node the same two connections arrive in the other order.
  t.equal(keepExisting({ openedBy: high }, { openedBy: low }), false, 'high node switches to the low node’s');
});

t.test('a newer connection from the same opener replaces the older one', async (t) => {
  t.equal(keepExisting({ openedBy: low }, { openedBy: low }), false);
  t.equal(keepExisting({ openedBy: high }, { openedBy: high }), false);
});
