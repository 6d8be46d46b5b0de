import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyRule } from '../gate/policy-prompter';
import type { PluginDeclaration } from '../gate/types';
import { startNode, type NodeOptions, type RunningNode } from '../node/running-node';
import { PluginClient } from './plugin-client';
import type { Transcript } from './transcript';

/**
 * One person of the demos (Alice, Bob): a node on 127.0.0.1 with its own
 * data under its own reference host, a "console" plugin standing for the
 * person (it may pair and accept), and the plugins the demo adds. The
 * approval policy answers the dialogs the way the person would.
 */
export interface Side {
  name: string;
  node: RunningNode;
  /** What the node was started with, to start it again on the same data. */
  options: NodeOptions;
  console: PluginClient;
  peerId: string;
}

export interface SidePlugins {
  plugins: PluginDeclaration[];
  /** The person's answers for these plugins' dialogs. */
  rules: PolicyRule[];
  a2aCalling?: NodeOptions['a2aCalling'];
}

export function plugin(id: string, operations: string[]): PluginDeclaration {
  return { id, secret: randomBytes(24).toString('base64url'), extensions: { 'p2p-comm': operations } };
}

/** What a plugin that only talks to the peer is allowed: its permissions, and the peer approved in its scope. */
export function talkRules(pluginId: string): PolicyRule[] {
  return [
    { plugin: pluginId, operation: '*', prompt: 'permission', answer: 'approve' },
    { plugin: pluginId, operation: '*', prompt: 'scope', answer: 'allow' },
  ];
}

export async function startSide(name: string, root: string, transcript: Transcript, extra: SidePlugins): Promise<Side> {
  const consolePlugin = plugin('console', ['identity', 'pair', 'requests', 'accept', 'peers', 'message_status', 'status']);
  const dir = join(root, name.toLowerCase());
  // The person's answers to the dialogs, written down for a headless run.
  const policy = join(root, `${name.toLowerCase()}-policy.json`);
  writeFileSync(
    policy,
    JSON.stringify({
      rules: [
        { plugin: 'console', operation: '*', prompt: 'permission', answer: 'approve' },
        { plugin: 'console', operation: 'pair', prompt: 'high_risk', answer: 'approve' },
        { plugin: 'console', operation: 'accept', prompt: 'scope', answer: 'once' },
        { plugin: 'console', operation: 'accept', prompt: 'high_risk', answer: 'approve' },
        ...extra.rules,
      ],
      default: 'deny',
    }),
  );
  const options: NodeOptions = {
    hostDir: join(dir, 'host'),
    dataDir: join(dir, 'extension'),
    plugins: [consolePlugin, ...extra.plugins],
    policyFile: policy,
    // Everything on loopback; the demo pairs by link and announces nothing on the LAN or the DHT.
    env: { P2P_COMM_LISTEN_HOST: '127.0.0.1', P2P_COMM_MDNS: 'off', P2P_COMM_DHT: 'off' },
    onStderrLine: () => undefined,
    onDecision: (line) => transcript.note(name, line),
    ...(extra.a2aCalling === undefined ? {} : { a2aCalling: extra.a2aCalling }),
  };
  const node = await startNode(options);
  const console = new PluginClient(node.apiUrl, consolePlugin.id, consolePlugin.secret);
  const identity = await console.data('identity');
  transcript.step(name, `node ${String(identity['peer_id'])} (fingerprint ${String(identity['fingerprint'])}) listening at ${node.apiUrl}`);
  return { name, node, options, console, peerId: identity['peer_id'] as string };
}

/** Bob gives Alice his link, Alice asks, Bob accepts, and both read out the safety number. */
export async function pairSides(alice: Side, bob: Side, transcript: Transcript): Promise<string> {
  const link = (await bob.console.data('identity'))['link'] as string;
  transcript.step('Bob', `gives Alice his pairing link: ${link}`);
  const paired = await alice.console.data('pair', { link });
  transcript.step('Alice', `asks to pair (her consent, a high-risk approval): request ${String(paired['request_id'])} ${String(paired['state'])}`);
  const incoming = ((await bob.console.data('requests'))['incoming'] as Record<string, unknown>[])[0];
  if (incoming === undefined) throw new Error('Bob did not receive the request');
  transcript.step('Bob', `sees a request from "${String(incoming['display_name'])}", fingerprint ${String(incoming['fingerprint'])}`);
  const accepted = await bob.console.data('accept', { request_id: incoming['request_id'], peer: incoming['peer'] });
  transcript.step('Bob', `accepts (his consent, a high-risk approval): ${String(accepted['state'])}, connected ${String(accepted['connected'])}`);
  await compareSafetyNumbers(alice, bob, accepted['safety_number'], transcript);
  return link;
}

/** What the two people do on the phone once paired: each reads the number their own node shows. */
async function compareSafetyNumbers(alice: Side, bob: Side, bobsNumber: unknown, transcript: Transcript): Promise<void> {
  const peers = (await alice.console.data('peers'))['peers'] as Record<string, unknown>[];
  const alicesNumber = peers.find((peer) => peer['peer'] === bob.peerId)?.['safety_number'];
  if (typeof alicesNumber !== 'string' || alicesNumber !== bobsNumber) {
    throw new Error(`the safety numbers differ: Alice sees ${String(alicesNumber)}, Bob sees ${String(bobsNumber)}`);
  }
  transcript.step('demo', `Alice and Bob read out the same safety number: ${alicesNumber}`);
}
