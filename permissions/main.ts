#!/usr/bin/env node
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import manifestJson from '../manifest.json';
import type { ExtensionManifest } from '../extension/common/manifest';
import { AuditLog } from './gate/audit-log';
import { GrantStore } from './gate/grant-store';
import { permissionName, type PermissionState } from './gate/types';
import { startNode } from './node/running-node';
import { createPlugin, loadPlugins, pluginsDirectory } from './plugins/plugin-directory';

/**
 * p2p-comm-host: runs your p2p-comm node without Nexus (the reference host)
 * and manages which plugin may call which operation.
 */
const manifest = manifestJson as ExtensionManifest;
const ALL_OPERATIONS = manifest.operations.map((operation) => operation.name);

const USAGE = `usage: p2p-comm-host <command> [--host-dir DIR]

  start [--data-dir DIR] [--port N] [--policy FILE]
                                  run the node: extension + gate + Host API on 127.0.0.1
                                  (approvals asked on this terminal, or answered by a policy file)
  plugins                         list the plugins this host knows
  add-plugin ID [OPERATION...]    create plugins/ID.json with a new secret (default: every operation)
  grants [--plugin ID]            list permissions, their state and approved scopes
  grant ID OPERATION...           make permissions active (no question on first use)
  defer ID OPERATION...           ask again on next use
  revoke ID OPERATION...          refuse these operations to the plugin
  allow-scope ID OPERATION VALUE  approve a scope value (e.g. a peer id) for that permission
  forget-scope ID OPERATION VALUE withdraw an approved scope value
  audit                           print the audit log

  --host-dir DIR   host state: grants, audit log, plugins/ (default ~/.p2p-comm-host)`;

function fail(message: string): never {
  process.stderr.write(`p2p-comm-host: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  // Output piped into `head` and the like: a closed pipe just means stop.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'host-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      policy: { type: 'string' },
      plugin: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command = 'start', ...args] = positionals;
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const hostDir = values['host-dir'] ?? join(homedir(), '.p2p-comm-host');
  switch (command) {
    case 'start':
      return start(hostDir, values['data-dir'] ?? join(hostDir, 'extension_data', manifest.id), values.port, values.policy);
    case 'plugins':
      for (const plugin of loadPlugins(hostDir)) process.stdout.write(`${plugin.id}\t${(plugin.extensions[manifest.id] ?? []).join(',')}\n`);
      return;
    case 'add-plugin': {
      const [id, ...operations] = args;
      if (id === undefined) fail('add-plugin needs an id');
      checkOperations(operations);
      const plugin = createPlugin(hostDir, id, operations.length > 0 ? operations : ALL_OPERATIONS);
      process.stdout.write(`created ${join(pluginsDirectory(hostDir), `${plugin.id}.json`)} (its secret is in that file)\n`);
      return;
    }
    case 'grants':
      return listGrants(hostDir, values.plugin);
    case 'grant':
    case 'defer':
    case 'revoke':
      return setStates(hostDir, args, ({ grant: 'active', defer: 'deferred', revoke: 'revoked' } as const)[command]);
    case 'allow-scope':
    case 'forget-scope':
      return changeScope(hostDir, args, command === 'allow-scope');
    case 'audit':
      for (const entry of AuditLog.open(hostDir).read()) process.stdout.write(`${JSON.stringify(entry)}\n`);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

function checkOperations(operations: readonly string[]): void {
  const unknown = operations.filter((operation) => !ALL_OPERATIONS.includes(operation));
  if (unknown.length > 0) fail(`unknown operation(s): ${unknown.join(', ')}; p2p-comm offers ${ALL_OPERATIONS.join(', ')}`);
}

function grantsWithPlugins(hostDir: string): GrantStore {
  const grants = GrantStore.open(hostDir);
  for (const plugin of loadPlugins(hostDir)) grants.register(plugin);
  return grants;
}

function listGrants(hostDir: string, plugin: string | undefined): void {
  for (const grant of grantsWithPlugins(hostDir).list(plugin)) {
    const scopes = grant.approvedScopes.length === 0 ? '' : `\tscopes: ${grant.approvedScopes.join(', ')}`;
    process.stdout.write(`${grant.plugin}\t${grant.permission}\t${grant.state}${scopes}\n`);
  }
}

function setStates(hostDir: string, args: string[], state: PermissionState): void {
  const [plugin, ...operations] = args;
  if (plugin === undefined || operations.length === 0) fail('name a plugin and at least one operation');
  checkOperations(operations);
  const grants = grantsWithPlugins(hostDir);
  for (const operation of operations) grants.setState(plugin, permissionName(manifest.id, operation), state);
  process.stdout.write(`${plugin}: ${operations.join(', ')} ${state}\n`);
}

function changeScope(hostDir: string, args: string[], allow: boolean): void {
  const [plugin, operation, value] = args;
  if (plugin === undefined || operation === undefined || value === undefined) fail('name a plugin, an operation and a scope value');
  checkOperations([operation]);
  const grants = grantsWithPlugins(hostDir);
  const permission = permissionName(manifest.id, operation);
  if (allow) grants.addScope(plugin, permission, value);
  else if (!grants.removeScope(plugin, permission, value)) fail(`${value} was not approved for ${plugin} ${permission}`);
  process.stdout.write(`${plugin} ${permission}: ${allow ? 'allowed' : 'forgot'} ${value}\n`);
}

async function start(hostDir: string, dataDir: string, port: string | undefined, policy: string | undefined): Promise<void> {
  let plugins = loadPlugins(hostDir);
  if (plugins.length === 0) plugins = [createPlugin(hostDir, 'agent', ALL_OPERATIONS)];
  const apiPort = port === undefined ? 0 : Number(port);
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) fail(`--port must be 0-65535, got ${String(port)}`);
  const node = await startNode({
    hostDir,
    dataDir,
    plugins,
    apiPort,
    ...(policy === undefined ? {} : { policyFile: policy }),
    onStderrLine: (line) => process.stderr.write(`[p2p-comm] ${line}\n`),
  });
  const identity = await node.supervisor.execute('identity', {});
  const data = (identity.result as { data: Record<string, unknown> } | undefined)?.data ?? {};
  const first = plugins[0];
  const token = first === undefined ? null : node.tokens.issue(first.id);
  process.stdout.write(
    [
      `p2p-comm ${manifest.version} is running.`,
      `  peer id      ${String(data['peer_id'])}`,
      `  fingerprint  ${String(data['fingerprint'])}`,
      `  pairing link ${String(data['link'])}`,
      `  Host API     ${node.apiUrl}  (plugins: ${plugins.map((p) => p.id).join(', ')}; secrets in ${pluginsDirectory(hostDir)})`,
      token === null ? '' : `  token for "${first?.id}" (valid ${Math.round((token.expiresAt - Date.now()) / 60000)} min): ${token.token}`,
      `  try: curl -s -H "authorization: Bearer <token>" -H "content-type: application/json" -d '{"input":{}}' ${node.apiUrl}/api/v1/extensions/p2p-comm/status`,
      policy === undefined ? 'Approvals are asked here. Press Ctrl-C to stop.' : `Approvals answered by ${policy}. Press Ctrl-C to stop.`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await node.stop();
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
