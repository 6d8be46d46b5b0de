import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginDeclaration } from '../gate/types';
import { startNode, type RunningNode } from '../node/running-node';
import { PluginClient } from './plugin-client';
import { Transcript } from './transcript';

/**
 * `npm run demo`: Alice and Bob, two nodes on 127.0.0.1 with their own data,
 * each under its own reference host. On each side a "console" plugin stands
 * for the person (it may pair and accept; the approval policy answers the
 * high-risk dialogs the way the person would) and an "agent" plugin holds
 * only send and receive. The agents talk both ways; the transcript shows
 * every step and every gate decision.
 */
const POLL_WAIT_MS = 1000;

interface Side {
  name: string;
  node: RunningNode;
  console: PluginClient;
  agent: PluginClient;
  peerId: string;
}

function plugin(id: string, operations: string[]): PluginDeclaration {
  return { id, secret: randomBytes(24).toString('base64url'), extensions: { 'p2p-comm': operations } };
}

async function startSide(name: string, root: string, transcript: Transcript): Promise<Side> {
  const consolePlugin = plugin('console', ['identity', 'pair', 'requests', 'accept', 'peers', 'message_status', 'status']);
  const agentPlugin = plugin('agent', ['send', 'receive']);
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
        { plugin: 'agent', operation: '*', prompt: 'permission', answer: 'approve' },
        { plugin: 'agent', operation: '*', prompt: 'scope', answer: 'allow' },
      ],
      default: 'deny',
    }),
  );
  const node = await startNode({
    hostDir: join(dir, 'host'),
    dataDir: join(dir, 'extension'),
    plugins: [consolePlugin, agentPlugin],
    policyFile: policy,
    // Everything on loopback; the demo pairs by link and announces nothing on the LAN or the DHT.
    env: { P2P_COMM_LISTEN_HOST: '127.0.0.1', P2P_COMM_MDNS: 'off', P2P_COMM_DHT: 'off' },
    onStderrLine: () => undefined,
    onDecision: (line) => transcript.note(name, line),
  });
  const console = new PluginClient(node.apiUrl, consolePlugin.id, consolePlugin.secret);
  const agent = new PluginClient(node.apiUrl, agentPlugin.id, agentPlugin.secret);
  const identity = await console.data('identity');
  transcript.step(name, `node ${String(identity['peer_id'])} (fingerprint ${String(identity['fingerprint'])}) listening at ${node.apiUrl}`);
  return { name, node, console, agent, peerId: identity['peer_id'] as string };
}

async function waitForMessage(side: Side, from: string, after: number): Promise<Record<string, unknown>> {
  for (let round = 0; round < 20; round += 1) {
    const data = await side.agent.data('receive', { peer: from, after, wait_ms: POLL_WAIT_MS });
    const messages = data['messages'] as Record<string, unknown>[];
    if (messages.length > 0) return messages[0] as Record<string, unknown>;
  }
  throw new Error(`${side.name} received nothing from ${from}`);
}

async function waitForDelivery(side: Side, messageId: string, transcript: Transcript): Promise<void> {
  for (let round = 0; round < 40; round += 1) {
    const status = await side.console.data('message_status', { message_id: messageId });
    if (status['state'] === 'delivered') {
      transcript.step(side.name, `message ${messageId.slice(0, 8)}… is delivered (the peer stored it and signed for it)`);
      return;
    }
    await side.agent.call('receive', { peer: side.peerId, wait_ms: 100 });
  }
  throw new Error(`message ${messageId} was not delivered`);
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

async function run(): Promise<void> {
  const transcript = new Transcript();
  const root = mkdtempSync(join(tmpdir(), 'p2p-comm-demo-'));
  const sides: Side[] = [];
  try {
    const alice = await startSide('Alice', root, transcript);
    sides.push(alice);
    const bob = await startSide('Bob', root, transcript);
    sides.push(bob);

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

    const refused = await alice.agent.call('pair', { link });
    transcript.step('Alice', `her agent tries to pair on its own: HTTP ${refused.status} ${String(refused.body['error'])} — it holds only send and receive`);

    const question = await alice.agent.data('send', { peer: bob.peerId, type: 'text', content: 'Hi Bob, can we meet Tuesday at 10?', correlation_id: 'meeting-1' });
    transcript.step('Alice', `agent sends a text to Bob (first use asks the scope dialog "may this plugin talk to Bob?"): ${String(question['state'])}`);
    const atBob = await waitForMessage(bob, alice.peerId, 0);
    transcript.step('Bob', `agent receives: "${String(atBob['content'])}" (re ${String(atBob['correlation_id'])})`);
    await waitForDelivery(alice, question['message_id'] as string, transcript);

    const answer = { accept: true, slot: '2026-11-24T10:00:00+01:00', note: 'See you then' };
    const reply = await bob.agent.data('send', { peer: alice.peerId, type: 'json', content: answer, correlation_id: 'meeting-1' });
    transcript.step('Bob', `agent replies with JSON: ${JSON.stringify(answer)}`);
    const atAlice = await waitForMessage(alice, bob.peerId, 0);
    transcript.step('Alice', `agent receives: ${JSON.stringify(atAlice['content'])} (re ${String(atAlice['correlation_id'])})`);
    await waitForDelivery(bob, reply['message_id'] as string, transcript);
    if (JSON.stringify(atAlice['content']) !== JSON.stringify(answer) || atBob['content'] !== 'Hi Bob, can we meet Tuesday at 10?') {
      throw new Error('a message did not arrive exactly as sent');
    }
    transcript.step('demo', 'messages went both ways, signed, encrypted and stored durably; every decision above is in each host\'s audit log');
  } finally {
    for (const side of sides) await side.node.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

run().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
