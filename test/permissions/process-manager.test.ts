import { EventEmitter, once } from 'node:events';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { manifest } from '../../extension/common/manifest';
import { ExtensionSupervisor, type ExtensionEvent, type SupervisedExit, type SupervisorOptions } from '../../permissions/host/process-manager';
import { BINARY, dataDirLockHolder, LOOPBACK_ONLY, tempDir } from '../helpers/extension';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A supervisor of the built extension whose callbacks are recorded and emitted. */
function supervise(t: Test, overrides: Partial<SupervisorOptions> = {}) {
  const events: ExtensionEvent[] = [];
  const stderr: string[] = [];
  const lifecycle = new EventEmitter<{ exit: [SupervisedExit]; restart: [number | undefined] }>();
  const dataDir = join(tempDir(t), 'data');
  const supervisor = new ExtensionSupervisor({
    binary: BINARY,
    extensionId: manifest.id,
    version: manifest.version,
    dataDir,
    env: { ...process.env, ...LOOPBACK_ONLY },
    onEvent: (event) => events.push(event),
    onStderrLine: (line) => stderr.push(line),
    onExit: (exit) => lifecycle.emit('exit', exit),
    onRestart: (pid) => lifecycle.emit('restart', pid),
    ...overrides,
  });
  t.teardown(() => supervisor.stop());
  return { supervisor, events, stderr, lifecycle, dataDir };
}

t.test('the real extension is run, restarted after a crash and stopped for good', async (t) => {
  const { supervisor, events, stderr, lifecycle, dataDir } = supervise(t);
  await supervisor.start();
  const firstPid = supervisor.pid;
  t.type(firstPid, 'number');
  t.equal(dataDirLockHolder(dataDir), String(firstPid), 'the extension holds its data dir');

  const status = await supervisor.execute('status', {});
  t.equal(status.error, undefined, 'status answers');
  t.match(status.result, { success: true, data: { listening: Object } });
  t.match(events, [{ id: UUID, type: 'p2p.node.started', data: { version: manifest.version, peer: /^[a-z2-7]{52}$/ } }], 'the first execute delivered the start event');
  t.ok(stderr.length > 0, 'stderr lines are forwarded');

  const crashed = once(lifecycle, 'exit');
  const restarted = once(lifecycle, 'restart');
  process.kill(firstPid as number, 'SIGKILL');
  const [exit] = (await crashed) as [SupervisedExit];
  t.match(exit, { code: null, signal: 'SIGKILL' });
  t.ok(exit.restartInMs !== null && exit.restartInMs < 200, 'the first restart waits less than the 200 ms base');
  t.equal(supervisor.pid, undefined, 'no process while it is down');

  const afterRestart = await supervisor.execute('status', {});
  t.equal(afterRestart.error, undefined, 'a call made while down is served by the restarted process');
  const [restartedPid] = (await restarted) as [number | undefined];
  t.equal(restartedPid, supervisor.pid);
  t.not(supervisor.pid, firstPid, 'a new process');
  t.equal(dataDirLockHolder(dataDir), String(supervisor.pid), 'the lock of the killed process was stale: the restarted one took it');
  t.equal(events.length, 2, 'the restarted process announced itself');
  t.equal((events[1]?.data as { peer: string }).peer, (events[0]?.data as { peer: string }).peer, 'same data dir, same identity');

  lifecycle.on('restart', () => t.fail('restarted after stop()'));
  const stopped = once(lifecycle, 'exit');
  const report = await supervisor.stop();
  t.match(report, { code: 0, exitedWithinGrace: true }, 'stop() shuts it down within the grace period');
  const [finalExit] = (await stopped) as [SupervisedExit];
  t.equal(finalExit.restartInMs, null, 'no restart is scheduled');
  t.equal(dataDirLockHolder(dataDir), null, 'the lock is released');
  t.equal(supervisor.pid, undefined);
  await t.rejects(supervisor.execute('status', {}), /was stopped/, 'calls after stop() fail at once');
});

t.test('a call waits a bounded time for a restart that does not come', async (t) => {
  const { supervisor, lifecycle, dataDir } = supervise(t, { restartWaitMs: 300 });
  await supervisor.start();
  // A damaged identity key makes every restart fail at initialize.
  const crashed = once(lifecycle, 'exit');
  writeFileSync(join(dataDir, 'identity.key'), 'damaged', { mode: 0o600 });
  process.kill(supervisor.pid as number, 'SIGKILL');
  await crashed;
  await t.rejects(supervisor.execute('status', {}), { message: 'extension p2p-comm is not running and did not restart within 300 ms' });
});

t.test('a first start that fails is reported and not retried', async (t) => {
  const { supervisor, lifecycle } = supervise(t, { binary: join(tempDir(t), 'missing') });
  lifecycle.on('restart', () => t.fail('restarted a process that never started'));
  const exited = once(lifecycle, 'exit');
  await t.rejects(supervisor.start());
  t.match(await exited, [{ restartInMs: null }]);
  await t.rejects(supervisor.execute('status', {}), /has not been started/);
});

t.test("the extension's requests: event.publish is answered, anything else refused as Nexus does", async (t) => {
  const binary = join(tempDir(t), 'fake-extension');
  writeFileSync(binary, FAKE_EXTENSION);
  chmodSync(binary, 0o700);
  const { supervisor, events } = supervise(t, { binary });
  await supervisor.start();
  const response = await supervisor.execute('probe', {});
  const replies = (response.result as { data: { replies: Record<string, unknown>[] } }).data.replies;
  t.match(replies, [
    { id: 'publish', result: { event_id: UUID } },
    { id: 7, error: { code: Number, message: 'Unknown IPC method: event.subscribe' } },
    { id: 8, error: { message: /^Invalid event.publish params: type must be/ } },
  ]);
  t.same(events, [{ id: (replies[0]?.['result'] as { event_id: string }).event_id, type: 'test.probe', subject: 'peer-a', data: { n: 1 } }]);
});

/** An extension that, during an execute, makes requests of the host and answers with the replies it got. */
const FAKE_EXTENSION = `#!/usr/bin/env node
const requests = [
  { jsonrpc: '2.0', id: 'publish', method: 'event.publish', params: { type: 'test.probe', subject: 'peer-a', data: { n: 1 } } },
  { jsonrpc: '2.0', id: 7, method: 'event.subscribe', params: { type_pattern: '*' } },
  { jsonrpc: '2.0', id: 8, method: 'event.publish', params: { type: 'two\\nlines', data: null } },
];
const write = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
let buffer = '';
let execute = null;
const replies = [];
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  for (let i = buffer.indexOf('\\n'); i !== -1; i = buffer.indexOf('\\n')) {
    const message = JSON.parse(buffer.slice(0, i));
    buffer = buffer.slice(i + 1);
    if (message.method === 'initialize') write({ jsonrpc: '2.0', id: message.id, result: {} });
    else if (message.method === 'shutdown') { write({ jsonrpc: '2.0', id: message.id, result: null }); process.exit(0); }
    else if (message.method === 'execute') { execute = message; write(requests[0]); }
    else if (message.method === undefined) {
      replies.push(message);
      const next = requests[replies.length];
      if (next) write(next);
      else write({ jsonrpc: '2.0', id: execute.id, result: { success: true, data: { replies }, message: null } });
    }
  }
});
`;
