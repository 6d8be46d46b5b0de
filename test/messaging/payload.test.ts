import t from 'tap';
import { decodeContent, encodeContent } from '../../extension/messaging/payload';

t.test('text and json come back exactly as sent', async (t) => {
  for (const text of ['', 'plain', 'Grüße 👋\n\t"\\', '\u2028\u2029', 'x'.repeat(1000)]) {
    t.same(decodeContent('text', encodeContent('text', text, 1 << 20)), { value: text });
  }
  for (const value of [null, 0, -1.5, 'str', [1, 'a', null], { a: { b: [true, false] } }]) {
    t.same(decodeContent('json', encodeContent('json', value, 1 << 20)), { value });
  }
});

t.test('refusals say what is wrong', async (t) => {
  t.throws(() => encodeContent('text', 42, 100), /content of a text message must be a string/);
  t.throws(() => encodeContent('text', 'a\ud800b', 100), /unpaired UTF-16 surrogate/);
  t.throws(() => encodeContent('text', 'ééé', 5), /content is 6 bytes once encoded; the limit is 5 bytes/);
  t.throws(() => encodeContent('json', { k: 'v'.repeat(10) }, 10), /the limit is 10 bytes/);
});

t.test('bytes that are not a valid payload decode to null', async (t) => {
  t.equal(decodeContent('text', Uint8Array.of(0xc3)), null, 'truncated UTF-8');
  t.equal(decodeContent('json', Buffer.from('{"a":')), null, 'truncated JSON');
  t.equal(decodeContent('json', Buffer.from('')), null, 'empty is not JSON');
});
