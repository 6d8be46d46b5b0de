import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runA2aDemo } from './a2a-demo';
import { PluginClient } from './plugin-client';
import { pairSides, plugin, startSide, talkRules, type Side } from './sides';
import { Transcript } from './transcript';

/**
 * `npm run demo`: Alice and Bob, two nodes on 127.0.0.1 with their own data,
 * each under its own reference host. On each side a "console" plugin stands
 * for the person (it may pair and accept; the approval policy answers the
 * high-risk dialogs the way the person would) and an "agent" plugin holds
 * only send and receive. The agents talk both ways; the transcript shows
 * every step and every gate decision.
 *
 * `npm run demo -- --a2a`: the same two people, their agents talking A2A
 * instead (a2a-demo.ts).
 */
const POLL_WAIT_MS = 1000;

interface MessagingSide extends Side {
  agent: PluginClient;
}

async function startMessagingSide(name: string, root: string, transcript: Transcript): Promise<MessagingSide> {
  const agentPlugin = plugin('agent', ['send', 'receive']);
  const side = await startSide(name, root, transcript, { plugins: [agentPlugin], rules: talkRules('agent') });
  return { ...side, agent: new PluginClient(side.node.apiUrl, agentPlugin.id, agentPlugin.secret) };
}

async function waitForMessage(side: MessagingSide, from: string, after: number): Promise<Record<string, unknown>> {
  for (let round = 0; round < 20; round += 1) {
    const data = await side.agent.data('receive', { peer: from, after, wait_ms: POLL_WAIT_MS });
    const messages = data['messages'] as Record<string, unknown>[];
    if (messages.length > 0) return messages[0] as Record<string, unknown>;
  }
  throw new Error(`${side.name} received nothing from ${from}`);
}

async function waitForDelivery(side: MessagingSide, messageId: string, transcript: Transcript): Promise<void> {
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

async function runMessagingDemo(): Promise<void> {
  const transcript = new Transcript();
  const root = mkdtempSync(join(tmpdir(), 'p2p-comm-demo-'));
  const sides: MessagingSide[] = [];
  try {
    const alice = await startMessagingSide('Alice', root, transcript);
    sides.push(alice);
    const bob = await startMessagingSide('Bob', root, transcript);
    sides.push(bob);

    const link = await pairSides(alice, bob, transcript);

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

(process.argv.includes('--a2a') ? runA2aDemo() : runMessagingDemo()).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
