import t from 'tap';
import { firstJsonProblem } from '../../extension/common/json-value';

function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? [value] : { a: value };
  return value;
}

t.test('well-formed values of any shape pass', async (t) => {
  for (const value of [null, 0, true, '', 'Grüße 👋', [], {}, [1, 'a', { b: [null] }], { '👋': '\ud83d\udc4b' }]) {
    t.equal(firstJsonProblem(value), null, JSON.stringify(value));
  }
});

t.test('an unpaired surrogate is found in a string or a key, first in document order', async (t) => {
  t.same(firstJsonProblem('\ud800'), { path: '', rule: 'well_formed_unicode' });
  t.same(firstJsonProblem(['ok', ['x\udfff'], '\ud800']), { path: '/1/0', rule: 'well_formed_unicode' });
  t.same(firstJsonProblem({ a: 'ok', ['b\ud800']: 1, c: '\ud800' }), { path: '/b\ufffd', rule: 'well_formed_unicode' }, 'the path itself stays well formed');
  t.same(firstJsonProblem({ 'a/b~c': ['\udc00'] }), { path: '/a~1b~0c/0', rule: 'well_formed_unicode' }, 'JSON pointer escapes');
});

t.test('a number JSON.parse read as Infinity is found, with its place', async (t) => {
  t.same(firstJsonProblem(JSON.parse('{"a":[1,1e400]}')), { path: '/a/1', rule: 'finite_number' });
  t.same(firstJsonProblem(JSON.parse('-1e999')), { path: '', rule: 'finite_number' });
  t.equal(firstJsonProblem(JSON.parse('[1.7976931348623157e308, -0, 5e-324]')), null, 'the largest, negative zero and the smallest are fine');
});

t.test('nesting is bounded by maxDepth arrays and objects', async (t) => {
  t.equal(firstJsonProblem(nested(3), 3), null);
  t.same(firstJsonProblem(nested(4), 3), { path: '/a/0/a', rule: 'max_depth' });
  t.equal(firstJsonProblem(nested(4)), null, 'unbounded without maxDepth');
});

t.test('a value nested a million levels deep is walked without overflowing the stack', async (t) => {
  const deep = JSON.parse(`${'['.repeat(1_000_000)}"\\ud800"${']'.repeat(1_000_000)}`) as unknown;
  t.equal(firstJsonProblem(deep)?.rule, 'well_formed_unicode');
  t.equal(firstJsonProblem(deep, 100)?.rule, 'max_depth');
});
