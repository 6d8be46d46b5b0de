import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { startNode, type NodeOptions, type RunningNode } from '../../permissions/node/running-node';
import type { PluginDeclaration } from '../../permissions/gate/types';
import { createPlugin, loadPlugins, pluginsDirectory } from '../../permissions/plugins/plugin-directory';
import type { PluginClient } from '../../permissions/demo/plugin-client';
import type { McpEndpointOptions } from '../../permissions/mcp/mcp-endpoint';
import type { PeerAgentOptions } from '../../permissions/a2a/peer-agent-routes';
import { MCP_OPERATIONS } from '../../permissions/mcp/tools';
import { BINARY, tempDir } from './extension';
import { eventually, LOOPBACK_ENV } from './node';
import { repositoryRoot } from './repository-root';
import type { Teardown } from './teardown';

/** The built host program, as an MCP client runs it. */
export const HOST_PROGRAM = join(repositoryRoot(), 'dist', 'p2p-comm-host');

export type PolicyRule = { plugin: string; operation: string; prompt: 'permission' | 'scope' | 'high_risk'; answer: string; scope_value?: string };

/** A policy that says yes to every question about these plugins. */
export function approveAll(...plugins: string[]): PolicyRule[] {
  return plugins.flatMap((plugin): PolicyRule[] => [
    { plugin, operation: '*', prompt: 'permission', answer: 'approve' },
    { plugin, operation: '*', prompt: 'scope', answer: 'allow' },
    { plugin, operation: '*', prompt: 'high_risk', answer: 'approve' },
  ]);
}

export interface McpSide {
  node: RunningNode;
  hostDir: string;
  /** Plugins declared in `<hostDir>/plugins/`, by id. */
  plugins: Map<string, PluginDeclaration>;
  /** Stops the host and its extension, keeping their directories. */
  stop(): Promise<void>;
  /** Starts them again on the same directories; `node` is then the new one (with a new port). */
  start(): Promise<void>;
}

/**
 * A reference host on loopback whose dialogs a policy answers, with one
 * plugin file per id in `mcpPlugins` declaring what the MCP tools use
 * (as `p2p-comm-host mcp` creates them), plus `extraPlugins` as given.
 */
export async function startMcpSide(
  t: Teardown,
  mcpPlugins: string[],
  rules: PolicyRule[],
  extraPlugins: PluginDeclaration[] = [],
  mcp?: McpEndpointOptions,
  a2a?: PeerAgentOptions,
): Promise<McpSide> {
  const dir = tempDir(t);
  const hostDir = join(dir, 'host');
  for (const id of mcpPlugins) createPlugin(hostDir, id, MCP_OPERATIONS);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules, default: 'deny' }));
  const declared = [...loadPlugins(hostDir), ...extraPlugins];
  const options: NodeOptions = { hostDir, dataDir: join(dir, 'extension'), binary: BINARY, plugins: declared, policyFile, env: LOOPBACK_ENV, onStderrLine: () => undefined, ...(mcp === undefined ? {} : { mcp }), ...(a2a === undefined ? {} : { a2aCalling: a2a }) };
  let running: RunningNode | undefined = await startNode(options);
  t.teardown(() => running?.stop());
  const side: McpSide = {
    node: running,
    hostDir,
    plugins: new Map(declared.map((plugin) => [plugin.id, plugin])),
    stop: async () => {
      const stopping = running;
      running = undefined;
      await stopping?.stop();
    },
    start: async () => {
      if (running !== undefined) throw new Error('the host runs already');
      running = side.node = await startNode(options);
    },
  };
  return side;
}

/** Pairs two hosts through their plugins' operations, as two people would: `caller` asks, `acceptor` accepts. */
export async function pairPlugins(caller: PluginClient, acceptor: PluginClient): Promise<{ callerId: string; acceptorId: string }> {
  const acceptorIdentity = await acceptor.data('identity');
  const callerId = (await caller.data('identity'))['peer_id'] as string;
  await caller.data('pair', { link: acceptorIdentity['link'] });
  const incoming = await eventually(async () => ((await acceptor.data('requests'))['incoming'] as { request_id: string; peer: string }[])[0], 'the pairing request');
  await acceptor.data('accept', { request_id: incoming.request_id, peer: incoming.peer });
  return { callerId, acceptorId: acceptorIdentity['peer_id'] as string };
}

/** Writes a plugin file into a host dir, as a person or `add-plugin` would; a running host follows it. */
export function writePluginFile(hostDir: string, declaration: PluginDeclaration): void {
  mkdirSync(pluginsDirectory(hostDir), { recursive: true, mode: 0o700 });
  writeFileSync(join(pluginsDirectory(hostDir), `${declaration.id}.json`), JSON.stringify(declaration), { mode: 0o600 });
}

/** A bearer token for `plugin` from the host's token exchange, as any HTTP client gets one. */
export async function tokenFor(side: McpSide, plugin: string): Promise<string> {
  const declaration = side.plugins.get(plugin);
  if (declaration === undefined) throw new Error(`no plugin ${plugin}`);
  const response = await fetch(`${side.node.apiUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ plugin_id: declaration.id, secret: declaration.secret }),
  });
  if (response.status !== 200) throw new Error(`token refused: HTTP ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export async function httpTransport(side: McpSide, plugin: string): Promise<StreamableHTTPClientTransport> {
  const token = await tokenFor(side, plugin);
  return new StreamableHTTPClientTransport(new URL('/mcp', side.node.apiUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
}

/** `p2p-comm-host mcp` for a host dir, as `claude mcp add` would run it (no `--plugin` when `plugin` is undefined); its stderr is collected into `stderr`. */
export function stdioTransport(hostDir: string, plugin: string | undefined, stderr: string[] = [], extraArgs: string[] = []): StdioClientTransport {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [HOST_PROGRAM, 'mcp', '--host-dir', hostDir, ...(plugin === undefined ? [] : ['--plugin', plugin]), ...extraArgs],
    env: { ...(process.env as Record<string, string>), ...LOOPBACK_ENV },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  return transport;
}

export async function connectClient(t: Teardown, transport: Transport): Promise<Client> {
  const client = new Client({ name: 'p2p-comm-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  return client;
}

/** The text of a tool's answer. */
export function textOf(result: unknown): string {
  return (result as CallToolResult).content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

export async function callText(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ text: string; isError: boolean }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  return { text: textOf(result), isError: result.isError === true };
}

/**
 * JSON-RPC over an MCP transport with ids the test chooses, so that it can
 * do what the SDK's Client never does: cancel a request it already got the
 * answer to.
 */
export class RawMcpSession {
  private readonly waiting = new Map<string | number, (message: JSONRPCMessage) => void>();

  private constructor(private readonly transport: Transport) {
    transport.onmessage = (message) => {
      if ('id' in message && !('method' in message) && message.id !== undefined) this.waiting.get(message.id)?.(message);
    };
  }

  static async open(t: Teardown, transport: Transport): Promise<RawMcpSession> {
    const session = new RawMcpSession(transport);
    await transport.start();
    t.teardown(() => transport.close());
    await session.request('init', 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return session;
  }

  async request(id: string | number, method: string, params: Record<string, unknown>): Promise<JSONRPCMessage> {
    const answered = new Promise<JSONRPCMessage>((resolve) => this.waiting.set(id, resolve));
    await this.transport.send({ jsonrpc: '2.0', id, method, params });
    return answered;
  }

  async cancel(id: string | number): Promise<void> {
    await this.transport.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the test gave up on it' } });
  }
}
