import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { rmSync } from 'node:fs';
import { credentialOf } from '../../permissions/http/host-api';
import { startNode, type RunningNode } from '../../permissions/node/running-node';
import { PluginClient } from '../../permissions/demo/plugin-client';
import type { PluginDeclaration } from '../../permissions/gate/types';
import { createPlugin, pluginFile } from '../../permissions/plugins/plugin-directory';
import { BINARY, LOOPBACK_ONLY, tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

const ALL = ['identity', 'pair', 'requests', 'accept', 'reject', 'peers', 'revoke', 'send', 'receive', 'ack', 'message_status', 'status', 'set_display_name', 'discover'];
// Ids of usable keys (docs/protocol.md §1): pair refuses any other.
const SOME_PEER = 'b'.repeat(51) + 'a';
const OTHER_PEER = 'z'.repeat(51) + 'q';

/** One plugin per way a person might answer, so one node covers every branch. */
const PLUGINS = ['approver', 'once', 'denier', 'scope-allow', 'scope-once', 'scope-deny', 'risk-yes', 'risk-no'];
const RULES = [
  { plugin: 'approver', operation: '*', prompt: 'permission', answer: 'approve' },
  { plugin: 'once', operation: '*', prompt: 'permission', answer: 'once' },
  { plugin: 'denier', operation: '*', prompt: 'permission', answer: 'deny' },
  { plugin: 'scope-allow', operation: '*', prompt: 'scope', answer: 'allow' },
  { plugin: 'scope-once', operation: '*', prompt: 'scope', answer: 'once' },
  { plugin: 'scope-deny', operation: '*', prompt: 'scope', scope_value: SOME_PEER, answer: 'deny' },
  { plugin: 'scope-deny', operation: '*', prompt: 'scope', answer: 'allow' },
  { plugin: 'risk-yes', operation: '*', prompt: 'high_risk', answer: 'approve' },
  { plugin: 'risk-no', operation: '*', prompt: 'high_risk', answer: 'deny' },
  { plugin: '*', operation: '*', prompt: 'permission', answer: 'approve' },
];

async function setUp(t: Test): Promise<{ node: RunningNode; hostDir: string; client: (id: string) => PluginClient; tokenFor: (id: string) => string }> {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules: RULES, default: 'deny' }));
  const plugins: PluginDeclaration[] = PLUGINS.map((id) => ({ id, secret: randomBytes(20).toString('hex'), extensions: { 'p2p-comm': ALL } }));
  const node = await startNode({ hostDir, dataDir: join(dir, 'ext'), binary: BINARY, plugins, policyFile, env: LOOPBACK_ONLY });
  t.teardown(() => node.stop());
  // One client (and so one token) per plugin: the token exchange is rate-limited.
  const clients = new Map(plugins.map((p) => [p.id, new PluginClient(node.apiUrl, p.id, p.secret)]));
  const declared = new Map(plugins.map((p) => [p.id, p]));
  const tokenFor = (id: string): string => node.tokens.issue(id, credentialOf(declared.get(id) as PluginDeclaration)).token;
  return { node, hostDir, client: (id) => clients.get(id) as PluginClient, tokenFor };
}

const stateOf = (node: RunningNode, plugin: string, operation: string) => node.grants.get(plugin, `ext:p2p-comm:${operation}`)?.state;

t.test('the gate, layer by layer, through HTTP against the real extension', async (t) => {
  const { node, hostDir, client, tokenFor } = await setUp(t);
  const url = `${node.apiUrl}/api/v1/extensions/p2p-comm/status`;

  t.test('tokens', async (t) => {
    const missing = await fetch(url, { method: 'POST', body: '{}' });
    t.equal(missing.status, 401, 'no token');
    t.match(await missing.json(), { details: { code: 'token_missing' } });
    const unknown = await fetch(url, { method: 'POST', body: '{}', headers: { authorization: 'Bearer nope' } });
    t.equal(unknown.status, 401, 'unknown token');
    t.match(await unknown.json(), { details: { code: 'token_unknown' } });
    const wrong = await fetch(`${node.apiUrl}/api/v1/auth/token`, { method: 'POST', body: JSON.stringify({ plugin_id: 'approver', secret: 'x'.repeat(40) }) });
    t.equal(wrong.status, 401, 'wrong secret');
  });

  t.test('unknown extension and operation: 403', async (t) => {
    const approver = client('approver');
    t.match(await approver.call('teleport'), { status: 403, body: { error: 'Forbidden' } });
    const token = tokenFor('approver');
    const other = await fetch(`${node.apiUrl}/v1/extensions/other-ext/status`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${token}` } });
    t.equal(other.status, 403);
  });

  t.test('deferred permission: approve / once / deny', async (t) => {
    t.match(await client('approver').call('status'), { status: 200, body: { success: true } });
    t.equal(stateOf(node, 'approver', 'status'), 'active', 'approve persists');
    t.match(await client('once').call('status'), { status: 200 });
    t.equal(stateOf(node, 'once', 'status'), 'deferred', 'once does not persist');
    t.match(await client('denier').call('status'), { status: 403, body: { error: 'Permission denied' } });
    t.equal(stateOf(node, 'denier', 'status'), 'revoked', 'deny revokes');
    t.match(await client('denier').call('status'), { status: 403 }, 'and stays refused');
  });

  t.test('revoked permission: 403 before the input is looked at', async (t) => {
    node.grants.setState('approver', 'ext:p2p-comm:peers', 'revoked');
    t.match(await client('approver').call('peers', { junk: true }), { status: 403, body: { error: 'Permission denied' } });
  });

  t.test('schema-invalid input: 400 with the first error', async (t) => {
    const response = await client('approver').call('receive', { peer: 'NOT-A-PEER' });
    t.equal(response.status, 400);
    t.equal(response.body['error'], 'Invalid input');
    t.match(response.body['details'], /peer/);
  });

  t.test('scope: allow persists, once does not, deny refuses', async (t) => {
    t.match(await client('scope-allow').call('receive', { peer: SOME_PEER }), { status: 200, body: { data: { messages: [] } } });
    t.same(node.grants.get('scope-allow', 'ext:p2p-comm:receive')?.approvedScopes, [SOME_PEER]);
    t.match(await client('scope-once').call('receive', { peer: SOME_PEER }), { status: 200 });
    t.same(node.grants.get('scope-once', 'ext:p2p-comm:receive')?.approvedScopes, []);
    t.match(await client('scope-deny').call('receive', { peer: SOME_PEER }), { status: 403, body: { error: 'Scope approval denied' } });
    t.match(await client('scope-deny').call('receive', { peer: OTHER_PEER }), { status: 200 }, 'only the denied peer is refused');
  });

  t.test('high risk: approved per call, or denied', async (t) => {
    const input = { peer: SOME_PEER, address: '127.0.0.1:9' };
    t.match(await client('risk-yes').call('pair', input), { status: 200, body: { data: { state: 'queued' } } });
    t.match(await client('risk-no').call('pair', input), { status: 403, body: { error: 'Denied' } });
  });

  t.test("the extension's refusal gets its status and code", async (t) => {
    const response = await client('risk-yes').call('revoke', { peer: OTHER_PEER });
    t.equal(response.status, 404);
    t.match(response.body, { error: 'Extension execution failed', details: { code: 'not_found', message: /never paired|not.*found|no .*peer/i } });
  });

  t.test('a plugin added while the node runs works at once, and stops when removed', async (t) => {
    const late = createPlugin(hostDir, 'late', ['status']);
    const lateClient = new PluginClient(node.apiUrl, late.id, late.secret);
    t.match(await lateClient.call('status'), { status: 200, body: { success: true } });
    t.equal(stateOf(node, 'late', 'status'), 'active', 'its permissions were registered and approved');
    rmSync(pluginFile(hostDir, 'late'));
    await eventually(async () => (await lateClient.call('status')).status === 401, 'the removed plugin to be refused');
  });

  t.test('every decision is in the audit log', async (t) => {
    const seen = new Set(node.audit.read().map((entry) => `${entry.plugin} ${entry.layer}:${entry.decision}`));
    for (const expected of [
      'approver permission:approve',
      'once permission:once',
      'denier permission:deny',
      'approver schema:refused',
      'scope-allow scope:allow',
      'scope-once scope:once',
      'scope-deny scope:deny',
      'risk-yes risk:approve',
      'risk-no risk:deny',
      'approver extension:refused',
    ]) {
      t.ok(seen.has(expected), expected);
    }
  });
});
