import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireLock } from '../../../extension/common/lock-file';
import { publishHostEndpoint } from '../../../permissions/node/host-endpoint-file';
import { HOST_LOG_FILE_NAME, HostLauncher, HostNotRunningError } from '../../../permissions/mcp/host-launcher';
import { tempDir } from '../../helpers/extension';

const NEVER_STARTED: [string, ...string[]] = [process.execPath, '-e', 'throw new Error("must not run")'];

t.test('a running host is used as it is: nothing is started, and start options given are ignored, said once', async (t) => {
  const hostDir = tempDir(t);
  const hostLock = join(hostDir, 'host.lock');
  const lock = acquireLock(hostLock);
  t.teardown(() => lock.release());
  publishHostEndpoint(hostDir, 'http://127.0.0.1:4321', 'k'.repeat(43));
  const logged: string[] = [];
  const launcher = new HostLauncher({ hostDir, hostLock, startCommand: NEVER_STARTED, startOptions: ['--policy', '--port'], log: (line) => logged.push(line) });
  t.equal(await launcher.apiUrl(), 'http://127.0.0.1:4321');
  t.equal(launcher.runningApiUrl(), 'http://127.0.0.1:4321');
  t.equal(logged.length, 1);
  t.match(logged[0], new RegExp(`a host already runs on .* \\(pid ${process.pid}\\): --policy, --port ignored`));
});

t.test('runningApiUrl never starts a host: no host is an error saying how to start one', async (t) => {
  const hostDir = tempDir(t);
  const launcher = new HostLauncher({ hostDir, hostLock: join(hostDir, 'host.lock'), startCommand: NEVER_STARTED });
  t.throws(() => launcher.runningApiUrl(), new HostNotRunningError(hostDir));
  t.match(new HostNotRunningError(hostDir).message, `Your user can start it again with: p2p-comm-host start --host-dir ${hostDir}`);
});

t.test('a start that gives up before listening is an error that points at its log', async (t) => {
  const hostDir = tempDir(t);
  const launcher = new HostLauncher({
    hostDir,
    hostLock: join(hostDir, 'host.lock'),
    startCommand: [process.execPath, '-e', 'console.error("p2p-comm-host: another p2p-comm-host is already running"); process.exit(2)'],
  });
  await t.rejects(launcher.apiUrl(), /exited \(code 2\) before listening; see .*host\.log/);
  t.match(readFileSync(join(hostDir, HOST_LOG_FILE_NAME), 'utf8'), /already running/, 'its output is in the log');
});
