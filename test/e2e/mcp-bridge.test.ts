import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HOST_ENDPOINT_FILE_NAME, runningHostEndpoint } from '../../permissions/node/host-endpoint-file';
import { HOST_LOG_FILE_NAME } from '../../permissions/mcp/host-launcher';
import { HOST_LOCK_FILE_NAME, startNode } from '../../permissions/node/running-node';
import { MCP_OPERATIONS } from '../../permissions/mcp/tools';
import { createPlugin, loadPlugins } from '../../permissions/plugins/plugin-directory';
import { BINARY, tempDir } from '../helpers/extension';
import { callText, connectClient, stdioTransport, textOf } from '../helpers/mcp-clients';
import { eventually, LOOPBACK_ENV } from '../helpers/node';

/**
 * `p2p-comm-host mcp` as an MCP client runs it: it finds the host of its
 * host dir, or starts one, and stays usable when the host goes and comes
 * back (a new session, its initialize replayed, a new token).
 */
t.test('with no host running, p2p-comm-host mcp starts one in the background, which later clients share', async (t) => {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ rules: [{ plugin: 'mcp', operation: '*', prompt: 'permission', answer: 'approve' }], default: 'deny' }));
  const lock = join(hostDir, HOST_LOCK_FILE_NAME);
  t.teardown(async () => {
    const host = runningHostEndpoint(hostDir, lock);
    if (host === undefined) return;
    process.kill(host.pid, 'SIGTERM');
    await eventually(async () => !existsSync(join(hostDir, HOST_ENDPOINT_FILE_NAME)), 'the started host to stop', 20_000);
  });

  // No --plugin: the client is plugin "mcp", made on first start.
  const first = await connectClient(t, stdioTransport(hostDir, undefined, [], ['--policy', policy, '--data-dir', join(dir, 'data')]));
  const status = await callText(first, 'p2p_status');
  t.notOk(status.isError, status.isError ? status.text : 'answered');
  t.match(status.text, /"peer_id": "[a-z2-7]{52}"/);
  const host = runningHostEndpoint(hostDir, lock);
  t.ok(host !== undefined && host.pid !== process.pid, 'a host of its own runs on the host dir');
  t.ok(loadPlugins(hostDir).some((plugin) => plugin.id === 'mcp'), 'plugin mcp was created');
  t.match(readFileSync(join(hostDir, HOST_LOG_FILE_NAME), 'utf8'), /p2p-comm .* is running/, "the host's output went to host.log");

  const second = await connectClient(t, stdioTransport(hostDir, 'mcp'));
  t.notOk((await callText(second, 'p2p_status')).isError);
  t.equal(runningHostEndpoint(hostDir, lock)?.pid, host?.pid, 'the second client uses the same host');
});

t.test('when the host restarts, the bridge opens a new session with a new token and the client never notices', async (t) => {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  createPlugin(hostDir, 'assistant', MCP_OPERATIONS);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules: [{ plugin: 'assistant', operation: '*', prompt: 'permission', answer: 'approve' }], default: 'deny' }));
  const start = () => startNode({ hostDir, dataDir: join(dir, 'extension'), binary: BINARY, plugins: loadPlugins(hostDir), policyFile, env: LOOPBACK_ENV, onStderrLine: () => undefined });
  const first = await start();
  const stderr: string[] = [];
  const client = await connectClient(t, stdioTransport(hostDir, 'assistant', stderr));
  const before = await callText(client, 'p2p_status');
  t.notOk(before.isError, before.isError ? before.text : 'answered');
  await first.stop();

  const restarted = await start();
  t.teardown(() => restarted.stop());
  t.not(restarted.apiUrl, first.apiUrl, 'the new host listens elsewhere');
  const after = await callText(client, 'p2p_status');
  t.notOk(after.isError, after.isError ? `${after.text}\n${stderr.join('')}` : 'answered');
  t.ok(restarted.audit.read().some((entry) => entry.plugin === 'assistant' && entry.operation === 'status' && entry.layer === 'risk'), 'the call reached the new host');
});

t.test('a host stopped during a long poll: the poll says so, the next call says how to start it, and a host started again is found', async (t) => {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  createPlugin(hostDir, 'assistant', MCP_OPERATIONS);
  const policyFile = join(dir, 'policy.json');
  const rules = ['permission', 'scope'].map((prompt) => ({ plugin: 'assistant', operation: '*', prompt, answer: prompt === 'scope' ? 'allow' : 'approve' }));
  writeFileSync(policyFile, JSON.stringify({ rules, default: 'deny' }));
  const start = () => startNode({ hostDir, dataDir: join(dir, 'extension'), binary: BINARY, plugins: loadPlugins(hostDir), policyFile, env: LOOPBACK_ENV, onStderrLine: () => undefined });
  const first = await start();
  const stderr: string[] = [];
  const client = await connectClient(t, stdioTransport(hostDir, 'assistant', stderr));
  // A peer nobody paired with: the poll reads it and waits.
  const polling = client.callTool({ name: 'p2p_get_messages', arguments: { peer: 'a'.repeat(51) + 'q', wait_seconds: 45 } });
  await eventually(async () => first.audit.read().some((entry) => entry.operation === 'receive' && entry.layer === 'risk'), 'the poll to read');
  await first.stop();
  const stopped = textOf(await polling);
  t.match(stopped, /The p2p-comm host stopped while this call waited .* no message is lost: call p2p_get_messages again/);

  await t.rejects(client.callTool({ name: 'p2p_status', arguments: {} }), { message: new RegExp(`not running \\(it was stopped\\); nothing was done\\. Your user can start it again with: p2p-comm-host start --host-dir ${hostDir}`) });
  t.equal(runningHostEndpoint(hostDir, join(hostDir, HOST_LOCK_FILE_NAME)), undefined, 'the bridge started no host');

  const restarted = await start();
  t.teardown(() => restarted.stop());
  const status = await callText(client, 'p2p_status');
  t.notOk(status.isError, status.isError ? `${status.text}\n${stderr.join('')}` : 'answered');
});
