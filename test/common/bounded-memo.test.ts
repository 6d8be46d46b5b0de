import t from 'tap';
import { BoundedMemo } from '../../extension/common/bounded-memo';

t.test('a value is computed once per key, and all are forgotten at once past the limit', async (t) => {
  const computed: string[] = [];
  const memo = new BoundedMemo<string, string>(2);
  const get = (key: string): string =>
    memo.get(key, (k) => {
      computed.push(k);
      return k.toUpperCase();
    });
  t.equal(get('a'), 'A');
  t.equal(get('a'), 'A');
  t.equal(get('b'), 'B');
  t.same(computed, ['a', 'b'], 'each key computed once');
  t.equal(get('c'), 'C');
  t.same(computed, ['a', 'b', 'c']);
  get('a');
  get('c');
  t.same(computed, ['a', 'b', 'c', 'a'], 'the third key emptied the memo: a is computed again, c, kept since, is not');
});
