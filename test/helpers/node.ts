import { join } from 'node:path';
import type { ExtensionProcess, RpcResponse } from '../../permissions/host/extension-process';
import { LOOPBACK_ONLY, startExtension, tempDir } from './extension';
import type { Teardown } from './teardown';

/** Env for a node that only ever touches 127.0.0.1 and retries quickly. */
export const LOOPBACK_ENV = {
  ...LOOPBACK_ONLY,
  P2P_COMM_RECONNECT_BASE_MS: '50',
  P2P_COMM_RECONNECT_MAX_MS: '400',
  P2P_COMM_HANDSHAKE_TIMEOUT_MS: '2000',
};

export interface TestNode {
  extension: ExtensionProcess;
  dataDir: string;
  /** Events the node published through event.publish, oldest first. */
  events: { type: string; subject?: string; data: Record<string, unknown> }[];
  stderr: string[];
  call(operation: string, input?: Record<string, unknown>): Promise<Record<string, unknown>>;
  attempt(operation: string, input?: Record<string, unknown>): Promise<RpcResponse>;
}

export interface StartNodeOptions {
  dataDir?: string;
  env?: Record<string, string>;
  /** What to spawn instead of the binary under test, e.g. a wrapper that runs it elsewhere, with its arguments. */
  binary?: string;
  args?: readonly string[];
}

/** A p2p-comm node spawned like Nexus does, on loopback, with its own data dir. */
export async function startNode(t: Teardown, options: StartNodeOptions = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? join(tempDir(t), 'node');
  const events: TestNode['events'] = [];
  const { extension, stderr } = await startExtension(t, {
    dataDir,
    ...(options.binary === undefined ? {} : { binary: options.binary }),
    ...(options.args === undefined ? {} : { args: options.args }),
    env: { ...process.env, ...LOOPBACK_ENV, ...options.env },
    onRequest: (method, params) => {
      if (method !== 'event.publish') throw new Error(`Unknown IPC method: ${method}`);
      events.push(params as TestNode['events'][number]);
      return { event_id: `e${events.length}` };
    },
  });
  const attempt = (operation: string, input: Record<string, unknown> = {}) => extension.execute(operation, input);
  const call = async (operation: string, input: Record<string, unknown> = {}) => {
    const response = await attempt(operation, input);
    if (response.error !== undefined) throw new Error(`${operation} failed: ${response.error.code} ${response.error.message}`);
    return (response.result as { data: Record<string, unknown> }).data;
  };
  return { extension, dataDir, events, stderr, call, attempt };
}

/**
 * Re-checks a condition until it holds, each check being one call to the
 * node (which is also how queued events reach the host). Bounded by a
 * deadline; it waits on the node's answers, never on a timer.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Pairs two running nodes through the whole consent flow; returns their peer ids. */
export async function pairNodes(a: TestNode, b: TestNode): Promise<{ aId: string; bId: string }> {
  const bIdentity = await b.call('identity');
  const aIdentity = await a.call('identity');
  const paired = await a.call('pair', { link: bIdentity['link'] as string });
  if (paired['state'] !== 'delivered') throw new Error(`pair answered ${JSON.stringify(paired)}`);
  const incoming = ((await b.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  if (incoming === undefined) throw new Error('no incoming request');
  const accepted = await b.call('accept', { request_id: incoming.request_id, peer: incoming.peer });
  if (accepted['connected'] !== true) throw new Error(`accept answered ${JSON.stringify(accepted)}`);
  return { aId: aIdentity['peer_id'] as string, bId: bIdentity['peer_id'] as string };
}

/**
 * Waits until the node's DHT server listens: it has joined its DHT and
 * announced its key. Here rather than with the local testnet, which loads
 * hyperdht: the bench uses it on nodes of a DHT it never loads itself.
 */
export async function dhtListening(node: TestNode): Promise<void> {
  await eventually(async () => ((await node.call('status'))['dht'] as { listening: boolean }).listening, 'the DHT server listening');
}
