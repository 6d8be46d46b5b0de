import t from 'tap';
import { FifoMap } from '../../extension/store/fifo-map';

t.test('keeps insertion order like a Map, and hands out the oldest entry', async (t) => {
  const map = new FifoMap<string, number>();
  t.equal(map.oldest(), undefined);
  map.set('a', 1).set('b', 2).set('c', 3);
  map.set('a', 10);
  t.same([...map], [['a', 10], ['b', 2], ['c', 3]], 'a value set again keeps its place');
  t.match(map.oldest(), { key: 'a', value: 10 });
  t.ok(map.delete('a'));
  t.notOk(map.delete('a'), 'gone already');
  t.match(map.oldest(), { key: 'b', value: 2 });
  map.set('a', 4);
  t.same([...map.values()], [2, 3, 4], 'a key set again after its delete goes last');
  t.ok(map.delete('c'));
  t.same([...map], [['b', 2], ['a', 4]], 'a delete from the middle');
  t.equal(map.size, 2);
  t.equal(map.get('c'), undefined);
  t.equal(map.has('b'), true);
});

t.test('an iteration may delete what it visits and what it has yet to visit', async (t) => {
  const map = new FifoMap<number, number>();
  for (let key = 0; key < 10; key += 1) map.set(key, key);
  const visited: number[] = [];
  for (const [key] of map) {
    visited.push(key);
    map.delete(key);
    map.delete(key + 1);
  }
  t.same(visited, [0, 2, 4, 6, 8]);
  t.equal(map.size, 0);
});

t.test('agrees with a Map through many sets and deletes, at the front and anywhere', async (t) => {
  const map = new FifoMap<number, number>();
  const reference = new Map<number, number>();
  let seed = 1;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let disagreements = 0;
  for (let step = 0; step < 50_000; step += 1) {
    const choice = random(10);
    if (choice < 5) {
      const key = random(3000);
      map.set(key, step);
      reference.set(key, step);
    } else if (choice < 8) {
      const oldest = reference.keys().next();
      if (!oldest.done) {
        if (map.oldest()?.key !== oldest.value) disagreements += 1;
        map.delete(oldest.value);
        reference.delete(oldest.value);
      }
    } else {
      const key = random(3000);
      if (map.delete(key) !== reference.delete(key)) disagreements += 1;
    }
  }
  t.equal(disagreements, 0, 'the same oldest entry and the same deletes all along');
  t.same([...map], [...reference], 'the same entries in the same order');
  t.equal(map.size, reference.size);
});
