import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ADDRESS_SCHEMA, closedObject, nullable, StateFileFormat, TIME_SCHEMA } from '../../extension/common/json-state-file';
import { tempDir } from '../helpers/extension';

interface Sample {
  at: string;
  address: string | null;
}

const SAMPLE = new StateFileFormat<Sample>({
  name: 'the sample file',
  movingAwayMeans: 'start over',
  schema: closedObject({ at: TIME_SCHEMA, address: nullable(ADDRESS_SCHEMA) }),
  check: (sample) => (sample.address === 'forbidden:1' ? 'address is forbidden' : undefined),
});

t.test('saves and loads a valid value, owner-only', async (t) => {
  const path = join(tempDir(t), 'sample.json');
  t.equal(SAMPLE.load(path), undefined);
  const value = { at: new Date(0).toISOString(), address: null };
  SAMPLE.save(path, value);
  t.same(SAMPLE.load(path), value);
  t.equal(statSync(path).mode & 0o777, 0o600);
});

t.test('refuses to write what it would refuse to load', async (t) => {
  const path = join(tempDir(t), 'sample.json');
  t.throws(() => SAMPLE.save(path, { at: 'yesterday', address: null }), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /\/at is not in the expected format/ });
  t.throws(() => SAMPLE.save(path, { at: new Date().toISOString(), address: 'forbidden:1' }), { message: /address is forbidden/ });
  t.notOk(existsSync(path));
});

t.test('a damaged file is refused with its name and the first problem, and left as it is', async (t) => {
  const path = join(tempDir(t), 'sample.json');
  const cases: [string, RegExp][] = [
    ['{not json', /it is not valid JSON/],
    ['{"at":"2025-01-01T00:00:00.000Z"}', /the top level is missing the required field "address"/],
    ['{"at":"2025-01-01T00:00:00.000Z","address":null,"x":1}', /unexpected field "x"/],
    ['{"at":"2025-13-01T00:00:00.000Z","address":null}', /\/at is not in the expected format/],
    ['{"at":"2025-01-01T00:00:00.000Z","address":"forbidden:1"}', /address is forbidden/],
  ];
  for (const [content, problem] of cases) {
    writeFileSync(path, content);
    t.throws(() => SAMPLE.load(path), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: problem }, content);
    t.throws(() => SAMPLE.load(path), { message: `the sample file ${path} is corrupt` });
    t.throws(() => SAMPLE.load(path), { message: /never resets it silently: fix the file, or move it away to start over/ });
    t.equal(readFileSync(path, 'utf8'), content);
  }
});

t.test('addresses are host:port or [ipv6]:port', async (t) => {
  const path = join(tempDir(t), 'sample.json');
  const at = new Date().toISOString();
  for (const address of ['node.local:7070', '192.168.1.20:1', '[fe80::1%en0]:65535', 'my_host-2:80']) {
    t.doesNotThrow(() => SAMPLE.save(path, { at, address }), address);
  }
  for (const address of ['node.local', ':80', 'a b:80', 'host:port', 'fe80::1:80', `${'a'.repeat(300)}:1`]) {
    t.throws(() => SAMPLE.save(path, { at, address }), { name: 'P2pError', errorName: 'INVALID_INPUT' }, address.slice(0, 20));
  }
});
