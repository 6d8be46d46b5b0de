import fc from 'fast-check';
import t from 'tap';
import { canonicalJson, JcsError } from '../../extension/wire/jcs';

/** An IEEE 754 double from its 16 hex digits, as RFC 8785 Appendix B lists them. */
function double(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

t.test('numbers: every sample of RFC 8785 Appendix B', async (t) => {
  const samples: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [hex, expected] of samples) t.equal(canonicalJson(double(hex)), expected, hex);
  // Appendix B's two samples without a JSON form: NaN and Infinity.
  for (const hex of ['7fffffffffffffff', '7ff0000000000000']) t.throws(() => canonicalJson(double(hex)), JcsError, hex);
  t.throws(() => canonicalJson(Number.NEGATIVE_INFINITY), JcsError);
});

t.test('the whole example of RFC 8785 §3.2.2: literals, numbers and string escapes', async (t) => {
  // The input as the RFC writes it, parsed here so that its number spellings (1E30, 4.50, ...) are JSON's.
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      ' "literals": [null, true, false]}',
  );
  t.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

t.test('member order by UTF-16 code units: the sorting example of RFC 8785 §3.2.3', async (t) => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  // Object.keys would list "1" first (an array index), so the order is read off the text.
  const text = canonicalJson(input);
  const positions = ['"\\r"', '"1"', '"\u0080"', '"\u00f6"', '"\u20ac"', '"\ud83d\ude00"', '"\ufb33"'].map((name) => text.indexOf(name));
  t.ok(positions.every((at, index) => at > (positions[index - 1] ?? 0)), 'CR, 1, U+0080, ö, €, the emoji (a surrogate pair, D83D), U+FB33');
  t.equal(
    text,
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

t.test('string escapes: only ", \\ and C0 controls, lower-case hex; U+2028, U+2029 and DEL as themselves', async (t) => {
  t.equal(canonicalJson('\b\t\n\f\r'), '"\\b\\t\\n\\f\\r"');
  t.equal(canonicalJson('\u0000\u0001\u001f'), '"\\u0000\\u0001\\u001f"');
  t.equal(canonicalJson('\u007f\u0080\u2028\u2029/'), '"\u007f\u0080\u2028\u2029/"');
  t.equal(canonicalJson('"\\'), '"\\"\\\\"');
});

t.test('no whitespace, nested values in place, arrays in their order', async (t) => {
  t.equal(canonicalJson({ b: [3, { d: 1, c: [] }], a: {} }), '{"a":{},"b":[3,{"c":[],"d":1}]}');
});

t.test('refuses what JSON cannot carry: lone surrogates (in values and names), undefined, functions, bigints, class instances', async (t) => {
  t.throws(() => canonicalJson('\ud800'), JcsError);
  t.throws(() => canonicalJson({ '\udc00': 1 }), JcsError);
  t.throws(() => canonicalJson(undefined), JcsError);
  t.throws(() => canonicalJson({ a: () => 1 }), JcsError);
  t.throws(() => canonicalJson(1n), JcsError);
  t.throws(() => canonicalJson(new Date(0)), JcsError);
});

t.test('a canonical text is a fixed point: parsing and canonicalizing it again gives the same text', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const once = canonicalJson(value);
      return canonicalJson(JSON.parse(once)) === once;
    }),
    { numRuns: 500, seed: 8785 },
  );
  t.pass();
});
