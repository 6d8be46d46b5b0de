import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { MAX_DISPLAY_NAME_LENGTH, validateDisplayName } from '../../extension/common/display-name';
import { DEFAULT_NAME_WORDS, defaultDisplayName } from '../../extension/identity/default-name';
import { Profile, PROFILE_FILE_NAME } from '../../extension/identity/profile';
import { tempDir } from '../helpers/extension';

const stored = (dir: string): unknown => JSON.parse(readFileSync(join(dir, PROFILE_FILE_NAME), 'utf8'));
/** Draws the word at `index`, whatever the count. */
const wordAt = (index: number) => () => index;

t.test('the default name is the short host name and a word drawn from the list', async (t) => {
  const otter = DEFAULT_NAME_WORDS.indexOf('otter');
  t.equal(defaultDisplayName('workstation', wordAt(otter)), 'workstation otter');
  t.equal(defaultDisplayName('alice-laptop.local', wordAt(otter)), 'alice-laptop otter', '.local dropped');
  t.equal(defaultDisplayName('build-7.corp.example.org', wordAt(otter)), 'build-7 otter', 'domain dropped');
  t.equal(defaultDisplayName('', wordAt(otter)), 'otter');
  t.equal(defaultDisplayName('.local', wordAt(otter)), 'local otter');
  t.equal(defaultDisplayName('\u200b\u202e', wordAt(otter)), 'otter', 'nothing left of the host name');
  const awkward = defaultDisplayName(`evil\u202e\u0007\u0085host${'x'.repeat(100)}.lan`, wordAt(otter));
  t.equal(awkward, `evilhost${'x'.repeat(MAX_DISPLAY_NAME_LENGTH - 'evilhost otter'.length)} otter`, 'cleaned, cut to fit, the word kept');
  t.equal(validateDisplayName(awkward), awkward);
  t.throws(() => defaultDisplayName('host', () => DEFAULT_NAME_WORDS.length), /outside the 48 default name words/);
});

t.test('the words are plain, distinct, and nothing like a fingerprint', async (t) => {
  t.ok(DEFAULT_NAME_WORDS.length >= 32);
  t.equal(new Set(DEFAULT_NAME_WORDS).size, DEFAULT_NAME_WORDS.length);
  for (const word of DEFAULT_NAME_WORDS) {
    t.match(word, /^[a-z]{3,8}$/);
    t.notMatch(word, /^[0-9a-f]+$/, `${word} is not hex`);
  }
  const drawn = new Set(Array.from({ length: 200 }, () => defaultDisplayName('host').split(' ')[1]));
  t.ok(drawn.size > 1, 'the word is drawn at random');
  for (const word of drawn) t.ok(DEFAULT_NAME_WORDS.includes(word as string));
});

t.test('the first start writes the default name; later starts keep it', async (t) => {
  const dir = tempDir(t);
  const first = Profile.open(dir, { hostName: 'workstation.local', pick: wordAt(DEFAULT_NAME_WORDS.indexOf('maple')) });
  t.equal(first.displayName, 'workstation maple');
  t.equal(first.namedAtThisStart, true);
  t.same(stored(dir), { version: 1, display_name: 'workstation maple' });
  t.equal(statSync(join(dir, PROFILE_FILE_NAME)).mode & 0o777, 0o600);
  const again = Profile.open(dir, { hostName: 'renamed', pick: wordAt(0) });
  t.equal(again.displayName, 'workstation maple', 'neither a new host name nor a new draw changes it');
  t.equal(again.namedAtThisStart, false);
  t.same(again.upgradeNotes, []);
});

t.test('a new name is kept in profile.json, owner-only', async (t) => {
  const dir = tempDir(t);
  const profile = Profile.open(dir, { hostName: 'host' });
  t.equal(profile.setDisplayName('Alice’s laptop'), 'Alice’s laptop');
  t.equal(profile.displayName, 'Alice’s laptop');
  t.same(stored(dir), { version: 1, display_name: 'Alice’s laptop' });
  t.equal(statSync(join(dir, PROFILE_FILE_NAME)).mode & 0o777, 0o600);
  t.equal(Profile.open(dir, { hostName: 'host' }).displayName, 'Alice’s laptop');
});

t.test('a profile.json with a name set earlier loads as it is', async (t) => {
  const dir = tempDir(t);
  const content = '{"version":1,"display_name":"Bob’s desk"}\n';
  writeFileSync(join(dir, PROFILE_FILE_NAME), content);
  const profile = Profile.open(dir, { hostName: 'host' });
  t.equal(profile.displayName, 'Bob’s desk');
  t.equal(profile.namedAtThisStart, false);
  t.equal(readFileSync(join(dir, PROFILE_FILE_NAME), 'utf8'), content, 'left untouched');
});

t.test('a name the legacy rule allowed loads without the characters now refused, and is written back', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, PROFILE_FILE_NAME), '{"version":1,"display_name":"Bob\\u200b\\u0085 desk"}');
  const profile = Profile.open(dir, { hostName: 'host' });
  t.equal(profile.displayName, 'Bob desk');
  t.same(stored(dir), { version: 1, display_name: 'Bob desk' });
  t.equal(profile.upgradeNotes.length, 1);
  t.match(profile.upgradeNotes[0], /zero-width, C1 control or other invisible characters .* now called "Bob desk" \(the file was rewritten; set_display_name sets another\)/);

  writeFileSync(join(dir, PROFILE_FILE_NAME), '{"version":1,"display_name":"\\u200b"}');
  const nothingLeft = Profile.open(dir, { hostName: 'host', pick: wordAt(DEFAULT_NAME_WORDS.indexOf('wren')) });
  t.equal(nothingLeft.displayName, 'host wren', 'a default name when nothing readable is left');
  t.same(stored(dir), { version: 1, display_name: 'host wren' });
});

t.test('a refused name changes nothing', async (t) => {
  const dir = tempDir(t);
  const profile = Profile.open(dir, { hostName: 'host' });
  profile.setDisplayName('Bob');
  t.throws(() => profile.setDisplayName('Bob\u202e'), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.throws(() => profile.setDisplayName('Bob\u200b'), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.equal(profile.displayName, 'Bob');
  t.same(stored(dir), { version: 1, display_name: 'Bob' });
});

t.test('a corrupt profile.json is refused, named, and left as it is', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PROFILE_FILE_NAME);
  const cases: [string, RegExp][] = [
    ['{"version":1', /it is not valid JSON/],
    ['"Alice"', /it is not a JSON object/],
    ['{"version":2,"display_name":"Alice"}', /its version is 2, expected 1/],
    ['{"version":1}', /its display_name is missing or not a string/],
    ['{"version":1,"display_name":"\\u202eAlice"}', /its display_name is refused: .*U\+202E/],
    ['{"version":1,"display_name":"tab\\there"}', /its display_name is refused: .*U\+0009/],
    ['{"version":1,"display_name":" "}', /its display_name is refused: .*whitespace/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(path, content);
    t.throws(() => Profile.open(dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: reason }, content);
    t.throws(() => Profile.open(dir), {
      message: new RegExp(`^the profile ${path} is corrupt: .*\\. Fix it, or move it away to go back to a default display name$`),
    });
    t.equal(readFileSync(path, 'utf8'), content);
  }
});
