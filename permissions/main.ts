#!/usr/bin/env node
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import manifestJson from '../manifest.json';
import type { ExtensionManifest } from '../extension/common/manifest';
import { AuditLog } from './gate/audit-log';
import { DEFAULT_DIALOG_TIMEOUT_MS } from './gate/gate';
import { GrantStore } from './gate/grant-store';
import { permissionName, type PermissionState } from './gate/types';
import { runningHostEndpoint } from './node/host-endpoint-file';
import { DEFAULT_LOGIN_LINK_TTL_MS, mintLoginCode, pageLoginLink } from './page/login-codes';
import { HOST_LOCK_FILE_NAME, HostDirInUseError, startNode } from './node/running-node';
import { runMcpCommand } from './mcp/mcp-command';
import type { PeerAgentOptions } from './a2a/peer-agent-routes';
import type { A2aServingOptions } from './a2a/a2a-serving';
import { peerAgentSettings } from './a2a/peer-agent-settings';
import { a2aServingSettings } from './a2a/serving-settings';
import { createPlugin, loadPlugins, pluginsDirectory } from './plugins/plugin-directory';
import { DEFAULT_RELAY_PORT, describeBootstrap, parseRelayOptions, type RelayArguments } from './relay/relay-options';
import { relayReadyLine } from './relay/ready-line';
import { startRelayNode } from './relay/relay-node';
import { useNativeAddonDirectory } from '../extension/common/native-addons';
import { loadOrCreateRelaySeed, RELAY_SEED_FILE_NAME } from './relay/relay-seed';
import { printable, printableJson } from './terminal-text';

/**
 * p2p-comm-host: runs your p2p-comm node without Nexus (the reference host)
 * and manages which plugin may call which operation.
 */
const manifest = manifestJson as ExtensionManifest;
const ALL_OPERATIONS = manifest.operations.map((operation) => operation.name);

const USAGE = `usage: p2p-comm-host <command> [--host-dir DIR]

  start [--data-dir DIR] [--port N] [--policy FILE] [--dialog-timeout SECONDS]
                                  run the node: extension + gate + Host API on 127.0.0.1
                                  (approvals asked on this terminal and on the web page, or answered by a policy
                                  file; an unanswered dialog refuses the call after ${DEFAULT_DIALOG_TIMEOUT_MS / 1000} s by default)
  page                            print a new login link to the running host's web page (peers, pairing
                                  requests, dialogs), e.g. for a host that mcp started in the background
  mcp [--plugin ID] [--restart-host] [start options]
                                  serve MCP on stdio for an MCP client (claude mcp add p2p-comm -- p2p-comm-host mcp),
                                  as plugin ID (default mcp, created if absent), through the running host of the
                                  host dir; starts one in the background (with the start options given) if none runs
                                  when it starts, and again later only with --restart-host
  plugins                         list the plugins this host knows
  add-plugin ID [OPERATION...]    create plugins/ID.json with a new secret (default: every operation)
  grants [--plugin ID]            list permissions, their state and approved and denied scopes
  grant ID OPERATION...           make permissions active (no question on first use)
  defer ID OPERATION...           ask again on next use
  revoke ID OPERATION...          refuse these operations to the plugin
  allow-scope ID OPERATION VALUE  approve a scope value (e.g. a peer id) for that permission
  deny-scope ID OPERATION VALUE   refuse a scope value without asking
  forget-scope ID OPERATION VALUE forget an approved or denied scope value (asked again on next use)
  audit                           print the audit log
  relay [--host H] [--port N] [--bootstrap HOST:PORT,...] [--json]
                                  run a blind relay (and DHT node) on UDP port N (default ${DEFAULT_RELAY_PORT}) for
                                  peers whose NATs are both symmetric; it forwards their encrypted
                                  streams and never sees the contents. --host: IPv4 address to bind
                                  (default 0.0.0.0); --bootstrap: DHT nodes to join through (default
                                  the public Hyperswarm ones); its key seed is kept in the host dir
                                  (${RELAY_SEED_FILE_NAME}). Prints one line when ready (JSON with --json).
  help                            print this text

  --host-dir DIR   host state: grants, audit log, plugins/, relay-seed (default ~/.p2p-comm-host)
  -h, --help       print this text
  --version        print the version

Changes to plugins, grants and scopes apply to a running host within a second.`;

/** Messages can quote arguments and file contents: escaped before they reach the terminal. */
function fail(message: string): never {
  process.stderr.write(`p2p-comm-host: ${printable(message)}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  // Output piped into `head` and the like: a closed pipe just means stop.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const { values, positionals } = parseArguments();
  const [command = 'start', ...args] = positionals;
  if (values.help === true || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version === true) {
    process.stdout.write(`p2p-comm-host ${manifest.version}\n`);
    return;
  }
  // Absolute: the extension is given its data dir as initialize's data_dir, which must be absolute.
  const hostDir = resolve(values['host-dir'] ?? join(homedir(), '.p2p-comm-host'));
  switch (command) {
    case 'start':
      return start({
        hostDir,
        dataDir: resolve(values['data-dir'] ?? join(hostDir, 'extension_data', manifest.id)),
        port: values.port,
        policy: values.policy,
        dialogTimeout: values['dialog-timeout'],
      });
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
    case 'deny-scope':
    case 'forget-scope':
      return changeScope(hostDir, args, command);
    case 'mcp':
      return runMcpCommand({ hostDir, plugin: values.plugin, restartHost: values['restart-host'] === true, start: { 'data-dir': values['data-dir'], port: values.port, policy: values.policy, 'dialog-timeout': values['dialog-timeout'] } });
    case 'relay':
      return relay(hostDir, { host: values.host, port: values.port, bootstrap: values.bootstrap }, values.json === true);
    case 'page':
      return printPageLink(hostDir);
    case 'audit':
      // Operation names come from URLs and scope values from plugins: escaped, never raw on a terminal.
      for (const entry of AuditLog.open(hostDir).read()) process.stdout.write(`${printableJson(entry)}\n`);
      return;
    default:
      fail(`unknown command "${printable(command)}"; see p2p-comm-host --help`);
  }
}

function parseArguments(): ReturnType<typeof parseCommandLine> {
  try {
    return parseCommandLine();
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}; see p2p-comm-host --help`);
  }
}

function parseCommandLine() {
  return parseArgs({
    allowPositionals: true,
    options: {
      'host-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      policy: { type: 'string' },
      plugin: { type: 'string' },
      'dialog-timeout': { type: 'string' },
      host: { type: 'string' },
      bootstrap: { type: 'string' },
      json: { type: 'boolean' },
      'restart-host': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
}

function checkOperations(operations: readonly string[]): void {
  const unknown = operations.filter((operation) => !ALL_OPERATIONS.includes(operation));
  if (unknown.length > 0) fail(`unknown operation(s): ${unknown.map((name) => JSON.stringify(name)).join(', ')}; p2p-comm offers ${ALL_OPERATIONS.join(', ')}`);
}

/**
 * A scope value is compared by exact string with what plugins send, so a
 * value that can never match (a mistyped peer id, a scope on an operation
 * that has none) would be "allowed" to no effect: refused instead.
 */
function checkScopeValue(operation: string, value: string): void {
  const definition = manifest.operations.find((candidate) => candidate.name === operation);
  const key = definition?.scope_key;
  if (key === undefined) {
    const scoped = manifest.operations.filter((candidate) => candidate.scope_key !== undefined).map((candidate) => candidate.name);
    fail(`${operation} has no scope; scopes apply to ${scoped.join(', ')}`);
  }
  const schema = (definition?.input_schema as { properties?: Record<string, { pattern?: string }> } | undefined)?.properties?.[key];
  if (schema?.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
    fail(`${JSON.stringify(value)} is not a valid ${key} for ${operation} (it must match ${schema.pattern}); copy the peer id from peers or requests`);
  }
}

function grantsWithPlugins(hostDir: string): GrantStore {
  const grants = GrantStore.open(hostDir);
  for (const plugin of loadPlugins(hostDir)) grants.register(plugin);
  return grants;
}

function listGrants(hostDir: string, plugin: string | undefined): void {
  for (const grant of grantsWithPlugins(hostDir).list(plugin)) {
    const approved = grant.approvedScopes.length === 0 ? '' : `\tscopes: ${grant.approvedScopes.map(printable).join(', ')}`;
    const denied = grant.deniedScopes.length === 0 ? '' : `\tdenied: ${grant.deniedScopes.map(printable).join(', ')}`;
    process.stdout.write(`${grant.plugin}\t${grant.permission}\t${grant.state}${approved}${denied}\n`);
  }
}

function setStates(hostDir: string, args: string[], state: PermissionState): void {
  const [plugin, ...operations] = args;
  if (plugin === undefined || operations.length === 0) fail('name a plugin and at least one operation');
  checkOperations(operations);
  const grants = grantsWithPlugins(hostDir);
  for (const operation of operations) grants.setState(plugin, permissionName(manifest.id, operation), state);
  process.stdout.write(`${printable(plugin)}: ${operations.join(', ')} ${state}\n`);
}

const SCOPE_CHANGES = {
  'allow-scope': { change: 'allowed', apply: (grants: GrantStore, plugin: string, permission: string, value: string) => grants.addScope(plugin, permission, value) },
  'deny-scope': { change: 'denied', apply: (grants: GrantStore, plugin: string, permission: string, value: string) => grants.denyScope(plugin, permission, value) },
  'forget-scope': {
    change: 'forgot',
    apply: (grants: GrantStore, plugin: string, permission: string, value: string) => {
      if (!grants.removeScope(plugin, permission, value)) fail(`${printable(value)} was neither approved nor denied for ${plugin} ${permission}`);
    },
  },
} as const;

function changeScope(hostDir: string, args: string[], command: keyof typeof SCOPE_CHANGES): void {
  const [plugin, operation, value] = args;
  if (plugin === undefined || operation === undefined || value === undefined) fail('name a plugin, an operation and a scope value');
  checkOperations([operation]);
  // Forgetting needs no check: it must also clear a value stored before it was checked.
  if (command !== 'forget-scope') checkScopeValue(operation, value);
  const grants = grantsWithPlugins(hostDir);
  const permission = permissionName(manifest.id, operation);
  const { change, apply } = SCOPE_CHANGES[command];
  apply(grants, plugin, permission, value);
  process.stdout.write(`${printable(plugin)} ${permission}: ${change} ${printable(value)}\n`);
}

interface StartOptions {
  hostDir: string;
  dataDir: string;
  port: string | undefined;
  policy: string | undefined;
  dialogTimeout: string | undefined;
}

async function start({ hostDir, dataDir, port, policy, dialogTimeout }: StartOptions): Promise<void> {
  const apiPort = port === undefined ? 0 : Number(port);
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) fail(`--port must be 0-65535, got ${printable(String(port))}`);
  const timeoutSeconds = dialogTimeout === undefined ? DEFAULT_DIALOG_TIMEOUT_MS / 1000 : Number(dialogTimeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 86_400) {
    fail(`--dialog-timeout must be a whole number of seconds, 1-86400, got ${printable(String(dialogTimeout))}`);
  }
  let a2a: PeerAgentOptions;
  let serving: A2aServingOptions;
  try {
    a2a = peerAgentSettings(process.env);
    serving = a2aServingSettings(process.env);
  } catch (error) {
    fail((error as Error).message);
  }
  let plugins = loadPlugins(hostDir);
  if (plugins.length === 0) plugins = [createPlugin(hostDir, 'agent', ALL_OPERATIONS)];
  if (policy === undefined && process.stdin.isTTY !== true) {
    process.stderr.write(
      'p2p-comm-host: warning: the input is not a terminal, so dialogs may not be answerable here. They are asked on the web page too (log in with the link printed below); while nobody is logged in there and nobody answers here, a call that needs a dialog is refused and nothing is remembered. Answer dialogs with --policy FILE for unattended runs.\n',
    );
  }
  const notice = (line: string): void => void process.stderr.write(`p2p-comm-host: ${line}\n`);
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await startNode({
      hostDir,
      dataDir,
      plugins,
      apiPort,
      dialogTimeoutMs: timeoutSeconds * 1000,
      a2aCalling: a2a,
      a2aServing: serving,
      ...(policy === undefined ? {} : { policyFile: policy }),
      onStderrLine: (line) => process.stderr.write(`[p2p-comm] ${printable(line)}\n`),
      onNotice: notice,
      // On a terminal a transfer's progress is one line rewritten in place (\x1b[2K clears what the last one left).
      ...(process.stderr.isTTY === true
        ? { onProgress: { rewrite: (line: string) => void process.stderr.write(`\r\x1b[2Kp2p-comm-host: ${line}`), endLine: () => void process.stderr.write('\n') } }
        : {}),
    });
  } catch (error) {
    if (error instanceof HostDirInUseError) fail(error.message);
    throw error;
  }
  const identity = await node.supervisor.execute('identity', {});
  const data = (identity.result as { data: Record<string, unknown> } | undefined)?.data ?? {};
  const first = plugins[0]?.id ?? 'agent';
  const secretFile = join(pluginsDirectory(hostDir), `${first}.json`);
  process.stdout.write(
    [
      `p2p-comm ${manifest.version} is running.`,
      `  peer id      ${printable(String(data['peer_id']))}`,
      `  fingerprint  ${printable(String(data['fingerprint']))}`,
      `  name         ${printableJson(data['display_name'] ?? null)} (what others see; change it with the set_display_name operation)`,
      `  pairing link ${printable(String(data['link']))}`,
      `  ${printable(String(data['dht']))}`,
      `  Host API     ${node.apiUrl}  (plugins: ${plugins.map((p) => p.id).join(', ')}; their secrets are in ${pluginsDirectory(hostDir)})`,
      `  web page     ${node.pageLink()}`,
      `               (open it in a browser on this machine: peers, pairing requests, dialogs; the link logs you in once,`,
      `               within ${DEFAULT_LOGIN_LINK_TTL_MS / 60_000} minutes; p2p-comm-host page prints a new one)`,
      `A plugin exchanges its secret for a token (valid 15 min), e.g. for "${first}" (the secret goes through a pipe, not the command line):`,
      `  node -e 'const p = require(process.argv[1]); process.stdout.write(JSON.stringify({plugin_id: p.id, secret: p.secret}))' ${shellQuote(secretFile)} \\`,
      `    | curl -s -H "content-type: application/json" --data-binary @- ${node.apiUrl}/api/v1/auth/token`,
      `then calls operations with it:`,
      `  curl -s -H "authorization: Bearer <token>" -H "content-type: application/json" -d '{"input":{}}' ${node.apiUrl}/api/v1/extensions/p2p-comm/status`,
      policy === undefined
        ? `Approvals are asked here and on the web page; the first answer counts (unanswered for ${timeoutSeconds} s: refused). Press Ctrl-C to stop.`
        : `Approvals answered by ${printable(policy)}. Press Ctrl-C to stop.`,
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

function printPageLink(hostDir: string): void {
  const endpoint = runningHostEndpoint(hostDir, join(hostDir, HOST_LOCK_FILE_NAME));
  if (endpoint === undefined) fail(`no p2p-comm-host is running on host dir ${hostDir}; start one with p2p-comm-host start (or give its --host-dir)`);
  process.stdout.write(`${pageLoginLink(endpoint.url, mintLoginCode(endpoint.page_key, Date.now()))}\n`);
}

/** Longest a stopping relay waits to unannounce itself before it exits anyway. */
const RELAY_STOP_GRACE_MS = 5000;

async function relay(hostDir: string, args: RelayArguments, json: boolean): Promise<void> {
  let options: ReturnType<typeof parseRelayOptions>;
  let seed: Uint8Array;
  try {
    options = parseRelayOptions(args);
    seed = loadOrCreateRelaySeed(hostDir);
    // hyperdht's native addons, when this is a bundle that carries them, are written and checked here.
    useNativeAddonDirectory(join(hostDir, 'native'));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const log = (line: string): void => void process.stderr.write(`p2p-comm-host relay: ${printable(line)}\n`);
  log(`joining the DHT through ${describeBootstrap(options.bootstrap)}`);
  const running = await startRelayNode({ ...options, seed, log });
  if (!running.reachable) {
    log(`warning: no DHT node could reach UDP port ${running.port} unasked; peers may not reach this relay. Open UDP port ${running.port} to this machine in its firewall (and forward it on a NAT router)`);
  }
  process.stdout.write(`${relayReadyLine({ publicKey: running.publicKey, host: options.host, port: running.port }, json)}\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    // A second signal means now.
    if (stopping) process.exit(0);
    stopping = true;
    log('stopping');
    const grace = setTimeout(() => {
      log(`still unannouncing after ${RELAY_STOP_GRACE_MS / 1000} s; exiting anyway`);
      process.exit(0);
    }, RELAY_STOP_GRACE_MS);
    await running.stop();
    clearTimeout(grace);
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));

/** A path as one shell word. */
function shellQuote(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}
