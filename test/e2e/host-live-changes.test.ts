import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { PluginClient } from '../../permissions/demo/plugin-client';
import { GrantStore } from '../../permissions/gate/grant-store';
import type { PluginDeclaration } from '../../permissions/gate/types';
import { HostDirInUseError, startNode, type RunningNode } from '../../permissions/node/running-node';
import { BINARY, LOOPBACK_ONLY, tempDir } from '../helpers/extension';

const HOST_CLI = resolve(__dirname, '..', '..', 'dist', 'p2p-comm-host');
const run = promisify(execFile);
/** A distinct, well-formed peer id per index (digits spelled as letters). */
const peer = (index: number): string => `${'a'.repeat(47)}${[...String(index).padStart(4, '0')].map((digit) => String.fromCharCode(98 + Number(digit))).join('')}q`;

async function host(t: Test, rules: unknown[] = []): Promise<{ node: RunningNode; hostDir: string; client: PluginClient; plugin: PluginDeclaration }> {
  const dir = tempDir(t);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules }));
  const plugin: PluginDeclaration = { id: 'agent', secret: randomBytes(20).toString('hex'), extensions: { 'p2p-comm': ['status', 'receive', 'ack'] } };
  const hostDir = join(dir, 'host');
  const node = await startNode({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins: [plugin], policyFile, env: LOOPBACK_ONLY, eventPollMs: 0 });
  t.teardown(() => node.stop());
  return { node, hostDir, client: new PluginClient(node.apiUrl, plugin.id, plugin.secret), plugin };
}

t.test('a host dir is run by one host: a second start is refused naming the pid', async (t) => {
  const { hostDir, plugin } = await host(t);
  await t.rejects(
    startNode({ hostDir, dataDir: join(hostDir, 'other-ext'), binary: BINARY, plugins: [plugin], env: LOOPBACK_ONLY }),
    new HostDirInUseError(`another p2p-comm-host (pid ${process.pid}) is already running on host dir ${hostDir}; stop it first, or give this one its own --host-dir`),
  );
  const second = spawn(process.execPath, [HOST_CLI, 'start', '--host-dir', hostDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...LOOPBACK_ONLY } });
  let stderr = '';
  second.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(second, 'exit')) as [number | null];
  t.equal(code, 2);
  t.match(stderr, `another p2p-comm-host (pid ${process.pid}) is already running on host dir ${hostDir}`);
});

t.test('a host dir is free again once its host stopped, even after a crash', async (t) => {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  const plugin: PluginDeclaration = { id: 'agent', secret: randomBytes(20).toString('hex'), extensions: { 'p2p-comm': ['status'] } };
  const first = await startNode({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins: [plugin], env: LOOPBACK_ONLY, eventPollMs: 0 });
  await first.stop();
  // A lock left by a process that no longer runs.
  writeFileSync(join(hostDir, 'host.lock'), '2147483646\n');
  const again = await startNode({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins: [plugin], env: LOOPBACK_ONLY, eventPollMs: 0 });
  await again.stop();
  t.pass('started twice in turn');
});

t.test('permission changes made with the CLI apply to the running host at once', async (t) => {
  const { hostDir, client } = await host(t);
  await run(process.execPath, [HOST_CLI, 'grant', 'agent', 'status', '--host-dir', hostDir]);
  t.equal((await client.call('status')).status, 200, 'granted with the CLI: no dialog (the policy would deny it)');
  const revoked = await run(process.execPath, [HOST_CLI, 'revoke', 'agent', 'status', '--host-dir', hostDir]);
  t.match(revoked.stdout, 'agent: status revoked');
  t.match(await client.call('status'), { status: 403, body: { error: 'Permission denied' } }, 'the next call is refused');
  await run(process.execPath, [HOST_CLI, 'grant', 'agent', 'receive', '--host-dir', hostDir]);
  await run(process.execPath, [HOST_CLI, 'allow-scope', 'agent', 'receive', peer(1), '--host-dir', hostDir]);
  t.not((await client.call('receive', { peer: peer(1) })).status, 403, 'a scope allowed with the CLI needs no dialog');
  await run(process.execPath, [HOST_CLI, 'deny-scope', 'agent', 'receive', peer(1), '--host-dir', hostDir]);
  t.match(await client.call('receive', { peer: peer(1) }), { status: 403, body: { error: 'Scope approval denied' } });
});

t.test('CLI changes and host approvals at the same time: none is lost', async (t) => {
  const rules = [
    { plugin: 'agent', operation: '*', prompt: 'permission', answer: 'approve' },
    { plugin: 'agent', operation: 'receive', prompt: 'scope', answer: 'allow' },
  ];
  const { hostDir, client } = await host(t, rules);
  const APPROVALS = 12;
  const CLI_CHANGES = 8;
  const approvals = Array.from({ length: APPROVALS }, (_, index) => client.call('receive', { peer: peer(index) }));
  const cliChanges = Array.from({ length: CLI_CHANGES }, (_, index) =>
    run(process.execPath, [HOST_CLI, 'allow-scope', 'agent', 'ack', peer(100 + index), '--host-dir', hostDir]),
  );
  const statuses = (await Promise.all(approvals)).map((result) => result.status);
  await Promise.all(cliChanges);
  t.notOk(statuses.includes(403), 'every scope dialog was answered allow');
  const grants = GrantStore.open(hostDir);
  t.same(
    [...(grants.get('agent', 'ext:p2p-comm:receive')?.approvedScopes ?? [])].sort(),
    Array.from({ length: APPROVALS }, (_, index) => peer(index)).sort(),
    'every approval the host remembered',
  );
  t.same(
    [...(grants.get('agent', 'ext:p2p-comm:ack')?.approvedScopes ?? [])].sort(),
    Array.from({ length: CLI_CHANGES }, (_, index) => peer(100 + index)).sort(),
    'every change the CLI made',
  );
  t.equal(grants.get('agent', 'ext:p2p-comm:receive')?.state, 'active', 'and the just-in-time approval');
});
