import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { manifest } from '../../extension/common/manifest';
import { tempDir } from '../helpers/extension';

const CLI = resolve(__dirname, '..', '..', 'dist', 'p2p-comm-host');
const PEER = `${'b'.repeat(51)}a`;
/** Anything a terminal would act on. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

function cli(args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...(cwd === undefined ? {} : { cwd }) });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

t.test('-h, --help and help print the usage; --version the version', async (t) => {
  for (const flag of ['-h', '--help', 'help']) {
    const { status, stdout } = cli([flag]);
    t.equal(status, 0, flag);
    t.match(stdout, /^usage: p2p-comm-host <command>/, flag);
    t.match(stdout, 'deny-scope ID OPERATION VALUE');
    t.match(stdout, 'relay [--host H] [--port N] [--bootstrap HOST:PORT,...] [--json]');
  }
  t.same(cli(['--version']), { status: 0, stdout: `p2p-comm-host ${manifest.version}\n`, stderr: '' });
  const unknown = cli(['--frobnicate']);
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /Unknown option '--frobnicate'.*see p2p-comm-host --help/);
});

t.test('what the CLI echoes is escaped', async (t) => {
  const dir = tempDir(t);
  const command = cli(['lo\u001b[2Jok\u202e', '--host-dir', dir]);
  t.equal(command.status, 2);
  t.match(command.stderr, 'unknown command "lo\\u{1b}[2Jok\\u{202e}"');
  t.notMatch(command.stderr, UNSAFE);
  cli(['add-plugin', 'x', 'send', '--host-dir', dir]);
  writeFileSync(join(dir, 'plugins', `e\u001b[2Jv.json`), '{}');
  writeFileSync(join(dir, 'plugins', 'y.json'), JSON.stringify({ id: 'y', secret: 's'.repeat(20), extensions: { '\u001b[31mRED': [] } }), { mode: 0o600 });
  const listed = cli(['plugins', '--host-dir', dir]);
  t.equal(listed.status, 0, 'one broken file does not stop the command');
  t.equal(listed.stdout, 'x\tsend\n');
  t.match(listed.stderr, 'is left out');
  t.notMatch(listed.stderr, UNSAFE);
});

t.test('plugin ids with path separators are refused before any file is written', async (t) => {
  const dir = tempDir(t);
  const refused = cli(['add-plugin', '../../x', 'send', '--host-dir', dir]);
  t.equal(refused.status, 2);
  t.match(refused.stderr, '"../../x" is not a valid plugin id');
  t.notOk(existsSync(join(dir, '..', '..', 'x.json')));
});

t.test('a scope value that could never match is refused', async (t) => {
  const dir = tempDir(t);
  cli(['add-plugin', 'x', 'send', 'status', '--host-dir', dir]);
  const typo = cli(['allow-scope', 'x', 'send', `${PEER}x`, '--host-dir', dir]);
  t.equal(typo.status, 2);
  t.match(typo.stderr, 'is not a valid peer for send');
  const unscoped = cli(['deny-scope', 'x', 'status', PEER, '--host-dir', dir]);
  t.equal(unscoped.status, 2);
  t.match(unscoped.stderr, 'status has no scope; scopes apply to accept, send, receive, ack');
  t.same(cli(['allow-scope', 'x', 'send', PEER, '--host-dir', dir]).status, 0);
  t.match(cli(['grants', '--plugin', 'x', '--host-dir', dir]).stdout, `x\text:p2p-comm:send\tdeferred\tscopes: ${PEER}`);
});

t.test('a relative host dir works', async (t) => {
  const dir = tempDir(t);
  t.equal(cli(['add-plugin', 'x', 'send', '--host-dir', 'rel'], dir).status, 0);
  t.ok(existsSync(join(dir, 'rel', 'plugins', 'x.json')));
});
