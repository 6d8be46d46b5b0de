import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAX_DISPLAY_NAME_LENGTH, validateDisplayName } from '../../extension/common/display-name';
import { DEFAULT_NAME_WORDS, defaultDisplayName, machineNames, type PickIndex } from '../../extension/identity/default-name';
import { Profile, PROFILE_FILE_NAME } from '../../extension/identity/profile';
import { tempDir } from '../helpers/extension';

const stored = (dir: string): unknown => JSON.parse(readFileSync(join(dir, PROFILE_FILE_NAME), 'utf8'));

/** Draws these words, in this order. */
function drawing(...words: string[]): PickIndex {
  const remaining = [...DEFAULT_NAME_WORDS];
  return () => {
    const index = remaining.indexOf(words.shift() ?? '');
    remaining.splice(index, 1);
    return index;
  };
}

const nameOf = (hostName: string, userName: string | null): string => defaultDisplayName({ hostName, userName }, drawing('otter', 'maple'));

t.test('the default name is what is left of the short host name, and two words drawn from the list', async (t) => {
  const cases: [string, string | null, string][] = [
    ['workstation', 'alice', 'workstation otter maple'],
    ['workstation.local', null, 'workstation otter maple'],
    ['build-server.corp.example.org', 'bob', 'build-server otter maple'],
    // The OS user name, wherever it is, with a possessive.
    ['alice-ThinkPad', 'alice', 'ThinkPad otter maple'],
    ['Alices-MacBook-Pro.local', 'alice', 'MacBook-Pro otter maple'],
    ["Alice's-iMac", 'alice', 'iMac otter maple'],
    ['Alice\u2019s iMac', 'alice', 'iMac otter maple'],
    ['ALICE-pc-alice', 'alice', 'pc otter maple'],
    ['alicelaptop', 'alice', 'laptop otter maple'],
    ['alice.local', 'alice', 'otter maple'],
    ['alice', 'alice', 'otter maple'],
    ['john.doe-laptop.corp', 'john.doe', 'laptop otter maple'],
    ['c++dev-box', 'c++dev', 'box otter maple'],
    ['al\u200bice-pc', 'alice', 'pc otter maple'],
    // Hex-like and numeric parts: container ids, cloud instances, serial numbers.
    ['3f4a5b6c7d8e', 'root', 'otter maple'],
    ['ip-172-31-5-9.ec2.internal', 'ubuntu', 'ip otter maple'],
    ['node-A1B2C3_4', null, 'node otter maple'],
    // A one- or two-letter user name is removed as a whole part only.
    ['MacBook-a', 'a', 'MacBook otter maple'],
    ['jd-MacBook', 'jd', 'MacBook otter maple'],
    ['build-7', null, 'build otter maple'],
    ['cafe_box 42', null, 'cafe-box otter maple'],
    ['deadbeef-x1', null, 'deadbeef-x1 otter maple'],
    // Nothing meaningful left.
    ['', null, 'otter maple'],
    ['.local', null, 'otter maple'],
    ['--__--', null, 'otter maple'],
    ['\u200b\u202e', null, 'otter maple'],
    ['alice', '', 'alice otter maple'],
  ];
  for (const [hostName, userName, expected] of cases) {
    t.equal(nameOf(hostName, userName), expected, JSON.stringify([hostName, userName]).replace(/[^\x20-\x7e]/gu, '?'));
  }
  const awkward = nameOf(`evil\u202e\u0007\u0085host${'x'.repeat(100)}-tail.lan`, null);
  t.equal(awkward, `evilhost${'x'.repeat(MAX_DISPLAY_NAME_LENGTH - 'evilhost otter maple'.length)} otter maple`, 'cleaned, cut to fit, the words kept');
  t.equal(validateDisplayName(awkward), awkward);
  t.equal(nameOf(`${'y'.repeat(51)}-tail`, null), `${'y'.repeat(51)} otter maple`, 'no separator left dangling where the cut falls');
  t.throws(() => defaultDisplayName({ hostName: 'host', userName: null }, () => DEFAULT_NAME_WORDS.length), /outside the 48 default name words left/);
  t.throws(() => defaultDisplayName({ hostName: 'host', userName: null }, () => -1), /pick returned -1/);
});

t.test('the words are plain, distinct, drawn at random, and nothing like a fingerprint', async (t) => {
  t.ok(DEFAULT_NAME_WORDS.length >= 32);
  t.equal(new Set(DEFAULT_NAME_WORDS).size, DEFAULT_NAME_WORDS.length);
  for (const word of DEFAULT_NAME_WORDS) {
    t.match(word, /^[a-z]{3,8}$/);
    t.notMatch(word, /^[0-9a-f]+$/, `${word} is not hex`);
  }
  const names = Array.from({ length: 200 }, () => defaultDisplayName({ hostName: 'host', userName: null }));
  t.ok(new Set(names).size > 150, 'two nodes on one machine rarely draw the same name');
  for (const name of names) {
    const [host, first, second] = name.split(' ');
    t.equal(host, 'host');
    t.ok(DEFAULT_NAME_WORDS.includes(first as string) && DEFAULT_NAME_WORDS.includes(second as string), name);
    t.not(first, second, 'two different words');
  }
});

t.test("this machine's names; a user the OS cannot name is no user name", async (t) => {
  t.same(machineNames(), { hostName: hostname(), userName: userInfo().username });
  const { machineNames: withoutUser } = t.mockRequire<typeof import('../../extension/identity/default-name')>(
    '../../extension/identity/default-name',
    {
      'node:os': {
        ...os,
        hostname: () => 'alice-laptop',
        userInfo: () => {
          throw Object.assign(new Error('no passwd entry'), { code: 'ENOENT' });
        },
      },
    },
  );
  t.same(withoutUser(), { hostName: 'alice-laptop', userName: null });
});

t.test('the first start writes the default name; later starts keep it', async (t) => {
  const dir = tempDir(t);
  const first = Profile.open(dir, { hostName: 'alice-workstation.local', userName: 'alice', pick: drawing('maple', 'wren') });
  t.equal(first.displayName, 'workstation maple wren');
  t.equal(first.namedAtThisStart, true);
  t.same(stored(dir), { version: 1, display_name: 'workstation maple wren' });
  t.equal(statSync(join(dir, PROFILE_FILE_NAME)).mode & 0o777, 0o600);
  const again = Profile.open(dir, { hostName: 'renamed', userName: null, pick: () => 0 });
  t.equal(again.displayName, 'workstation maple wren', 'neither a new host name nor a new draw changes it');
  t.equal(again.namedAtThisStart, false);
  t.same(again.upgradeNotes, []);
});

t.test('without names given, the default name is made from this machine and never holds the OS user name', async (t) => {
  const dir = tempDir(t);
  const { hostName, userName } = machineNames();
  const name = Profile.open(dir, { pick: drawing('otter', 'maple') }).displayName;
  t.equal(name, defaultDisplayName({ hostName, userName }, drawing('otter', 'maple')));
  if (userName !== null) t.notOk(name.toLowerCase().includes(userName.toLowerCase()), name);
  t.equal(Profile.open(tempDir(t), { hostName: `${userInfo().username}s-box`, pick: drawing('otter', 'maple') }).displayName, 'box otter maple');
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
  const nothingLeft = Profile.open(dir, { hostName: 'host', userName: null, pick: drawing('wren', 'otter') });
  t.equal(nothingLeft.displayName, 'host wren otter', 'a default name when nothing readable is left');
  t.same(stored(dir), { version: 1, display_name: 'host wren otter' });
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
