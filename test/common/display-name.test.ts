import Ajv from 'ajv';
import t from 'tap';
import {
  DISPLAY_NAME_PATTERN,
  DISPLAY_NAME_SCHEMA_PATTERN,
  isLegacyDisplayName,
  isValidDisplayName,
  stripForbiddenCharacters,
  validateDisplayName,
} from '../../extension/common/display-name';
import { manifest } from '../../extension/common/manifest';

/** Test names in TAP must stay one printable line. */
const show = (name: string): string =>
  JSON.stringify(name).replace(/[^\x20-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);

const ACCEPTED = ['Alice', 'a', 'x'.repeat(64), '🦊'.repeat(64), 'Zoë & Émile', ' padded ', 'שלום', 'Bob 9b:ce', '東京のノード'];
const REFUSED = [
  '',
  'x'.repeat(65),
  '🦊'.repeat(65),
  'line\nbreak',
  'tab\there',
  'nul\u0000',
  'del\u007f',
  'esc\u001b[31m',
  'csi\u009b2J',
  'nel\u0085',
  'abc\u202eevil',
  'abc\u202a',
  'iso\u2066late',
  'pop\u2069',
  'line\u2028sep',
  'para\u2029sep',
  'zero\u200bwidth',
  'zwnj\u200c',
  'zwj\u200d',
  'lrm\u200e',
  'rlm\u200f',
  'alm\u061c',
  'word\u2060joiner',
  'bom\ufeff',
  'soft\u00adhyphen',
  'tag\u{e0041}',
  'filler\u3164',
  'halfwidth\uffa0filler',
  'choseong\u115ffiller',
  'jungseong\u1160filler',
  'braille\u2800blank',
  // Default-ignorable code points that are not format characters: fonts render them as nothing.
  'cgj\u034f',
  'vs1\ufe00',
  'vs16\ufe0f',
  'khmer\u17b4',
  'khmer\u17b5',
  'fvs1\u180b',
  'fvs3\u180d',
  'fvs4\u180f',
  'vs17\u{e0100}',
  'vs256\u{e01ef}',
  '\u{e0100}',
  // The stranger's name from the report: zero-width space, NEL, a fake fingerprint, 8-bit CSI, line separator.
  'Bob\u200b\u0085 9b:ce:9f:34 \u009b2J\u2028x',
];

t.test('display names: 1-64 characters, none of the forbidden characters, not only whitespace', async (t) => {
  for (const name of ACCEPTED) {
    t.equal(validateDisplayName(name), name, show(name));
    t.ok(isValidDisplayName(name), show(name));
  }
  for (const name of [...REFUSED, ' ', '   ', '\u00a0\u3000', 'lone\ud800surrogate']) {
    t.throws(() => validateDisplayName(name), { name: 'P2pError', errorName: 'INVALID_INPUT' }, show(name));
    t.notOk(isValidDisplayName(name), show(name));
  }
  t.throws(() => validateDisplayName('x'.repeat(65)), { message: 'a display name must be 1-64 characters long, this one has 65' });
  t.throws(() => validateDisplayName('abc\u202eevil'), { message: /this one contains U\+202E$/ });
  t.throws(() => validateDisplayName('Bob\u200b'), { message: /zero-width .* this one contains U\+200B$/ });
  t.throws(() => validateDisplayName('Bob\u{e0100}'), { message: /invisible characters, this one contains U\+E0100$/ });
  t.throws(() => validateDisplayName('  '), { message: 'a display name must contain more than whitespace' });
});

t.test('the set_display_name schema accepts exactly what the rule accepts', async (t) => {
  const operation = manifest.operations.find((candidate) => candidate.name === 'set_display_name');
  const schema = operation?.input_schema as { properties: { display_name: { pattern: string } } };
  t.equal(schema.properties.display_name.pattern, DISPLAY_NAME_SCHEMA_PATTERN);
  const validate = new Ajv({ strict: true }).compile(operation?.input_schema ?? {});
  for (const name of [...ACCEPTED, ...REFUSED]) {
    t.equal(DISPLAY_NAME_PATTERN.test(name), validate({ display_name: name }), show(name));
  }
});

t.test('stripping leaves only allowed characters', async (t) => {
  t.equal(stripForbiddenCharacters('Bob\u200b\u0085 9b \u009b2J\u2028x'), 'Bob 9b 2Jx');
  t.equal(stripForbiddenCharacters(`  ${'y'.repeat(80)}`), 'y'.repeat(62));
  t.equal(stripForbiddenCharacters('\u200b\u200b'), '');
  t.equal(stripForbiddenCharacters('I \u2764\ufe0f NY\u034f\u{e0100}'), 'I \u2764 NY');
});

t.test('a legacy name is one the narrower legacy rule allowed and this rule refuses', async (t) => {
  for (const name of ['zero\u200bwidth', 'csi\u009b2J', 'nel\u0085', 'line\u2028sep', 'lrm\u200e', 'filler\u3164', 'bom\ufeff', '\u200b', 'I \u2764\ufe0f NY', 'cgj\u034f']) {
    t.ok(isLegacyDisplayName(name), show(name));
  }
  for (const name of ['Alice', ' ', 'line\nbreak', 'del\u007f', 'abc\u202eevil', 'iso\u2066late', '', 'x'.repeat(65), 'zero\u200bwidth'.repeat(10)]) {
    t.notOk(isLegacyDisplayName(name), show(name));
  }
});
