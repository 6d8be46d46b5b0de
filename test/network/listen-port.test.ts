import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { P2pError } from '../../extension/common/errors';
import { NETWORK_FILE_NAME, persistPort, readPersistedPort } from '../../extension/network/listen-port';
import { tempDir } from '../helpers/extension';

t.test('null when there is no file', async (t) => {
  const dir = tempDir(t);
  t.equal(readPersistedPort(dir), null);
});

t.test('a persisted port is read back, from an owner-only file', async (t) => {
  const dir = tempDir(t);
  persistPort(dir, 43210);
  const path = join(dir, NETWORK_FILE_NAME);
  t.equal(readPersistedPort(dir), 43210);
  t.same(JSON.parse(readFileSync(path, 'utf8')), { version: 1, listen_port: 43210 });
  t.equal(statSync(path).mode & 0o777, 0o600);
  persistPort(dir, 1);
  t.equal(readPersistedPort(dir), 1, 'a second persist replaces the first');
  persistPort(dir, 65535);
  t.equal(readPersistedPort(dir), 65535);
  t.equal(statSync(path).mode & 0o777, 0o600, 'still owner-only after a rewrite');
});

t.test('a corrupt file is refused, naming the file', async (t) => {
  const cases: [string, string][] = [
    ['not JSON', '{"version":1,"listen_port":'],
    ['empty', ''],
    ['null', 'null'],
    ['an array', '[1, 7070]'],
    ['wrong version', '{"version":2,"listen_port":7070}'],
    ['no version', '{"listen_port":7070}'],
    ['no port', '{"version":1}'],
    ['port 0', '{"version":1,"listen_port":0}'],
    ['port 70000', '{"version":1,"listen_port":70000}'],
    ['port 65536', '{"version":1,"listen_port":65536}'],
    ['negative port', '{"version":1,"listen_port":-1}'],
    ['fractional port', '{"version":1,"listen_port":7070.5}'],
    ['string port', '{"version":1,"listen_port":"7070"}'],
    ['string version', '{"version":"1","listen_port":7070}'],
  ];
  for (const [label, content] of cases) {
    const dir = tempDir(t);
    const path = join(dir, NETWORK_FILE_NAME);
    writeFileSync(path, content, { mode: 0o600 });
    let caught: unknown;
    try {
      readPersistedPort(dir);
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof P2pError, `${label}: throws a P2pError`);
    t.equal((caught as P2pError | undefined)?.errorName, 'STATE_FILE_CORRUPT', `${label}: STATE_FILE_CORRUPT`);
    t.ok((caught as Error | undefined)?.message.includes(path), `${label}: the message names ${path}`);
  }
});
