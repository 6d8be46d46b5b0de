import { copyFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ExtensionProcess } from '../../permissions/host/extension-process';
import { manifest } from '../../extension/common/manifest';
import { DEFAULT_NAME_WORDS } from '../../extension/identity/default-name';
import { AsyncQueue } from '../helpers/async-queue';
import { BINARY, dataOf, LOOPBACK_ONLY, startExtension, tempDir } from '../helpers/extension';

t.test('initialize is answered first, creates data_dir 0700 and reports it', async (t) => {
  const { initialize, dataDir } = await startExtension(t);
  t.same(initialize, { extension_id: 'p2p-comm', version: manifest.version, data_dir: dataDir });
  const mode = statSync(dataDir as string).mode & 0o777;
  t.equal(mode, 0o700, 'data_dir is private to the user');
});

t.test('without data_dir it falls back to ~/.nexus/p2p-comm', async (t) => {
  const home = tempDir(t);
  const { initialize } = await startExtension(t, { dataDir: undefined, env: { ...process.env, ...LOOPBACK_ONLY, HOME: home } });
  t.same(initialize, { extension_id: 'p2p-comm', version: manifest.version, data_dir: join(home, '.nexus', 'p2p-comm') });
  t.ok(statSync(join(home, '.nexus', 'p2p-comm')).isDirectory());
});

t.test('a relative data_dir is refused with a clear error', async (t) => {
  await t.rejects(startExtension(t, { dataDir: 'relative/dir' }), /data_dir must be an absolute path/);
});

t.test('the binary runs alone, renamed, from any working directory', async (t) => {
  const installDir = tempDir(t);
  const installed = join(installDir, 'p2p-comm-x86_64-unknown-linux-gnu');
  copyFileSync(BINARY, installed);
  const { extension } = await startExtension(t, { binary: installed, cwd: '/' });
  const status = dataOf(t, await extension.execute('status', {}));
  t.equal(status['version'], manifest.version);
});

t.test('status and identity answer for real', async (t) => {
  const { extension } = await startExtension(t);
  const status = dataOf(t, await extension.execute('status', {}));
  for (const key of ['peer_id', 'version', 'listening', 'connections', 'queues', 'discovery', 'refusals']) {
    t.ok(key in status, `status has ${key}`);
  }
  const identity = dataOf(t, await extension.execute('identity', {}));
  t.match(identity, {
    peer_id: /^[a-z2-7]{51}[aq]$/,
    fingerprint: /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/,
    display_name: new RegExp(`(^| )(${DEFAULT_NAME_WORDS.join('|')}) (${DEFAULT_NAME_WORDS.join('|')})$`),
    link: /^p2p-comm:\/\//,
  });
  t.equal(status['peer_id'], identity['peer_id']);
});

/** The extension's stderr lines as they come, read in order until one matches. */
function stderrReader(): { onStderrLine: (line: string) => void; readUntil(pattern: RegExp): Promise<string[]> } {
  const lines = new AsyncQueue<string>();
  return {
    onStderrLine: (line) => lines.push(line),
    async readUntil(pattern) {
      const read: string[] = [];
      for (let line = await lines.next(); ; line = await lines.next()) {
        read.push(line);
        if (pattern.test(line)) return read;
      }
    },
  };
}

t.test('the first start picks a default name, says once how to change it, and keeps it', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const first = stderrReader();
  const { extension } = await startExtension(t, { dataDir, onStderrLine: first.onStderrLine });
  const name = dataOf(t, await extension.execute('identity', {}))['display_name'] as string;
  t.match(name, new RegExp(`^([^ ].* )?(${DEFAULT_NAME_WORDS.join('|')}) (${DEFAULT_NAME_WORDS.join('|')})$`));
  await extension.shutdown();
  const hints = (await first.readUntil(/ info stopped$/)).filter((line) => line.includes('set_display_name'));
  t.equal(hints.length, 1, 'one hint');
  t.match(hints[0], / info peers see this node as ".*", a name chosen at first start; set another with the set_display_name operation/);
  t.ok(hints[0]?.includes(`"${name}"`), 'naming the name');

  const second = stderrReader();
  const { extension: restarted } = await startExtension(t, { dataDir, onStderrLine: second.onStderrLine });
  t.equal(dataOf(t, await restarted.execute('identity', {}))['display_name'], name, 'the same name after a restart');
  await restarted.shutdown();
  t.notOk((await second.readUntil(/ info stopped$/)).some((line) => line.includes('set_display_name')), 'no hint the second time');
});

t.test('with LAN discovery off, discover answers "not available" and says how to turn it on', async (t) => {
  const { extension } = await startExtension(t);
  const response = await extension.execute('discover', {});
  t.equal(response.error?.code, -32012);
  t.match(response.error?.message, /P2P_COMM_MDNS=off.*P2P_COMM_MDNS=on/);
  const status = dataOf(t, await extension.execute('status', {}));
  t.match(status['discovery'], { enabled: false, mode: 'off', advertising: false, browsing: false, peers_seen: 0 });
});

t.test('a request before initialize is refused and initialize still works', async (t) => {
  const extension = ExtensionProcess.spawn({
    binary: BINARY,
    extensionId: manifest.id,
    version: manifest.version,
    dataDir: join(tempDir(t), 'd'),
    env: { ...process.env, ...LOOPBACK_ONLY },
  });
  t.teardown(() => extension.kill());
  const early = await extension.execute('status', {});
  t.equal(early.error?.code, -32002);
  t.match(early.error?.message, /before initialize/);
  await extension.initialize();
  dataOf(t, await extension.execute('status', {}));
  const again = await extension.call('initialize', { extension_id: 'p2p-comm', version: manifest.version });
  t.equal(again.error?.code, -32003, 'a second initialize is refused');
});

t.test('bad input of every kind gets a precise error and the process keeps serving', async (t) => {
  const { extension } = await startExtension(t, { env: { ...process.env, ...LOOPBACK_ONLY, P2P_COMM_MAX_LINE_BYTES: '2048' } });
  const cases: { name: string; line: string; code: number; message: RegExp; id: number }[] = [
    { name: 'non-JSON line', line: 'hello there', code: -32700, message: /not valid JSON/, id: 0 },
    { name: 'truncated JSON keeps its id', line: '{"jsonrpc":"2.0","id":41,"method":"execute","params":{', code: -32700, message: /not valid JSON/, id: 41 },
    {
      name: 'line over the size limit',
      line: JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { operation: 'status', input: { pad: 'x'.repeat(5000) } }, id: 42 }),
      code: -32001,
      message: /line of \d+ bytes exceeds the limit of 2048 bytes/,
      id: 42,
    },
    { name: 'batch', line: '[{"jsonrpc":"2.0","method":"execute","id":43}]', code: -32600, message: /batch requests/, id: 0 },
    { name: 'wrong jsonrpc version', line: '{"jsonrpc":"1.0","method":"execute","id":44}', code: -32600, message: /"jsonrpc" must be "2.0"/, id: 44 },
    { name: 'unknown method', line: '{"jsonrpc":"2.0","method":"tools.list","id":45,"params":{}}', code: -32601, message: /unknown method "tools.list"/, id: 45 },
    { name: 'resource call without a type', line: '{"jsonrpc":"2.0","method":"resources.list","id":45,"params":{}}', code: -32602, message: /unknown resource_type; p2p-comm serves "peers", "requests"/, id: 45 },
    { name: 'execute without operation', line: '{"jsonrpc":"2.0","method":"execute","id":46,"params":{"input":{}}}', code: -32602, message: /params.operation is required/, id: 46 },
    {
      name: 'unknown operation',
      line: '{"jsonrpc":"2.0","method":"execute","id":47,"params":{"operation":"teleport","input":{}}}',
      code: -32010,
      message: /unknown operation "teleport"/,
      id: 47,
    },
    {
      name: 'schema-invalid input',
      line: '{"jsonrpc":"2.0","method":"execute","id":48,"params":{"operation":"send","input":{"peer":"AAAA","type":"text","content":"hi"}}}',
      code: -32011,
      message: /invalid input for "send": input.peer/,
      id: 48,
    },
    {
      name: 'unexpected field',
      line: '{"jsonrpc":"2.0","method":"execute","id":49,"params":{"operation":"status","input":{"verbose":true}}}',
      code: -32011,
      message: /unexpected field "verbose"/,
      id: 49,
    },
    { name: 'internal method name', line: '{"jsonrpc":"2.0","method":"p2p-comm/rejected-line","id":50,"params":{}}', code: -32601, message: /unknown method/, id: 50 },
  ];
  for (const c of cases) {
    const response = await extension.exchange(c.line);
    t.equal(response.error?.code, c.code, `${c.name}: code`);
    t.match(response.error?.message, c.message, `${c.name}: message`);
    t.equal(response.id, c.id, `${c.name}: id`);
    dataOf(t, await extension.execute('status', {}));
  }
  const status = dataOf(t, await extension.execute('status', {}));
  const refusals = (status['refusals'] as { rpc: Record<string, number> }).rpc;
  t.equal(refusals['parse_error'], 2, 'parse errors counted');
  t.equal(refusals['line_too_long'], 1, 'overlong line counted');
  t.equal(refusals['invalid_input'], 2, 'schema-invalid inputs counted');
  t.same(extension.unreadLines(), [], 'no stray line left on stdout');
});

t.test('a client mistake is answered with its code, named in the message text too', async (t) => {
  const { extension } = await startExtension(t);
  const peer = `${'b'.repeat(51)}q`;
  const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  const execute = (operation: string, inputJson: string) =>
    `{"jsonrpc":"2.0","id":7,"method":"execute","params":{"operation":"${operation}","input":${inputJson}}}`;
  const cases: { name: string; line: string; error: string; code: number; message: RegExp }[] = [
    {
      name: 'unknown message id',
      line: execute('message_status', `{"message_id":"${'0'.repeat(32)}"}`),
      error: 'not_found',
      code: -32013,
      message: /^not_found: no message 0{32} was sent from this node/,
    },
    {
      name: 'bad pairing link',
      line: execute('pair', `{"link":"p2p-comm://${peer}?addr=127.0.0.1:99999&name=x"}`),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid pairing link: "127\.0\.0\.1:99999" is not a host:port address/,
    },
    {
      name: 'content within the character limit, over the byte limit',
      line: execute('send', JSON.stringify({ peer, type: 'text', content: '€'.repeat(400_000) })),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: content is 1200000 bytes once encoded; the limit is 1048576 bytes/,
    },
    {
      name: 'lone surrogate in text content',
      line: execute('send', `{"peer":"${peer}","type":"text","content":"a\\ud800"}`),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid input for "send": input\.content holds an unpaired UTF-16 surrogate/,
    },
    {
      name: 'lone surrogate deep in json content',
      line: execute('send', `{"peer":"${peer}","type":"json","content":{"a":["\\udc00"]}}`),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid input for "send": input\.content\.a\.0 holds an unpaired UTF-16 surrogate/,
    },
    {
      name: 'a number beyond a 64-bit float in json content',
      line: execute('send', `{"peer":"${peer}","type":"json","content":{"n":1e400}}`),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid input for "send": input\.content\.n holds a number beyond the range of a 64-bit float/,
    },
    {
      name: 'lone surrogate in a display name',
      line: execute('set_display_name', '{"display_name":"\\ud800"}'),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid input for "set_display_name": input\.display_name holds an unpaired/,
    },
    {
      name: 'lone surrogate in an unexpected field name',
      line: execute('status', '{"\\ud800":1}'),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: invalid input for "status": input has an unexpected field "\ufffd"$/,
    },
    {
      name: 'lone surrogate in the operation name',
      line: execute('\\ud800', '{}'),
      error: 'invalid_params',
      code: -32602,
      message: /^invalid_params: execute params\.operation holds an unpaired UTF-16 surrogate/,
    },
    {
      name: 'json content nested a million deep',
      line: execute('send', `{"peer":"${peer}","type":"json","content":${nested(1_000_000)}}`),
      error: 'invalid_input',
      code: -32011,
      message: /^invalid_input: content at \/0(\/0)+ nests deeper than 100 arrays and objects/,
    },
  ];
  for (const c of cases) {
    const response = await extension.exchange(c.line);
    t.equal(response.error?.code, c.code, `${c.name}: code`);
    t.match(response.error?.data, { error: c.error }, `${c.name}: data.error`);
    t.match(response.error?.message, c.message, `${c.name}: message`);
  }
  const status = dataOf(t, await extension.execute('status', {}));
  t.equal((status['refusals'] as { rpc: Record<string, number> }).rpc['internal_error'], undefined, 'nothing was an internal error');
});

t.test('a blank line and a malformed notification are counted, never answered', async (t) => {
  const { extension } = await startExtension(t);
  await extension.execute('status', {});
  extension.writeRaw('\n{"jsonrpc":"2.0","method":"event.received","params":{"event":"not an object"}}\n');
  const status = dataOf(t, await extension.execute('status', {}));
  const refusals = (status['refusals'] as { rpc: Record<string, number> }).rpc;
  t.equal(refusals['invalid_request'], 1, 'blank line counted');
  t.equal(refusals['invalid_notification'], 1, 'malformed notification counted');
});

t.test('event.publish is sent during an execute; stdin is demultiplexed meanwhile', async (t) => {
  const published: unknown[] = [];
  const order: string[] = [];
  let extension: ExtensionProcess | undefined;
  let second: Promise<unknown> | undefined;
  const started = await startExtension(t, {
    onRequest: async (method, params) => {
      order.push(`request:${method}`);
      published.push(params);
      // While we hold the reply: the host pushes an event and writes a second execute.
      extension?.notify('event.received', { subscription_id: 'sub-1', event: { type: 'test.ping', data: {} } });
      second = extension?.execute('status', {}).then((response) => {
        order.push('response:second');
        return response;
      });
      return { event_id: 'evt-1' };
    },
  });
  extension = started.extension;
  const first = await extension.execute('identity', {});
  order.push('response:first');
  const secondResponse = (await second) as Awaited<ReturnType<ExtensionProcess['execute']>>;
  t.same(order, ['request:event.publish', 'response:first', 'response:second'], 'answers keep request order');
  t.match(published, [{ type: 'p2p.node.started', data: { version: manifest.version, peer: /^[a-z2-7]{52}$/ } }]);
  t.equal(published.length, 1);
  t.equal(first.id + 1, secondResponse.id, 'each answer carries its own id');
  const status = dataOf(t, secondResponse);
  t.equal(status['host_events_received'], 1, 'the notification pushed mid-call was taken');
  // The answers did not wait for the reply to event.publish, which the host wrote after the second execute: a
  // later call sees it counted.
  const later = dataOf(t, await extension.execute('status', {}));
  t.same((later['queues'] as { events: unknown }).events, { queued: 0, queued_security: 0, published: 1, dropped: 0, dropped_security: 0, coalesced: 0, failed: 0 });
});

t.test('a host error for event.publish is counted and the execute still answers', async (t) => {
  const { extension } = await startExtension(t, {
    onRequest: () => {
      throw new Error('Event bus not available');
    },
  });
  dataOf(t, await extension.execute('identity', {}));
  const status = dataOf(t, await extension.execute('status', {}));
  t.same((status['queues'] as { events: unknown }).events, { queued: 0, queued_security: 0, published: 0, dropped: 0, dropped_security: 0, coalesced: 0, failed: 1 });
});

t.test('shutdown is answered and the process exits well within the grace period', async (t) => {
  const { extension } = await startExtension(t);
  dataOf(t, await extension.execute('status', {}));
  const report = await extension.shutdown();
  t.same(report.response, { id: 2, result: null });
  t.equal(report.exitedWithinGrace, true);
  t.equal(report.code, 0);
  t.same(extension.unreadLines(), [], 'nothing written after the shutdown answer');
});

t.test('closing stdin answers what was sent, then exits', async (t) => {
  const { extension } = await startExtension(t);
  const pending = extension.execute('status', {});
  extension.closeStdin();
  dataOf(t, await pending);
  const exit = await extension.waitForExit(5000);
  t.equal(exit.exitedWithinGrace, true);
  t.equal(exit.code, 0);
});

t.test('SIGTERM stops the process cleanly', async (t) => {
  const { extension } = await startExtension(t);
  dataOf(t, await extension.execute('status', {}));
  extension.kill('SIGTERM');
  const exit = await extension.waitForExit(5000);
  t.same(exit, { code: 0, signal: null, exitedWithinGrace: true });
});

t.test('an unusable data_dir fails initialize with the reason', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'file');
  writeFileSync(file, 'not a directory');
  await t.rejects(startExtension(t, { dataDir: join(file, 'sub') }), /cannot use data_dir .*ENOTDIR/);
});

