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

t.test('page prints a new login link of the running host, which logs in once; and says when no host runs', async (t) => {
  const { node, hostDir } = await host(t);
  const printed = await run(process.execPath, [HOST_CLI, 'page', '--host-dir', hostDir]);
  const link = printed.stdout.trim();
  t.match(link, `${node.apiUrl}/ui/login?code=`);
  const first = await fetch(link, { redirect: 'manual' });
  t.equal(first.status, 303, 'it logs in');
  t.match(first.headers.get('set-cookie'), /^p2p_comm_page_[0-9]+=[A-Za-z0-9_-]{43};/);
  t.equal((await fetch(link, { redirect: 'manual' })).status, 403, 'once');
  t.not((await run(process.execPath, [HOST_CLI, 'page', '--host-dir', hostDir])).stdout.trim(), link, 'each link is new');
  await node.stop();
  const refused = await run(process.execPath, [HOST_CLI, 'page', '--host-dir', hostDir]).catch((error: { code: number; stderr: string }) => error);
  t.match(refused, { code: 2, stderr: `no p2p-comm-host is running on host dir ${hostDir}` });
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
  const PLUGINS = 6;
  const CALLS_EACH = 2;
  const CLI_CHANGES = 8;
  const dir = tempDir(t);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(
    policyFile,
    JSON.stringify({
      rules: [
        { plugin: '*', operation: '*', prompt: 'permission', answer: 'approve' },
        { plugin: '*', operation: 'receive', prompt: 'scope', answer: 'allow' },
      ],
    }),
  );
  const plugins: PluginDeclaration[] = Array.from({ length: PLUGINS }, (_, index) => ({
    id: `agent-${index}`,
    secret: randomBytes(20).toString('hex'),
    extensions: { 'p2p-comm': ['receive', 'ack'] },
  }));
  const hostDir = join(dir, 'host');
  const node = await startNode({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins, policyFile, env: LOOPBACK_ONLY, eventPollMs: 0 });
  t.teardown(() => node.stop());
  // Each plugin has one dialog open at a time (the host refuses a second with 429), so each calls in turn; the plugins run side by side.
  const approvals = plugins.map(async (plugin, index) => {
    const client = new PluginClient(node.apiUrl, plugin.id, plugin.secret);
    const statuses: number[] = [];
    for (let call = 0; call < CALLS_EACH; call += 1) statuses.push((await client.call('receive', { peer: peer(index * 10 + call) })).status);
    return statuses;
  });
  const cliChanges = Array.from({ length: CLI_CHANGES }, (_, index) =>
    run(process.execPath, [HOST_CLI, 'allow-scope', `agent-${index % PLUGINS}`, 'ack', peer(100 + index), '--host-dir', hostDir]),
  );
  const statuses = (await Promise.all(approvals)).flat();
  await Promise.all(cliChanges);
  t.notOk(statuses.some((status) => status === 403 || status === 429), 'every scope dialog was asked and answered allow');
  const grants = GrantStore.open(hostDir);
  plugins.forEach((plugin, index) => {
    t.same(grants.get(plugin.id, 'ext:p2p-comm:receive')?.approvedScopes, [peer(index * 10), peer(index * 10 + 1)], `every approval the host remembered for ${plugin.id}`);
    t.equal(grants.get(plugin.id, 'ext:p2p-comm:receive')?.state, 'active', 'and the just-in-time approval');
  });
  const cliMade = plugins.flatMap((plugin) => grants.get(plugin.id, 'ext:p2p-comm:ack')?.approvedScopes ?? []);
  t.same(cliMade.sort(), Array.from({ length: CLI_CHANGES }, (_, index) => peer(100 + index)).sort(), 'every change the CLI made');
});
