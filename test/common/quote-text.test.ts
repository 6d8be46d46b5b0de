import t from 'tap';
import { escapeUnsafeInJson, MAX_QUOTED_LENGTH, quoteUntrusted } from '../../extension/common/quote-text';

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

t.test('an outside value is quoted as JSON with nothing left that acts on a terminal or a log', async (t) => {
  t.equal(quoteUntrusted('plain'), '"plain"');
  t.equal(quoteUntrusted('say "hi" \\'), '"say \\"hi\\" \\\\"');
  const hostile = 'a\u0000\u001b[2J\u007f\u0085\u009b\n\r\t\u2028\u2029\u202e\u2066\u200b\u200e\u061c\ufeff\u00ad\u{e0041}\ud800z';
  const quoted = quoteUntrusted(hostile);
  t.equal(
    quoted,
    '"a\\u0000\\u001b[2J\\u007f\\u0085\\u009b\\n\\r\\t\\u2028\\u2029\\u202e\\u2066\\u200b\\u200e\\u061c\\ufeff\\u00ad\\udb40\\udc41\\ud800z"',
  );
  t.notMatch(quoted, UNSAFE);
  t.equal(JSON.parse(quoted), hostile, 'still the same value, read as JSON');
  t.equal(quoteUntrusted('Zoë 🦊 東京'), '"Zoë 🦊 東京"', 'other characters as they are');
});

t.test('a long value is cut after its first characters, never inside one', async (t) => {
  t.equal(quoteUntrusted('x'.repeat(MAX_QUOTED_LENGTH)), `"${'x'.repeat(MAX_QUOTED_LENGTH)}"`);
  t.equal(quoteUntrusted('x'.repeat(MAX_QUOTED_LENGTH + 1)), `"${'x'.repeat(MAX_QUOTED_LENGTH)}"…`);
  t.equal(quoteUntrusted('🦊'.repeat(1000)), `"${'🦊'.repeat(MAX_QUOTED_LENGTH)}"…`);
  t.equal(quoteUntrusted('\u2028'.repeat(1000)), `"${'\\u2028'.repeat(MAX_QUOTED_LENGTH)}"…`);
});

t.test('JSON text keeps its own line breaks and parses back to the same value', async (t) => {
  const value = { name: 'Bob\u202e\u009b', list: ['\u2028'] };
  const json = escapeUnsafeInJson(JSON.stringify(value, null, 2));
  t.match(json, /^\{\n  "name": "Bob\\u202e\\u009b",\n/);
  t.same(JSON.parse(json), value);
});
