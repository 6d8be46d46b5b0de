import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startNode } from '../node/running-node';
import { pairSides, plugin, startSide, talkRules, type Side } from './sides';
import { Transcript } from './transcript';

/**
 * `npm run demo -- --a2a`: Alice's and Bob's agents talk A2A through their
 * paired nodes. Bob's host declares the example agent
 * (docs/examples/a2a-agent.mjs, a meeting planner) and forwards Alice's
 * requests to it; Alice runs the example caller (docs/examples/a2a-caller.mjs),
 * an A2A SDK client of her host's `/a2a/<Bob>/`. Then Bob's node stops, the
 * caller's new request waits in Alice's outbox (-32060), Bob's node starts
 * again and the caller, sending the same message again, gets its answer.
 */

/** The examples, next to dist/ where the demo runs from (dist/p2p-comm-demo). */
const EXAMPLES = resolve(__dirname, '..', 'docs', 'examples');
/**
 * Alice's host answers -32060 after this long without an event, instead of
 * 10 minutes, so the offline case shows within seconds.
 */
const STREAM_IDLE_MS = 5_000;
/** How soon the caller sends the same message again after a -32060. */
const RETRY_EVERY_SECONDS = 1;
/** How long the demo waits for Bob's card to reach Alice after pairing. */
const CARD_WAIT_MS = 20_000;
const CARD_POLL_MS = 200;
/** How long one run of the caller may take before the demo gives up on it (it retries forever while the peer is away). */
const CALLER_DEADLINE_MS = 60_000;

interface Child {
  process: ChildProcess;
  /** Resolves when the child ended with code 0; rejects with its stderr otherwise. */
  exited: Promise<void>;
}

/** `node <example> args`, each stdout line handed to `onLine`; stderr kept for the error if it fails. */
function runExample(script: string, args: string[], env: Record<string, string>, onLine: (line: string) => void): Child {
  const child = spawn(process.execPath, [join(EXAMPLES, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  createInterface({ input: child.stdout! }).on('line', onLine);
  // 'close', not 'exit': every line of stdout has been read by then.
  const exited = once(child, 'close').then(([code, signal]) => {
    if (code !== 0) throw new Error(`${script} ended with ${signal === null ? `code ${String(code)}` : String(signal)}: ${stderr.trim()}`);
  });
  // Awaited where the demo waits for it, or at cleanup: never an unhandled rejection meanwhile.
  exited.catch(() => undefined);
  return { process: child, exited };
}

/** Bob's agent, in push mode: the URL it listens on, from its first line. */
async function startAgent(secret: string, taskDir: string, children: Child[]): Promise<string> {
  let announced: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolveUrl) => (announced = resolveUrl));
  const agent = runExample('a2a-agent.mjs', ['--port', '0', '--tasks', taskDir], { PLUGIN_SECRET: secret }, (line) => {
    const match = /^a2a agent on (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line);
    if (match !== null) announced(match[1]!);
  });
  children.push(agent);
  return Promise.race([url, agent.exited.then(() => Promise.reject(new Error('the example agent ended before it listened')))]);
}

/** The caller's run, ended by the demo if it takes longer than it should. */
async function callerFinished(caller: Child): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the caller did not finish within ${CALLER_DEADLINE_MS / 1000} s`)), CALLER_DEADLINE_MS);
  });
  try {
    await Promise.race([caller.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitForCard(alice: Side, bob: Side): Promise<string> {
  const deadline = Date.now() + CARD_WAIT_MS;
  while (Date.now() < deadline) {
    const peers = (await alice.console.data('peers'))['peers'] as { peer: string; agent_card: { name?: string } | null }[];
    const card = peers.find((peer) => peer.peer === bob.peerId)?.agent_card;
    if (card?.name !== undefined) return card.name;
    await new Promise((resolveWait) => setTimeout(resolveWait, CARD_POLL_MS));
  }
  throw new Error("Bob's agent card did not reach Alice");
}

export async function runA2aDemo(): Promise<void> {
  const transcript = new Transcript();
  const root = mkdtempSync(join(tmpdir(), 'p2p-comm-demo-'));
  const sides: Side[] = [];
  const children: Child[] = [];
  let restarted: Promise<void> | undefined;
  try {
    // Bob's agent is a plugin of Bob's host: its file's secret is also what proves to the agent that requests come from the host.
    const planner = plugin('planner', ['receive', 'a2a_set_card']);
    const taskDir = join(root, 'bob-a2a-tasks');
    const agentUrl = await startAgent(planner.secret, taskDir, children);
    const caller = plugin('caller', ['send']);

    const alice = await startSide('Alice', root, transcript, { plugins: [caller], rules: talkRules('caller'), a2aCalling: { streamIdleMs: STREAM_IDLE_MS } });
    sides.push(alice);
    const bob = await startSide('Bob', root, transcript, { plugins: [{ ...planner, a2a: { url: agentUrl } }], rules: talkRules('planner') });
    sides.push(bob);
    transcript.step('Bob', `runs the example agent at ${agentUrl}, declared in his host's plugin "planner"`);
    await pairSides(alice, bob, transcript);
    transcript.step('Alice', `her node has Bob's agent card: "${await waitForCard(alice, bob)}"`);

    const callerEnv = { P2P_HOST: alice.node.apiUrl, PLUGIN_ID: caller.id, PLUGIN_SECRET: caller.secret, PEER: bob.peerId };
    const callerArgs = ['--day', 'Friday', '--retry-every', String(RETRY_EVERY_SECONDS)];
    transcript.step('Alice', 'runs the example caller against her host\'s /a2a/<Bob>/');
    const online = runExample('a2a-caller.mjs', callerArgs, callerEnv, (line) => transcript.step('Alice', `caller: ${line}`));
    children.push(online);
    await callerFinished(online);

    await bob.node.stop();
    transcript.step('Bob', 'stops his node (his agent keeps running)');
    transcript.step('Alice', 'runs the caller again: a new meeting');
    const offline = runExample('a2a-caller.mjs', callerArgs, callerEnv, (line) => {
      transcript.step('Alice', `caller: ${line}`);
      // Bob comes back once the caller was told its request waits.
      if (line.startsWith('-32060') && restarted === undefined) {
        restarted = startNode(bob.options).then(
          (node) => {
            bob.node = node;
            transcript.step('Bob', 'starts his node again, on the same data');
          },
          (error: unknown) => {
            // Without Bob the caller would retry until its deadline.
            offline.process.kill();
            throw error;
          },
        );
        // Awaited once the caller has ended.
        restarted.catch(() => undefined);
      }
    });
    children.push(offline);
    // A failed restart is the reason the caller was ended: report that.
    await callerFinished(offline).catch(async (error: unknown) => {
      await restarted;
      throw error;
    });
    if (restarted === undefined) throw new Error('the caller was never told that the request waits (-32060)');
    await restarted;
    // The agent keeps one file per task, under the calling peer: two meetings, two tasks, whatever the re-sends.
    const tasks = readdirSync(join(taskDir, alice.peerId)).filter((name) => name.endsWith('.json')).length;
    if (tasks !== 2) throw new Error(`Bob's agent holds ${tasks} tasks from Alice, not one per meeting`);
    transcript.step('Bob', `his agent holds ${tasks} tasks from Alice: one per meeting, none twice`);
    transcript.step('demo', "the request waited in Alice's outbox while Bob was away; sent again, the same message re-attached to it");
  } finally {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill();
        await child.exited.catch(() => undefined);
      }
    }
    await restarted?.catch(() => undefined);
    for (const side of sides) await side.node.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
