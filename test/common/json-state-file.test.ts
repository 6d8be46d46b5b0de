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

t.test('an upgrade rule fixes what it knows before the checks; a changed file is written back and reported', async (t) => {
  const UPGRADED = new StateFileFormat<Sample>({
    name: 'the sample file',
    movingAwayMeans: 'start over',
    schema: closedObject({ at: TIME_SCHEMA, address: nullable(ADDRESS_SCHEMA) }),
    upgrade: (value) => {
      const sample = value as Record<string, unknown>;
      if (sample['address'] !== 'old:0') return [];
      sample['address'] = null;
      return ['the old address was dropped'];
    },
  });
  const path = join(tempDir(t), 'sample.json');
  const at = new Date(0).toISOString();
  const notes: string[] = [];
  writeFileSync(path, JSON.stringify({ at, address: 'old:0' }));
  t.same(UPGRADED.load(path, (note) => notes.push(note)), { at, address: null });
  t.same(notes, [`the sample file ${path}: the old address was dropped; the file was rewritten`]);
  t.same(JSON.parse(readFileSync(path, 'utf8')), { at, address: null });

  const current = JSON.stringify({ at, address: 'host:1' });
  writeFileSync(path, current);
  t.same(UPGRADED.load(path, (note) => notes.push(note)), { at, address: 'host:1' });
  t.equal(notes.length, 1, 'nothing to report');
  t.equal(readFileSync(path, 'utf8'), current, 'nor to write');

  const damaged = JSON.stringify({ at: 'yesterday', address: 'old:0' });
  writeFileSync(path, damaged);
  t.throws(() => UPGRADED.load(path, (note) => notes.push(note)), { errorName: 'STATE_FILE_CORRUPT', message: /\/at is not in the expected format/ });
  t.equal(readFileSync(path, 'utf8'), damaged, 'a file still damaged after the upgrade is left as it is');
  t.equal(notes.length, 1);
});
