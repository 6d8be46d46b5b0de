import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import t from 'tap';
import { DISPLAY_NAME_PATTERN, Profile, PROFILE_FILE_NAME, validateDisplayName } from '../../extension/identity/profile';
import { manifest } from '../../extension/manifest';
import { tempDir } from '../helpers/extension';

const ACCEPTED = ['Alice', 'a', 'x'.repeat(64), '🦊'.repeat(64), 'Zoë & Émile', ' padded ', 'שלום'];
const REFUSED = ['', 'x'.repeat(65), '🦊'.repeat(65), 'line\nbreak', 'tab\there', 'nul\u0000', 'del\u007f', 'esc\u001b[31m', 'abc\u202eevil', 'abc\u202a', 'iso\u2066late', 'pop\u2069'];

t.test('display names: 1-64 characters, no control or text-direction characters, not only whitespace', async (t) => {
  for (const name of ACCEPTED) t.equal(validateDisplayName(name), name, JSON.stringify(name));
  for (const name of [...REFUSED, ' ', '   ', '\u00a0\u3000']) {
    t.throws(() => validateDisplayName(name), { name: 'P2pError', errorName: 'INVALID_INPUT' }, JSON.stringify(name));
  }
  t.throws(() => validateDisplayName('x'.repeat(65)), { message: 'a display name must be 1-64 characters long, this one has 65' });
  t.throws(() => validateDisplayName('abc\u202eevil'), { message: /text-direction characters, this one contains U\+202E$/ });
  t.throws(() => validateDisplayName('  '), { message: 'a display name must contain more than whitespace' });
});

t.test('DISPLAY_NAME_PATTERN accepts exactly what the set_display_name schema accepts', async (t) => {
  const operation = manifest.operations.find((candidate) => candidate.name === 'set_display_name');
  t.ok(operation);
  const validate = new Ajv({ strict: true }).compile(operation?.input_schema ?? {});
  for (const name of [...ACCEPTED, ...REFUSED]) {
    t.equal(DISPLAY_NAME_PATTERN.test(name), validate({ display_name: name }), JSON.stringify(name));
  }
});

t.test('the default name comes from the host name, cleaned', async (t) => {
  const dir = tempDir(t);
  t.equal(Profile.open(dir, 'workstation').displayName, 'p2p-comm on workstation');
  const awkward = Profile.open(dir, `evil\u202e\u0007host${'x'.repeat(100)}`).displayName;
  t.equal(awkward, `p2p-comm on evilhost${'x'.repeat(64 - 'p2p-comm on evilhost'.length)}`);
  t.equal(validateDisplayName(awkward), awkward);
  t.equal(Profile.open(dir, '').displayName, 'p2p-comm on');
  t.match(Profile.open(dir).displayName, /^p2p-comm on /);
  t.notOk(existsSync(join(dir, PROFILE_FILE_NAME)), 'opening writes nothing');
});

t.test('a new name is kept in profile.json, owner-only', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PROFILE_FILE_NAME);
  const profile = Profile.open(dir, 'host');
  t.equal(profile.setDisplayName('Alice’s laptop'), 'Alice’s laptop');
  t.equal(profile.displayName, 'Alice’s laptop');
  t.same(JSON.parse(readFileSync(path, 'utf8')), { version: 1, display_name: 'Alice’s laptop' });
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(Profile.open(dir, 'host').displayName, 'Alice’s laptop');
});

t.test('a refused name changes nothing', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PROFILE_FILE_NAME);
  const profile = Profile.open(dir, 'host');
  profile.setDisplayName('Bob');
  t.throws(() => profile.setDisplayName('Bob\u202e'), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.equal(profile.displayName, 'Bob');
  t.same(JSON.parse(readFileSync(path, 'utf8')), { version: 1, display_name: 'Bob' });
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
    ['{"version":1,"display_name":" "}', /its display_name is refused: .*whitespace/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(path, content);
    t.throws(() => Profile.open(dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: reason }, content);
    t.throws(() => Profile.open(dir), {
      message: new RegExp(`^the profile ${path} is corrupt: .*\\. Fix it, or move it away to go back to the default display name$`),
    });
    t.equal(readFileSync(path, 'utf8'), content);
  }
});
