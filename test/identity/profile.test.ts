import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { validateDisplayName } from '../../extension/common/display-name';
import { Profile, PROFILE_FILE_NAME } from '../../extension/identity/profile';
import { tempDir } from '../helpers/extension';

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
