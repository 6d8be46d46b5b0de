import t from 'tap';
import { RecentRecords } from '../../extension/store/recent-records';

const bytes = (length: number) => new Uint8Array(length);

t.test('keeps the newest bodies within its budget, dropping the oldest first', async (t) => {
  const recent = new RecentRecords<string>(10);
  recent.add('a', bytes(4));
  recent.add('b', bytes(4));
  t.equal(recent.heldBytes, 8);
  recent.add('c', bytes(4));
  t.equal(recent.get('a'), undefined, 'the oldest made room');
  t.same([recent.get('b')?.length, recent.get('c')?.length], [4, 4]);
  t.equal(recent.heldBytes, 8);
  recent.add('big', bytes(11));
  t.equal(recent.get('big'), undefined, 'larger than the whole budget: not kept');
  t.equal(recent.heldBytes, 8, 'and nothing dropped for it');
  recent.add('ten', bytes(10));
  t.same([recent.get('b'), recent.get('c'), recent.heldBytes], [undefined, undefined, 10]);
  recent.delete('ten');
  recent.delete('never added');
  t.equal(recent.heldBytes, 0);
});

t.test('adding a key again replaces its body; a budget of 0 keeps nothing', async (t) => {
  const recent = new RecentRecords<number>(10);
  recent.add(1, bytes(3));
  recent.add(1, bytes(5));
  t.equal(recent.heldBytes, 5);
  const none = new RecentRecords<number>(0);
  none.add(1, bytes(1));
  t.equal(none.heldBytes, 0);
});
